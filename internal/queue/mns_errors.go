package queue

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	gerrors "github.com/gogap/errors"
)

// MNSError is a failed MNS operation. Kind is one of this package's error values (nil for
// codes the drain has no decision for), so errors.Is(err, ErrQueueNotExist) works; the text
// names the MNS code and request id and never credentials.
type MNSError struct {
	Op        string // "receive", "delete", "change visibility"
	Queue     string
	Code      string // the MNS error code; empty for transport failures
	RequestID string
	Message   string
	Kind      error
}

func (e *MNSError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "queue %s: %s: ", e.Queue, e.Op)
	switch {
	case e.Code != "":
		fmt.Fprintf(&b, "MNS %s", e.Code)
		if e.RequestID != "" {
			fmt.Fprintf(&b, " (request id %s)", e.RequestID)
		}
		if e.Message != "" {
			fmt.Fprintf(&b, ": %s", e.Message)
		}
	case e.Kind != nil && e.Message != "":
		fmt.Fprintf(&b, "%s", strings.TrimPrefix(e.Kind.Error(), "queue: "))
		fmt.Fprintf(&b, ": %s", e.Message)
	case e.Kind != nil:
		b.WriteString(strings.TrimPrefix(e.Kind.Error(), "queue: "))
	default:
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns Kind.
func (e *MNSError) Unwrap() error { return e.Kind }

// kindOf maps an MNS error code (and, for codes that do not say, its message) to the
// package's error values. op matters for MessageNotExist: an empty queue on receive, a stale
// handle on delete and change visibility.
func kindOf(op, code, message string) error {
	switch code {
	case "MessageNotExist":
		if op == "receive" {
			return ErrEmpty
		}
		return ErrStaleHandle
	case "ReceiptHandleError":
		return ErrStaleHandle
	case "QueueNotExist":
		return ErrQueueNotExist
	case "AccessDenied", "AccessDeniedByRamPolicy", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden":
		if mentionsExpiredToken(message) {
			return ErrTokenExpired
		}
		return ErrAccessDenied
	case "QpsLimitExceeded", "Throttling", "TooManyRequests":
		return ErrThrottled
	case "InternalError", "ServiceUnavailable", "ServerBusy", "GatewayTimeout":
		return ErrTransport
	case "InvalidArgument", "MalformedXML", "MissingReceiptHandle", "MissingVisibilityTimeout",
		"InvalidQueryString", "InvalidRequestURL", "InvalidQueueName", "QueueNameLengthError":
		return ErrInvalidRequest
	}
	if isTokenCode(code) {
		return ErrTokenExpired
	}
	return nil
}

// isTokenCode recognises the codes of a rejected STS token: SecurityTokenExpired (MNS, OSS,
// mnslocal), InvalidSecurityToken, InvalidSecurityToken.Expired, ExpiredToken... A fresh token
// is the remedy for all of them.
func isTokenCode(code string) bool {
	c := strings.ToLower(code)
	return strings.Contains(c, "securitytoken") || strings.Contains(c, "tokenexpired") || strings.Contains(c, "expiredtoken") ||
		(strings.Contains(c, "token") && strings.Contains(c, "expired"))
}

func mentionsExpiredToken(message string) bool {
	m := strings.ToLower(message)
	return strings.Contains(m, "token") && strings.Contains(m, "expired")
}

var (
	// The SDK's status error text: "ali_mns response status error,code: X, message: Y,
	// resource: R request id: Z, host id: H, Id: MNS#122:ABC".
	reStatusCode    = regexp.MustCompile(`code: ([^,\s]*),`)
	reStatusMessage = regexp.MustCompile(`(?s)message: (.*), resource: `)
	reStatusReqID   = regexp.MustCompile(`request id: ([^,\s]*),`)
	// An MNS error body the SDK failed to decode is quoted in its error text.
	reBodyCode    = regexp.MustCompile(`<Code>([^<]*)</Code>`)
	reBodyMessage = regexp.MustCompile(`<Message>([^<]*)</Message>`)
	reBodyReqID   = regexp.MustCompile(`<RequestId>([^<]*)</RequestId>`)
	// The SDK appends ", Id: MNS#5:ABCDEF0" to every message.
	reGogapID = regexp.MustCompile(`, Id: [A-Z]+#\d+:[0-9A-F]*\.?$`)
)

func submatch(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return strings.TrimSpace(m[1])
	}
	return ""
}

// classify turns an error of the MNS SDK into an MNSError. The SDK's errors are gogap/errors
// values identified by namespace and number; the server's code is only in their text, from
// which it is read back.
func classify(op string, err error) *MNSError {
	e := &MNSError{Op: op}
	var ge gerrors.ErrCode
	if !errors.As(err, &ge) {
		e.Kind, e.Message = ErrTransport, err.Error()
		return e
	}
	text := reGogapID.ReplaceAllString(ge.Error(), "")
	switch {
	case ali_mns.ERR_SEND_REQUEST_FAILED.IsEqual(ge):
		// Dial, write, read or timeout failure of the HTTP exchange.
		e.Kind, e.Message = ErrTransport, strings.TrimPrefix(text, "send request failed, ")
	case ali_mns.ERR_UNMARSHAL_ERROR_RESPONSE_FAILED.IsEqual(ge):
		// A failure status whose body the SDK could not decode: an MNS error body it
		// tripped over (batch operations), or a proxy's page.
		if code := submatch(reBodyCode, text); code != "" {
			e.Code, e.RequestID, e.Message = code, submatch(reBodyReqID, text), submatch(reBodyMessage, text)
			e.Kind = kindOf(op, e.Code, e.Message)
		} else {
			e.Kind, e.Message = ErrTransport, "an error answer that is not MNS XML: "+shorten(text)
		}
	case ali_mns.ERR_UNMARSHAL_RESPONSE_FAILED.IsEqual(ge):
		e.Kind, e.Message = ErrTransport, "an unreadable answer: "+shorten(text)
	case strings.Contains(text, "ali_mns response status error"):
		e.Code = submatch(reStatusCode, text)
		e.Message = submatch(reStatusMessage, text)
		e.RequestID = submatch(reStatusReqID, text)
		e.Kind = kindOf(op, e.Code, e.Message)
	default:
		e.Message = shorten(text)
	}
	return e
}

func shorten(s string) string {
	const max = 300
	s = strings.TrimSpace(s)
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
