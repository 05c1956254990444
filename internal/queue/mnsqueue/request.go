package mnsqueue

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	gerrors "github.com/gogap/errors"
	"github.com/valyala/fasthttp"

	"github.com/alicom-drain/alicom-drain/internal/queue"
)

// The two requests of the drain's hot path, BatchReceiveMessage and BatchDeleteMessage, are
// built, signed and sent here rather than through the SDK's client.Send. Send builds a header
// map, formats with Sprintf, parses the URL and allocates a fresh request for every call (64
// allocations, about 11 µs a request, BenchmarkSignRequest), and has no context, so each call
// used to run on a goroutine of its own for the caller to be able to stop waiting. Here the
// request, the response and the buffers are pooled and the wait ends with the context's
// deadline. The requests are the SDK's to the byte where the server looks (the same headers
// and values, the same string to sign; TestSignatureMatchesTheSDK), so nothing changes for MNS
// or the emulator.

const (
	// mnsVersion is the x-mns-version the SDK sends, the one x-mns- header it signs.
	mnsVersion = "2015-06-06"
	// contentType is the Content-Type the SDK sends, on every request.
	contentType = "application/xml"
)

// sdkUserAgent is the User-Agent the SDK's fasthttp client sends (its getDefaultUserAgent), so
// that the server's logs and any rule keyed on it see the same client.
var sdkUserAgent = ali_mns.SdkName + "/" + ali_mns.Version + "(" + runtime.GOOS + "/-/" + runtime.GOARCH + ";" +
	strings.TrimPrefix(runtime.Version(), "go") + ")"

// emptyContentMD5 is the Content-MD5 the SDK sends for an empty body: the base64 of the
// lower-case hex MD5 (not of the raw digest, as the header's RFC would have it).
var emptyContentMD5 = string(appendContentMD5(nil, nil))

// appendContentMD5 appends the SDK's Content-MD5 of body: base64 of the 32 hex digits.
func appendContentMD5(dst, body []byte) []byte {
	sum := md5.Sum(body)
	var hexSum [md5.Size * 2]byte
	hex.Encode(hexSum[:], sum[:])
	return base64.StdEncoding.AppendEncode(dst, hexSum[:])
}

// httpDate is a Date header value and the second it is for.
type httpDate struct {
	sec   int64
	value string
}

var lastDate atomic.Pointer[httpDate]

// dateHeader returns the current time as the SDK formats it (http.TimeFormat in UTC), formatted
// once a second rather than on every request.
func dateHeader() string {
	now := time.Now()
	sec := now.Unix()
	if d := lastDate.Load(); d != nil && d.sec == sec {
		return d.value
	}
	d := &httpDate{sec: sec, value: now.UTC().Format(http.TimeFormat)}
	lastDate.Store(d)
	return d.value
}

// signer is an HMAC-SHA1 keyed with one AccessKeySecret and a buffer for the string to sign.
// Keying costs two SHA-1 blocks and three allocations, so signers are pooled per Queue and
// reused for as long as the secret stays the same (a token lives for hours).
type signer struct {
	secret string
	mac    hash.Hash
	buf    []byte // the string to sign, then the URL
	auth   []byte // the Authorization value
	md5    []byte // the Content-MD5 value
	body   []byte // a delete's body, before it is copied into the request
	sum    [sha1.Size]byte
}

func (m *Queue) getSigner(secret string) *signer {
	if s, _ := m.signers.Get().(*signer); s != nil && s.secret == secret {
		s.mac.Reset()
		return s
	}
	return &signer{secret: secret, mac: hmac.New(sha1.New, []byte(secret)), buf: make([]byte, 0, 512),
		auth: make([]byte, 0, 128), md5: make([]byte, 0, 44)}
}

// appendAuthorization appends the Authorization value the SDK computes (getSignature) for a
// request: "MNS <AccessKeyId>:" and the base64 HMAC-SHA1 of
// VERB\nContent-MD5\nContent-Type\nDate\nx-mns-version:2015-06-06\n/resource. The security
// token travels in security-token, which is not an x-mns- header and so is not signed.
func (s *signer) appendAuthorization(dst []byte, accessKeyID, method string, contentMD5 []byte, date string, resource []byte) []byte {
	b := append(s.buf[:0], method...)
	b = append(b, '\n')
	b = append(b, contentMD5...)
	b = append(b, '\n')
	b = append(b, contentType...)
	b = append(b, '\n')
	b = append(b, date...)
	b = append(b, "\nx-mns-version:"+mnsVersion+"\n"...)
	b = append(b, resource...)
	s.buf = b
	s.mac.Write(b)
	sum := s.mac.Sum(s.sum[:0])
	dst = append(dst, "MNS "...)
	dst = append(dst, accessKeyID...)
	dst = append(dst, ':')
	return base64.StdEncoding.AppendEncode(dst, sum)
}

// setRequest makes req the signed MNS request for method and resource (the path and query,
// starting with '/') at date (dateHeader; a parameter for the tests), with the body already in
// req, as the SDK's client.Send does: the same
// headers with the same values (Content-Type, Content-MD5, Date, x-mns-version,
// security-token when there is a token, Authorization, User-Agent) and the same URL.
func (m *Queue) setRequest(req *fasthttp.Request, s *signer, method string, resource []byte, k keys, date string) {
	s.md5 = append(s.md5[:0], emptyContentMD5...)
	if body := req.Body(); len(body) > 0 {
		s.md5 = appendContentMD5(s.md5[:0], body)
	}
	s.auth = s.appendAuthorization(s.auth[:0], k.id, method, s.md5, date, resource)
	s.buf = append(append(s.buf[:0], m.base...), resource...)
	req.SetRequestURIBytes(s.buf)
	req.Header.SetMethod(method)
	req.Header.SetContentType(contentType)
	req.Header.SetUserAgent(sdkUserAgent)
	req.Header.SetBytesV("Content-MD5", s.md5)
	req.Header.Set("Date", date)
	req.Header.Set("x-mns-version", mnsVersion)
	if k.token != "" {
		req.Header.Set("security-token", k.token)
	}
	req.Header.SetBytesV("Authorization", s.auth)
}

// requestDeadline is when a request must have been answered: RequestTimeout from now, or
// ctx's deadline when that is sooner (byCtx).
func (m *Queue) requestDeadline(ctx context.Context) (deadline time.Time, byCtx bool) {
	deadline = time.Now().Add(m.cfg.RequestTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		return dl, true
	}
	return deadline, false
}

// exchange sends req and reads the answer into resp, giving up at deadline. The error is a
// transport failure (the exchange did not complete); the caller maps it.
func (m *Queue) exchange(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	err := m.hc.DoDeadline(req, resp, deadline)
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		err = fmt.Errorf("the answer's body exceeds the %d-byte limit (%w); it was not read", m.hc.MaxResponseBodySize, err)
	}
	return err
}

// sendError maps a failed exchange. When the exchange was cut by ctx's deadline, or ctx ended
// while it was out, the error is ctx's (what the caller asked for); otherwise it is
// queue.ErrTransport, as the SDK's ERR_SEND_REQUEST_FAILED was.
func (m *Queue) sendError(ctx context.Context, op, what string, k keys, err error, deadline time.Time, byCtx bool) error {
	cerr := ctx.Err()
	if cerr == nil && byCtx && !time.Now().Before(deadline) {
		cerr = context.DeadlineExceeded // the connection's deadline may fire just before ctx's timer
	}
	if cerr != nil {
		return fmt.Errorf("queue %s: %s: %w (%s)", m.cfg.QueueName, op, cerr, what)
	}
	return &Error{Op: op, Queue: m.cfg.QueueName, Kind: queue.ErrTransport, Message: redactKeys(err.Error(), k)}
}

// mnsError is the <Error> answer of MNS, read as the SDK's ErrorResponse is.
type mnsError struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code,omitempty"`
	Message   string   `xml:"Message,omitempty"`
	RequestID string   `xml:"RequestId,omitempty"`
}

// errorAnswer maps a failure status's body: MNS's <Error> to its code's kind, anything else
// (a proxy's page) as classify maps the SDK's failure to decode it.
func (m *Queue) errorAnswer(op string, k keys, body []byte) error {
	var me mnsError
	if err := xml.Unmarshal(body, &me); err != nil {
		return m.mapError(op, k, ali_mns.ERR_UNMARSHAL_ERROR_RESPONSE_FAILED.New(gerrors.Params{"err": err, "resp": string(body)}))
	}
	code, msg := strings.TrimSpace(me.Code), strings.TrimSpace(me.Message)
	return &Error{Op: op, Queue: m.cfg.QueueName, Code: code, RequestID: strings.TrimSpace(me.RequestID),
		Message: shorten(redactKeys(msg, k)), Kind: kindOf(op, code, msg, k.token != "")}
}

func success(status int) bool {
	return status == fasthttp.StatusOK || status == fasthttp.StatusCreated || status == fasthttp.StatusNoContent
}

// batchReceive is BatchReceiveMessage: GET /queues/<name>/messages?numOfMessages=N&waitseconds=W.
// A 2xx answer's body goes through decodeBatch, falling back to the SDK's encoding/xml decoder
// whenever it is not the plain shape MNS sends. The error is mapped (an *Error, or ctx's).
//
// waitSec 0 is sent as waitseconds=0, which the SDK's own method cannot send (it drops the
// parameter instead), so a receive that should not wait does not wait, whatever the queue's
// PollingWaitSeconds.
func (m *Queue) batchReceive(ctx context.Context, k keys, max int, waitSec int64) ([]queue.Message, error) {
	deadline, byCtx := m.requestDeadline(ctx)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	var rb [300]byte // the resource: the queue name is at most 256 characters
	resource := append(rb[:0], "/queues/"...)
	resource = append(resource, m.cfg.QueueName...)
	resource = append(resource, "/messages?numOfMessages="...)
	resource = strconv.AppendInt(resource, int64(max), 10)
	resource = append(resource, "&waitseconds="...)
	resource = strconv.AppendInt(resource, waitSec, 10)
	s := m.getSigner(k.secret)
	m.setRequest(req, s, fasthttp.MethodGet, resource, k, dateHeader())
	m.signers.Put(s)
	if err := m.exchange(req, resp, deadline); err != nil {
		return nil, m.sendError(ctx, "receive", "messages the request received, if any, are delivered again after their visibility timeout", k, err, deadline, byCtx)
	}
	body := resp.Body()
	if !success(resp.StatusCode()) {
		return nil, m.errorAnswer("receive", k, body)
	}
	if msgs, ok := decodeBatch(body); ok {
		return msgs, nil
	}
	var out ali_mns.BatchMessageReceiveResponse
	if err := ali_mns.NewAliMNSDecoder().Decode(bytes.NewReader(body), &out); err != nil {
		return nil, m.mapError("receive", k, ali_mns.ERR_UNMARSHAL_RESPONSE_FAILED.New(gerrors.Params{"err": err}))
	}
	return fromSDK(out.Messages), nil
}

// deleteErrors is BatchDeleteMessage's partial failure, read as the SDK's
// BatchMessageDeleteErrorResponse is.
type deleteErrors struct {
	XMLName xml.Name `xml:"Errors"`
	Failed  []struct {
		ErrorCode     string `xml:"ErrorCode"`
		ErrorMessage  string `xml:"ErrorMessage"`
		ReceiptHandle string `xml:"ReceiptHandle,omitempty"`
	} `xml:"Error"`
}

// batchDelete is BatchDeleteMessage: DELETE /queues/<name>/messages with the body the SDK
// marshals (<ReceiptHandles><ReceiptHandle>h</ReceiptHandle>...</ReceiptHandles>), written
// directly. A partial failure (<Errors>) comes back as failures, one per handle MNS names;
// err is set only when the request as a whole failed, and is mapped (an *Error, or ctx's).
func (m *Queue) batchDelete(ctx context.Context, k keys, handles []string) ([]queue.DeleteFailure, error) {
	deadline, byCtx := m.requestDeadline(ctx)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	var rb [300]byte
	resource := append(rb[:0], "/queues/"...)
	resource = append(resource, m.cfg.QueueName...)
	resource = append(resource, "/messages"...)
	s := m.getSigner(k.secret)
	s.body = appendDeleteBody(s.body[:0], handles)
	req.SetBody(s.body)
	m.setRequest(req, s, fasthttp.MethodDelete, resource, k, dateHeader())
	m.signers.Put(s)
	if err := m.exchange(req, resp, deadline); err != nil {
		return nil, m.sendError(ctx, "delete", "whether the messages were deleted is unknown; those that were not come back after their visibility timeout", k, err, deadline, byCtx)
	}
	if success(resp.StatusCode()) {
		return nil, nil
	}
	body := resp.Body()
	var de deleteErrors
	if xml.Unmarshal(body, &de) != nil {
		return nil, m.errorAnswer("delete", k, body)
	}
	if len(de.Failed) == 0 {
		return nil, &Error{Op: "delete", Queue: m.cfg.QueueName, Message: "batch delete failed without naming a receipt handle"}
	}
	failed := make([]queue.DeleteFailure, 0, len(de.Failed))
	for _, f := range de.Failed {
		e := &Error{Op: "delete", Queue: m.cfg.QueueName, Code: f.ErrorCode, Message: shorten(redactKeys(f.ErrorMessage, k)),
			Kind: kindOf("delete", f.ErrorCode, f.ErrorMessage, k.token != "")}
		if strings.TrimSpace(f.ReceiptHandle) == "" {
			// A failure that names no handle cannot be told apart from a deletion: the caller
			// would count every handle not named as deleted. The request as a whole failed.
			e.Message = "a failure without its receipt handle, so which messages were deleted is unknown: " + e.Message
			return nil, e
		}
		failed = append(failed, queue.DeleteFailure{ReceiptHandle: f.ReceiptHandle, Err: e})
	}
	return failed, nil
}
