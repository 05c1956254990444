package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/aliyun/credentials-go/credentials"
	gerrors "github.com/gogap/errors"
	"github.com/valyala/fasthttp"

	"github.com/alicom-drain/alicom-drain/internal/queue/mnsqueue"
	"github.com/alicom-drain/alicom-drain/internal/redact"
	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// MNS limits: message bodies per BatchSendMessage, and one message body.
const (
	maxBatchBytes   = 64 << 10
	maxMessageBytes = 64 << 10
)

// ForwardConfig configures a Forward sink.
type ForwardConfig struct {
	// Endpoint is the user's own MNS endpoint, https://<account id>.mns.<region>.aliyuncs.com
	// (any http or https URL: the emulator's http://127.0.0.1:9911 too).
	Endpoint string
	// Credentials are the function's own keys: token.DefaultChain (the invocation's role on
	// Function Compute, else ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN).
	Credentials token.CredentialSource
	// Timeout bounds one request; 0 means 10s. The handler's deadline bounds the wait too.
	Timeout time.Duration
	// Linger is how long a batch that is not full waits for more messages; 0 means
	// DefaultLinger.
	Linger time.Duration
	// MaxConns bounds the connections to the endpoint; 0 means 16.
	MaxConns int
}

// Forward sends messages into the user's own MNS account: into a queue (BatchSendMessage of up
// to 16 concurrent messages) or a topic (one PublishMessage each; MNS has no batch publish).
// The body goes unchanged, base64 as Alicom wrote it, so every consumer of Alicom messages
// reads the forwarded ones too. Nothing is retried inside the sink: a failed send keeps the
// message in its Alicom queue, which delivers it again.
//
// It uses aliyun-mns-go-sdk through the client mnsqueue.NewSDKClient builds: forwarding is a
// driver-like edge speaking MNS's signed XML API, and the SDK is the reference implementation
// of it.
type Forward struct {
	client  ali_mns.MNSClient
	hc      *fasthttp.HostClient
	cred    *stashedCredential
	creds   token.CredentialSource
	timeout time.Duration
	linger  time.Duration

	mu       sync.Mutex
	batchers map[string]*batcher[string] // by target queue
}

// NewForward validates cfg and returns the sink. The SDK's panics become errors.
func NewForward(cfg ForwardConfig) (*Forward, error) {
	if cfg.Credentials == nil {
		return nil, errors.New("sink: ForwardConfig.Credentials is nil: expected token.DefaultChain or another CredentialSource")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 16
	}
	if cfg.Timeout < 0 || cfg.MaxConns < 0 {
		return nil, fmt.Errorf("sink: ForwardConfig.Timeout %s / MaxConns %d: expected positive values", cfg.Timeout, cfg.MaxConns)
	}
	// The client mnsqueue builds (any endpoint, our transport, no retries: a resent send could
	// duplicate messages in the target), with a 1 MiB answer limit: a send's answer is small.
	cred := &stashedCredential{}
	c, err := mnsqueue.NewSDKClient(mnsqueue.SDKClientConfig{
		Endpoint: cfg.Endpoint, Credential: cred, RequestTimeout: cfg.Timeout, MaxConns: cfg.MaxConns,
		MaxResponseBytes: 1 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("sink: ForwardConfig.Endpoint: %w", err)
	}
	return &Forward{client: c.MNSClient, hc: c.Conns, cred: cred, creds: cfg.Credentials, timeout: cfg.Timeout, linger: cfg.Linger,
		batchers: map[string]*batcher[string]{}}, nil
}

// CloseIdleConnections closes the connections not in use.
func (f *Forward) CloseIdleConnections() { f.hc.CloseIdleConnections() }

// Queue returns a handler that sends each message's body to queuePattern, with {type}
// replaced by the message type. Concurrent messages for one queue share a BatchSendMessage.
func (f *Forward) Queue(queuePattern string) dispatch.HandlerFunc {
	return func(ctx context.Context, m *dispatch.Message) error {
		return f.send(ctx, strings.ReplaceAll(queuePattern, "{type}", m.Type), m.Body)
	}
}

// Topic returns a handler that publishes each message's body to topic with the message type
// as its tag (see TopicTag), so subscriptions can filter by type.
func (f *Forward) Topic(topic string) dispatch.HandlerFunc {
	return func(ctx context.Context, m *dispatch.Message) error {
		return f.publish(ctx, topic, TopicTag(m.Type), m.Body)
	}
}

// maxTagLen is MNS's limit on a message tag.
const maxTagLen = 16

// TopicTag is the message tag a forwarded message of messageType gets: the type, cut to MNS's
// 16-character limit on tags (DypnsSmsVerifyReport becomes DypnsSmsVerifyRe).
func TopicTag(messageType string) string {
	if len(messageType) > maxTagLen {
		return messageType[:maxTagLen]
	}
	return messageType
}

// DeadLetterQueue returns a dead-letter function that sends each dead letter to queue as its
// dead-letter event in JSON (see Event), raw body and reason included. A failed send keeps the
// original.
func (f *Forward) DeadLetterQueue(queue string) dispatch.DeadLetterFunc {
	return func(ctx context.Context, m *dispatch.Message, reason error) error {
		e := NewDeadLetterEvent(m, reason)
		body, err := json.Marshal(e)
		if err == nil && len(body) > maxMessageBytes {
			// data and raw repeat what body holds; MNS takes at most 64 KiB per message.
			e.Data, e.Raw = json.RawMessage("null"), ""
			body, err = json.Marshal(e)
		}
		if err != nil {
			return fmt.Errorf("sink: dead-letter event of message %s: %w", m.ID, err)
		}
		return f.send(ctx, queue, string(body))
	}
}

func (f *Forward) batcherFor(queue string) *batcher[string] {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.batchers[queue]
	if !ok {
		b = newBatcher(MaxBatch, f.linger, func(calls []*call[string]) { f.flushQueue(queue, calls) })
		f.batchers[queue] = b
	}
	return b
}

func (f *Forward) send(ctx context.Context, queue, body string) error {
	return f.batcherFor(queue).do(ctx, body)
}

// flushQueue sends a batch in BatchSendMessage requests of at most 64 KiB of bodies each.
func (f *Forward) flushQueue(queue string, calls []*call[string]) {
	calls, earliest := live(calls)
	for len(calls) > 0 {
		n, size := 0, 0
		for n < len(calls) && (n == 0 || size+len(calls[n].item) <= maxBatchBytes) {
			size += len(calls[n].item)
			n++
		}
		f.sendBatch(queue, calls[:n], earliest)
		calls = calls[n:]
	}
}

func (f *Forward) sendBatch(queue string, calls []*call[string], earliest time.Time) {
	ctx, cancel := f.requestContext(earliest)
	defer cancel()
	fail := func(err error) {
		for _, c := range calls {
			c.done <- err
		}
	}
	keys, err := f.prepare(calls[0].ctx)
	if err != nil {
		fail(fmt.Errorf("sink: forwarding to MNS queue %s: %w", queue, err))
		return
	}
	reqs := make([]ali_mns.MessageSendRequest, len(calls))
	for i, c := range calls {
		reqs[i] = ali_mns.MessageSendRequest{MessageBody: c.item, Priority: 8}
	}
	q := ali_mns.NewMNSQueue(queue, f.client)
	resp, err := runSDK(ctx, func() (ali_mns.BatchMessageSendResponse, error) { return q.BatchSendMessage(reqs...) })
	if err == nil {
		fail(nil)
		return
	}
	if len(resp.Messages) == len(calls) && ali_mns.ERR_MNS_BATCH_OP_FAIL.IsEqual(err) {
		// Partial failure: each entry, in request order, is a message id or an error.
		for i, c := range calls {
			e := resp.Messages[i]
			switch {
			case e.ErrorCode == "":
				c.done <- nil
			case perMessageCode(e.ErrorCode):
				c.done <- fmt.Errorf("sink: MNS queue %s refused message: %s: %s", queue, e.ErrorCode, serverText(e.ErrorMessage, keys))
			default:
				c.done <- dispatch.Unavailable(fmt.Errorf("sink: MNS queue %s: %s: %s", queue, e.ErrorCode, serverText(e.ErrorMessage, keys)))
			}
		}
		return
	}
	// A failure of the whole request says nothing about any one message.
	fail(dispatch.Unavailable(fmt.Errorf("sink: forwarding to MNS queue %s: %s", queue, sdkErrorText(err, keys))))
}

func (f *Forward) publish(ctx context.Context, topic, tag, body string) error {
	keys, err := f.prepare(ctx)
	if err != nil {
		return fmt.Errorf("sink: publishing to MNS topic %s: %w", topic, err)
	}
	dl, _ := ctx.Deadline()
	rctx, cancel := f.requestContext(dl)
	defer cancel()
	t := ali_mns.NewMNSTopic(topic, f.client)
	_, err = runSDK(rctx, func() (ali_mns.MessageSendResponse, error) {
		return t.PublishMessage(ali_mns.MessagePublishRequest{MessageBody: body, MessageTag: tag})
	})
	if err == nil {
		return nil
	}
	err = fmt.Errorf("sink: publishing to MNS topic %s: %s", topic, sdkErrorText(err, keys))
	if perMessageCode(sdkErrorCode(err)) {
		return err
	}
	return dispatch.Unavailable(err)
}

// requestContext bounds a request by the timeout and the earliest caller's deadline.
func (f *Forward) requestContext(earliest time.Time) (context.Context, context.CancelFunc) {
	timeout := f.timeout
	if !earliest.IsZero() {
		timeout = min(timeout, time.Until(earliest))
	}
	return context.WithTimeout(context.Background(), timeout)
}

// prepare fetches the function's credentials with the caller's ctx and stashes them for the
// SDK, which asks its Credential on every request and has no context; it returns them so that
// the request's errors can be cleaned of them. Concurrent sends may sign with each other's
// stash: both are the function's own, valid keys.
func (f *Forward) prepare(ctx context.Context) (token.Credentials, error) {
	c, err := f.creds(ctx)
	if err != nil {
		return token.Credentials{}, err
	}
	f.cred.cur.Store(&c)
	return c, nil
}

// runSDK runs a blocking SDK call and waits for it or for ctx. The SDK cannot be cancelled;
// an abandoned call ends at the client's timeout, and its message, kept for redelivery, may
// then reach the target twice (delivery is at least once).
func runSDK[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- result{err: fmt.Errorf("the MNS SDK panicked: %v", r)}
			}
		}()
		v, err := fn()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("no answer in time: %w", ctx.Err())
	}
}

// perMessageCode: MNS codes that refuse this message's content rather than the request.
func perMessageCode(code string) bool {
	switch code {
	case "InvalidArgument", "MalformedXML", "MessageBodyTooLarge", "InvalidMessageBody":
		return true
	}
	return false
}

var (
	reStatusCode = regexp.MustCompile(`code: ([^,\s]*),`)
	reBodyCode   = regexp.MustCompile(`<Code>([^<]*)</Code>`)
	reGogapID    = regexp.MustCompile(`, Id: [A-Z]+#\d+:[0-9A-F]*\.?$`)
)

// sdkErrorCode reads the MNS error code back out of an SDK error's text ("" when none).
func sdkErrorCode(err error) string {
	text := err.Error()
	for _, re := range []*regexp.Regexp{reStatusCode, reBodyCode} {
		if m := re.FindStringSubmatch(text); m != nil {
			return m[1]
		}
	}
	return ""
}

// sdkErrorText is an SDK error's text without the library's internal id, cleaned of the keys
// the request was signed with (see serverText).
func sdkErrorText(err error, keys token.Credentials) string {
	var ge gerrors.ErrCode
	if errors.As(err, &ge) {
		return serverText(reGogapID.ReplaceAllString(ge.Error(), ""), keys)
	}
	return serverText(err.Error(), keys)
}

// serverText is text MNS (or whatever answered in its place) produced, shortened and without
// the secret and token the request was signed with: an error answer may quote what was signed,
// as mnsqueue's errors assume too.
func serverText(s string, keys token.Credentials) string {
	return shorten(redact.From(s, keys.AccessKeySecret, keys.SecurityToken))
}

func shorten(s string) string {
	const max = 300
	s = strings.TrimSpace(s)
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// stashedCredential is the credentials-go Credential the SDK asks on every request.
type stashedCredential struct {
	cur atomic.Pointer[token.Credentials]
}

var _ credentials.Credential = (*stashedCredential)(nil)

var errNoStash = errors.New("sink: no credentials stashed before the SDK call")

func (c *stashedCredential) GetCredential() (*credentials.CredentialModel, error) {
	k := c.cur.Load()
	if k == nil {
		return nil, errNoStash
	}
	id, secret, tok, typ := k.AccessKeyID, k.AccessKeySecret, k.SecurityToken, "access_key"
	if tok != "" {
		typ = "sts"
	}
	return &credentials.CredentialModel{AccessKeyId: &id, AccessKeySecret: &secret, SecurityToken: &tok, Type: &typ}, nil
}

// GetAccessKeyId is part of the credentials-go interface (deprecated there).
func (c *stashedCredential) GetAccessKeyId() (*string, error) {
	m, err := c.GetCredential()
	if err != nil {
		return nil, err
	}
	return m.AccessKeyId, nil
}

// GetAccessKeySecret is part of the credentials-go interface (deprecated there).
func (c *stashedCredential) GetAccessKeySecret() (*string, error) {
	m, err := c.GetCredential()
	if err != nil {
		return nil, err
	}
	return m.AccessKeySecret, nil
}

// GetSecurityToken is part of the credentials-go interface (deprecated there).
func (c *stashedCredential) GetSecurityToken() (*string, error) {
	m, err := c.GetCredential()
	if err != nil {
		return nil, err
	}
	return m.SecurityToken, nil
}

// GetBearerToken is part of the credentials-go interface.
func (c *stashedCredential) GetBearerToken() *string { s := ""; return &s }

// GetType is part of the credentials-go interface.
func (c *stashedCredential) GetType() *string {
	m, err := c.GetCredential()
	if err != nil {
		s := "access_key"
		return &s
	}
	return m.Type
}
