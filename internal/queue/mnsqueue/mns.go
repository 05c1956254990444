// Package mnsqueue is the queue.Queue driver for Alibaba Cloud MNS: the receive and delete
// requests, built, signed and sent as aliyun-mns-go-sdk sends them but without its per-request
// costs (request.go), the receive decoder (fastdecode.go), the credentials (credentials.go),
// the mapping of MNS's answers and the SDK's errors to the error kinds of package queue
// (errors.go), and the SDK client with its transport (sdk.go), used by internal/sink's MNS
// forward and the tools. Outside tools and tests, only it and internal/sink import the MNS
// SDK; MNS's errors become queue's kinds here and nowhere else.
package mnsqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/alicom-drain/alicom-drain/internal/queue"
	"github.com/alicom-drain/alicom-drain/internal/redact"
)

// DefaultMaxResponseBytes bounds the body of one MNS answer. The largest answer MNS sends is a
// batch receive of 16 messages of at most 64 KiB each: about 1.1 MiB with the XML around them
// when the bodies are base64 (as Alicom's are); 4 MiB leaves room for bodies whose characters
// XML escapes, and keeps a hostile or broken endpoint from filling a 128 MB function.
const DefaultMaxResponseBytes = 4 << 20

// The defaults of RequestTimeout and MaxConns, for a Queue and an SDK client alike. The
// timeout covers the longest long poll (queue.MaxWait) and waitMargin.
const (
	defaultRequestTimeout = 35 * time.Second
	defaultMaxConns       = 16
)

// waitMargin is how much longer than the long-poll wait a receive request may take (network,
// server); RequestTimeout must leave it.
const waitMargin = 3 * time.Second

// Config configures a Queue.
type Config struct {
	// Endpoint is the MNS URL; required (the function takes it from config.Config.MNSEndpoint,
	// whose default is Alicom's endpoint: the one place that fact is kept). Any http or https
	// URL works (http://127.0.0.1:9911, http://localhost:9911, http://[::1]:9911).
	Endpoint string
	// QueueName is the queue to consume, e.g. Alicom-Queue-1092397003988387-SmsReport.
	QueueName string
	// Credentials sign the requests; for an Alicom queue, token.Cache.ForQueue; for a queue of
	// one's own, StaticKeys.
	Credentials CredentialProvider
	// OnTokenRejected, when set, is called whenever the server rejected the request's token
	// (after Credentials.ReportRejected): metrics, logs.
	OnTokenRejected func()
	// RequestTimeout bounds one HTTP request (write, and read of the whole response); default
	// 35s. A receive never long-polls longer than RequestTimeout minus 3s, so a shorter
	// timeout shortens waits rather than failing them.
	RequestTimeout time.Duration
	// MaxConns bounds the connections to the endpoint; default 16. Callers beyond it wait for
	// a free connection (up to RequestTimeout).
	MaxConns int
	// MaxResponseBytes bounds the body of one answer; default DefaultMaxResponseBytes. A
	// larger answer fails the call with queue.ErrTransport and is not read into memory.
	MaxResponseBytes int
	// Logger receives a warning when a receive the caller stopped waiting for returns
	// messages anyway; default slog.Default().
	Logger *slog.Logger
}

var queueNamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]{0,255}$`)

func (c Config) withDefaults() Config {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = defaultRequestTimeout
	}
	if c.MaxConns == 0 {
		c.MaxConns = defaultMaxConns
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate checks the configuration after defaults are applied; the error names the field.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Endpoint == "" {
		return errors.New("mnsqueue: Config.Endpoint is empty: want the MNS endpoint URL, e.g. https://<account id>.mns.cn-hangzhou.aliyuncs.com")
	}
	if _, err := parseEndpoint(c.Endpoint); err != nil {
		return err
	}
	if !queueNamePattern.MatchString(c.QueueName) {
		return fmt.Errorf("mnsqueue: Config.QueueName %q: want 1-256 letters, digits or '-', starting with a letter or digit", c.QueueName)
	}
	if c.Credentials == nil {
		return errors.New("mnsqueue: Config.Credentials is nil: want a CredentialProvider (token.Cache.ForQueue, StaticKeys)")
	}
	if c.RequestTimeout < waitMargin+time.Second {
		return fmt.Errorf("mnsqueue: Config.RequestTimeout %v: want at least %v (0 means %v; it must exceed the long-poll wait)", c.RequestTimeout, waitMargin+time.Second, defaultRequestTimeout)
	}
	if c.MaxConns < 0 {
		return fmt.Errorf("mnsqueue: Config.MaxConns %d: want a positive number (0 means 16)", c.MaxConns)
	}
	if c.MaxResponseBytes < 0 || (c.MaxResponseBytes > 0 && c.MaxResponseBytes < 64<<10) {
		return fmt.Errorf("mnsqueue: Config.MaxResponseBytes %d: want at least 65536 (0 means %d)", c.MaxResponseBytes, DefaultMaxResponseBytes)
	}
	return nil
}

func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("mnsqueue: Endpoint %q: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("mnsqueue: Endpoint %q: want an http or https URL", s)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("mnsqueue: Endpoint %q: no host", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("mnsqueue: Endpoint %q: want scheme://host[:port] only", s)
	}
	return u, nil
}

// Queue is a queue.Queue on Alibaba Cloud MNS. It keeps one connection pool for its lifetime
// and is safe for concurrent use: keep one per queue for the life of the instance.
type Queue struct {
	cfg     Config
	hc      *fasthttp.HostClient
	base    string    // scheme://host[:port], what a request's URL starts with
	signers sync.Pool // *signer, keyed with the secret in use
}

var _ queue.Queue = (*Queue)(nil)

// New returns a Queue for cfg.
func New(cfg Config) (*Queue, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	return &Queue{cfg: cfg, hc: newHostClient(u, cfg.RequestTimeout, cfg.MaxConns, cfg.MaxResponseBytes),
		base: u.Scheme + "://" + u.Host}, nil
}

// CloseIdleConnections closes the connections not in use; the queue stays usable.
func (m *Queue) CloseIdleConnections() { m.hc.CloseIdleConnections() }

// Name is the queue's name.
func (m *Queue) Name() string { return m.cfg.QueueName }

// temporary is what a provider's error implements to say its failure may pass by itself.
type temporary interface {
	error
	Temporary() bool
}

// CredentialsError is a failure of the Queue's CredentialProvider: no request was sent. It
// wraps queue.ErrCredentials, the provider's error, and queue.ErrTransport when the provider
// says its failure may pass by itself (the token service is unreachable), so the drain retries
// that and not a refusal.
type CredentialsError struct {
	Op, Queue string
	Err       error
}

func (e *CredentialsError) Error() string {
	return fmt.Sprintf("queue %s: %s: could not get credentials to sign the request with: %v", e.Queue, e.Op, e.Err)
}

// Unwrap returns queue.ErrCredentials, queue.ErrTransport for a passing failure, and the
// provider's error.
func (e *CredentialsError) Unwrap() []error {
	if t, ok := errors.AsType[temporary](e.Err); ok && t.Temporary() {
		return []error{queue.ErrCredentials, queue.ErrTransport, e.Err}
	}
	return []error{queue.ErrCredentials, e.Err}
}

// prepare obtains the credentials for the next request with the caller's ctx.
func (m *Queue) prepare(ctx context.Context, op string) (keys, error) {
	if err := ctx.Err(); err != nil {
		return keys{}, fmt.Errorf("queue %s: %s: %w", m.cfg.QueueName, op, err)
	}
	id, secret, token, err := m.cfg.Credentials.Credentials(ctx)
	if err != nil {
		return keys{}, &CredentialsError{Op: op, Queue: m.cfg.QueueName, Err: err}
	}
	if id == "" || secret == "" {
		return keys{}, &CredentialsError{Op: op, Queue: m.cfg.QueueName,
			Err: errors.New("the provider returned no AccessKeyID or AccessKeySecret")}
	}
	return keys{id: id, secret: secret, token: token}, nil
}

type result[T any] struct {
	v   T
	err error
}

// inBackground runs a long poll on a goroutine of its own, so the caller can stop waiting:
// fasthttp has no context, and a request cannot be cut short but by its deadline. The
// request runs on until it is answered or its deadline (ctx's, or RequestTimeout).
func inBackground[T any](fn func() (T, error)) <-chan result[T] {
	ch := make(chan result[T], 1)
	go func() {
		v, err := fn()
		ch <- result[T]{v: v, err: err}
	}()
	return ch
}

// receiveWait turns the requested wait into MNS waitseconds: whole seconds rounded up, at most
// 30, leaving RequestTimeout a margin, and not past ctx's deadline.
func (m *Queue) receiveWait(ctx context.Context, wait time.Duration) int64 {
	sec := int64((max(wait, 0) + time.Second - 1) / time.Second)
	sec = min(sec, int64(queue.MaxWait/time.Second), int64((m.cfg.RequestTimeout-waitMargin)/time.Second))
	if dl, ok := ctx.Deadline(); ok {
		sec = min(sec, int64(time.Until(dl)/time.Second))
	}
	return max(sec, 0)
}

// withFreshToken runs call, and when the server rejected its token (queue.ErrTokenRejected)
// and the provider drops that token, runs it once more with the provider's next one: a warm
// instance whose token the issuer forgot or revoked recovers within the call instead of
// failing until the token's scheduled refresh. A rejected request did nothing on the server,
// so running it again is safe.
func withFreshToken[T any](ctx context.Context, m *Queue, call func() (T, keys, error)) (T, error) {
	v, k, err := call()
	if err == nil || !errors.Is(err, queue.ErrTokenRejected) {
		return v, err
	}
	if !m.reportRejected(k) || ctx.Err() != nil {
		return v, err
	}
	v, k, err = call()
	if err != nil && errors.Is(err, queue.ErrTokenRejected) {
		m.reportRejected(k)
	}
	return v, err
}

// Receive returns up to max (1..16) messages, long-polling up to wait (rounded up to whole
// seconds, at most 30 s, and cut to ctx's deadline). An empty queue is queue.ErrEmpty.
//
// No request outlives ctx's deadline or RequestTimeout, whichever is first; at ctx's deadline
// Receive returns ctx's error. A request cannot be cancelled otherwise. For a long poll
// (wait of a second or more) that ctx can cancel, Receive waits on another goroutine: when
// ctx ends while the request is out, Receive still waits a little if the long poll is about
// to end anyway (its messages are then returned); otherwise it returns ctx's error at once and
// the request finishes in the background. Messages that request receives are then not
// returned to anyone: they are not lost, they stay invisible until their visibility timeout
// and are delivered again (a warning is logged). A receive that does not wait is answered at
// once and is waited for on the caller's goroutine, which a cancellation does not cut short:
// only a server that stalls makes that wait longer than a round trip.
//
// A wait of zero is sent as waitseconds=0: the receive does not wait, whatever the queue's
// PollingWaitSeconds (see batchReceive).
func (m *Queue) Receive(ctx context.Context, max int, wait time.Duration) ([]queue.Message, error) {
	if max < 1 || max > queue.MaxBatch {
		return nil, m.invalid("receive", fmt.Sprintf("max %d: want 1..%d", max, queue.MaxBatch))
	}
	return withFreshToken(ctx, m, func() ([]queue.Message, keys, error) { return m.receive(ctx, max, wait) })
}

func (m *Queue) receive(ctx context.Context, max int, wait time.Duration) ([]queue.Message, keys, error) {
	k, err := m.prepare(ctx, "receive")
	if err != nil {
		return nil, k, err
	}
	waitSec := m.receiveWait(ctx, wait)
	start := time.Now()
	queue.CountRequest(ctx)
	if waitSec == 0 || ctx.Done() == nil {
		// Nothing to stop waiting for early: the answer comes at once, or ctx never ends.
		msgs, err := m.batchReceive(ctx, k, max, waitSec)
		msgs, err = m.receiveResult(result[[]queue.Message]{v: msgs, err: err})
		return msgs, k, err
	}
	ch := inBackground(func() ([]queue.Message, error) { return m.batchReceive(ctx, k, max, waitSec) })
	select {
	case r := <-ch:
		msgs, err := m.receiveResult(r)
		return msgs, k, err
	case <-ctx.Done():
	}
	// The long poll ends on its own at start+wait; if that is near, the answer is worth
	// waiting for rather than leaving its messages invisible. Not once ctx's deadline passed:
	// no wait outlives the deadline (the platform stops the invocation then anyway).
	if left := time.Until(start.Add(time.Duration(waitSec)*time.Second + waitMargin)); left > 0 && left <= 2*waitMargin &&
		!errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t := time.NewTimer(left)
		defer t.Stop()
		select {
		case r := <-ch:
			msgs, err := m.receiveResult(r)
			return msgs, k, err
		case <-t.C:
		}
	}
	go m.abandonReceive(ch)
	return nil, k, fmt.Errorf("queue %s: receive: %w (the request runs on in the background until it is answered or its deadline)", m.cfg.QueueName, ctx.Err())
}

func (m *Queue) abandonReceive(ch <-chan result[[]queue.Message]) {
	r := <-ch
	if r.err == nil && len(r.v) > 0 {
		m.cfg.Logger.Warn("mns: a receive returned messages after the caller stopped waiting; they stay invisible until their visibility timeout and are delivered again",
			slog.String("queue", m.cfg.QueueName), slog.Int("messages", len(r.v)))
	}
}

// receiveResult turns an answer without messages into queue.ErrEmpty; batchReceive has mapped
// the errors.
func (m *Queue) receiveResult(r result[[]queue.Message]) ([]queue.Message, error) {
	if r.err != nil {
		return nil, r.err
	}
	if len(r.v) == 0 {
		return nil, queue.ErrEmpty
	}
	return r.v, nil
}

func fromMillis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// Delete deletes up to 16 messages in one BatchDeleteMessage request. Handles MNS could not
// delete come back as failures (queue.ErrStaleHandle for expired or superseded handles); err
// is set only when the request as a whole failed. The request ends by ctx's deadline or
// RequestTimeout, whichever is first; when ctx's deadline comes first, Delete returns ctx's
// error and whether the messages were deleted is unknown: those that were not come back after
// their visibility timeout. A delete is answered at once and is waited for on the caller's
// goroutine, which a cancellation does not cut short: only a server that stalls makes that
// wait longer than a round trip.
func (m *Queue) Delete(ctx context.Context, handles []string) ([]queue.DeleteFailure, error) {
	if len(handles) == 0 {
		return nil, nil
	}
	if len(handles) > queue.MaxBatch {
		return nil, m.invalid("delete", fmt.Sprintf("%d handles: want at most %d", len(handles), queue.MaxBatch))
	}
	for i, h := range handles {
		if strings.TrimSpace(h) == "" {
			return nil, m.invalid("delete", fmt.Sprintf("handle %d is empty", i))
		}
	}
	return withFreshToken(ctx, m, func() ([]queue.DeleteFailure, keys, error) { return m.delete(ctx, handles) })
}

func (m *Queue) delete(ctx context.Context, handles []string) ([]queue.DeleteFailure, keys, error) {
	k, err := m.prepare(ctx, "delete")
	if err != nil {
		return nil, k, err
	}
	queue.CountRequest(ctx)
	failed, err := m.batchDelete(ctx, k, handles)
	for _, f := range failed {
		if errors.Is(f.Err, queue.ErrTokenRejected) {
			// Per handle, not the whole request: the failures are returned as they are (the
			// drain retries those handles), and the next call signs with a fresh token.
			m.reportRejected(k)
			break
		}
	}
	return failed, k, err
}

func (m *Queue) invalid(op, what string) error {
	return &Error{Op: op, Queue: m.cfg.QueueName, Message: what, Kind: queue.ErrInvalidRequest}
}

// reportRejected tells the provider the server rejected the token k was signed with, and
// reports whether its next credentials may differ (the call is worth one more try).
func (m *Queue) reportRejected(k keys) bool {
	fresh := m.cfg.Credentials.ReportRejected(k.id, k.token)
	if m.cfg.OnTokenRejected != nil {
		m.cfg.OnTokenRejected()
	}
	return fresh
}

// mapError turns an error of the SDK (its decoders' failures) into an *Error without k's
// secrets; the caller reports rejected tokens.
func (m *Queue) mapError(op string, k keys, err error) error {
	e := classify(op, err, k)
	e.Queue = m.cfg.QueueName
	return e
}

// redactKeys removes the request's secret and token from text the server or SDK produced.
func redactKeys(s string, k keys) string { return redact.From(s, k.secret, k.token) }
