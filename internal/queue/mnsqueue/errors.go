package mnsqueue

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	gerrors "github.com/gogap/errors"

	"github.com/alicom-drain/alicom-drain/internal/queue"
)

// Error is a failed MNS operation. Kind is one of package queue's error kinds (nil for codes
// the drain has no decision for), so errors.Is(err, queue.ErrQueueNotExist) works; the text
// names the MNS code and request id and never credentials.
type Error struct {
	Op        string // "receive", "delete"
	Queue     string
	Code      string // the MNS error code; empty for transport failures
	RequestID string
	Message   string
	Kind      error
}

func (e *Error) Error() string {
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
func (e *Error) Unwrap() error { return e.Kind }

// kindOf maps an MNS error code (and, for codes that do not say, its message) to package
// queue's error kinds. op matters for MessageNotExist: an empty queue on receive, a stale
// handle on delete. withToken says whether the request carried a security token.
//
// queue.ErrTokenRejected (the token is worth replacing) is, for a request signed with a
// security token:
//   - SecurityTokenExpired, and any code naming an expired token (ExpiredToken,
//     InvalidSecurityToken.Expired...): queue.ErrTokenExpired, a case of ErrTokenRejected;
//   - InvalidSecurityToken and other codes naming the security token (SecurityTokenMalformed,
//     InvalidSecurityToken.Mismatch...);
//   - InvalidAccessKeyId (and .NotFound, .Inactive): the token's key is unknown, as when its
//     issuer forgot or revoked it;
//   - SignatureDoesNotMatch: the token's secret no longer matches its key;
//   - AccessDenied, AccessDeniedByRamPolicy or Forbidden whose message names the token.
//
// Without a security token those codes are queue.ErrAccessDenied: fixed keys that are wrong
// stay wrong. AccessDenied that does not name a token (a token scoped to another queue, a RAM
// policy) is queue.ErrAccessDenied either way.
func kindOf(op, code, message string, withToken bool) error {
	switch code {
	case "MessageNotExist":
		if op == "receive" {
			return queue.ErrEmpty
		}
		return queue.ErrStaleHandle
	case "ReceiptHandleError":
		return queue.ErrStaleHandle
	case "QueueNotExist":
		return queue.ErrQueueNotExist
	case "QpsLimitExceeded", "Throttling", "TooManyRequests":
		return queue.ErrThrottled
	case "InternalError", "ServiceUnavailable", "ServerBusy", "GatewayTimeout":
		return queue.ErrTransport
	case "InvalidArgument", "MalformedXML", "MissingReceiptHandle", "MissingVisibilityTimeout",
		"InvalidQueryString", "InvalidRequestURL", "InvalidQueueName", "QueueNameLengthError":
		return queue.ErrInvalidRequest
	}
	lc, lm := strings.ToLower(code), strings.ToLower(message)
	switch {
	case strings.HasPrefix(lc, "accessdenied") || lc == "forbidden":
		if withToken && strings.Contains(lm, "token") {
			if strings.Contains(lm, "expired") {
				return queue.ErrTokenExpired
			}
			return queue.ErrTokenRejected
		}
		return queue.ErrAccessDenied
	case strings.Contains(lc, "token"):
		if strings.Contains(lc, "expired") || strings.Contains(lm, "expired") {
			return queue.ErrTokenExpired
		}
		return queue.ErrTokenRejected
	case strings.HasPrefix(lc, "invalidaccesskeyid") || lc == "signaturedoesnotmatch":
		if withToken {
			return queue.ErrTokenRejected
		}
		return queue.ErrAccessDenied
	}
	return nil
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

// classify turns an error of the MNS SDK into an Error. The SDK's errors are gogap/errors
// values identified by namespace and number; the server's code is only in their text, from
// which it is read back. k's secret and token are taken out of the text before anything is
// read from it or cut: a cut through a quoted token would leave a piece that no longer
// matches it.
func classify(op string, err error, k keys) *Error {
	e := &Error{Op: op}
	withToken := k.token != ""
	var ge gerrors.ErrCode
	if !errors.As(err, &ge) {
		e.Kind, e.Message = queue.ErrTransport, redactKeys(err.Error(), k)
		return e
	}
	text := redactKeys(reGogapID.ReplaceAllString(ge.Error(), ""), k)
	switch {
	case ali_mns.ERR_SEND_REQUEST_FAILED.IsEqual(ge):
		// Dial, write, read or timeout failure of the HTTP exchange.
		e.Kind, e.Message = queue.ErrTransport, strings.TrimPrefix(text, "send request failed, ")
	case ali_mns.ERR_UNMARSHAL_ERROR_RESPONSE_FAILED.IsEqual(ge):
		// A failure status whose body the SDK could not decode: an MNS error body it
		// tripped over (batch operations), or a proxy's page.
		if code := submatch(reBodyCode, text); code != "" {
			e.Code, e.RequestID, e.Message = code, submatch(reBodyReqID, text), submatch(reBodyMessage, text)
			e.Kind = kindOf(op, e.Code, e.Message, withToken)
		} else {
			e.Kind, e.Message = queue.ErrTransport, "an error answer that is not MNS XML: "+shorten(text)
		}
	case ali_mns.ERR_UNMARSHAL_RESPONSE_FAILED.IsEqual(ge):
		e.Kind, e.Message = queue.ErrTransport, "an unreadable answer: "+shorten(text)
	case strings.Contains(text, "ali_mns response status error"):
		e.Code = submatch(reStatusCode, text)
		e.Message = submatch(reStatusMessage, text)
		e.RequestID = submatch(reStatusReqID, text)
		e.Kind = kindOf(op, e.Code, e.Message, withToken)
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
