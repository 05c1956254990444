package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/valyala/fasthttp"
)

// DefaultMNSEndpoint is the MNS endpoint of Alicom's account (cn-hangzhou), where every Alicom
// queue lives. International: https://1493622401794734.mns.ap-southeast-1.aliyuncs.com.
const DefaultMNSEndpoint = "https://1943695596114318.mns.cn-hangzhou.aliyuncs.com"

// temporary is what a provider's error implements to say its failure may pass by itself.
type temporary interface {
	error
	Temporary() bool
}

// ErrCredentials means the queue's CredentialProvider could not provide credentials (for an
// Alicom queue: the token could not be fetched); the provider's own error is wrapped too.
var ErrCredentials = errors.New("queue: no credentials")

// MaxWait is the longest long-poll MNS accepts.
const MaxWait = 30 * time.Second

// MaxBatch is the most messages one receive or delete can carry.
const MaxBatch = 16

// waitMargin is how much longer than the long-poll wait a receive request may take (network,
// server); RequestTimeout must leave it.
const waitMargin = 3 * time.Second

// MNSConfig configures an MNS queue.
type MNSConfig struct {
	// Endpoint is the MNS URL; default DefaultMNSEndpoint. Any http or https URL works
	// (http://127.0.0.1:9911, http://localhost:9911, http://[::1]:9911), whatever the SDK
	// thinks of its host.
	Endpoint string
	// QueueName is the queue to consume, e.g. Alicom-Queue-1092397003988387-SmsReport.
	QueueName string
	// Credentials sign the requests; for an Alicom queue, token.Cache.ForQueue.
	Credentials CredentialProvider
	// OnTokenExpired, when set, is called after Credentials.ReportExpired whenever the server
	// rejects the token as expired (metrics, logs).
	OnTokenExpired func()
	// RequestTimeout bounds one HTTP request (write, and read of the whole response); default
	// 35s. A receive never long-polls longer than RequestTimeout minus 3s, so a shorter
	// timeout shortens waits rather than failing them.
	RequestTimeout time.Duration
	// MaxConns bounds the connections to the endpoint; default 16. Callers beyond it wait for
	// a free connection (up to RequestTimeout).
	MaxConns int
	// Logger receives a warning when a receive the caller stopped waiting for returns
	// messages anyway; default slog.Default().
	Logger *slog.Logger
}

var queueNamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]{0,255}$`)

func (c MNSConfig) withDefaults() MNSConfig {
	if c.Endpoint == "" {
		c.Endpoint = DefaultMNSEndpoint
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 35 * time.Second
	}
	if c.MaxConns == 0 {
		c.MaxConns = 16
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate checks the configuration after defaults are applied; the error names the field.
func (c MNSConfig) Validate() error {
	c = c.withDefaults()
	if _, err := parseMNSEndpoint(c.Endpoint); err != nil {
		return err
	}
	if !queueNamePattern.MatchString(c.QueueName) {
		return fmt.Errorf("queue: MNSConfig.QueueName %q: want 1-256 letters, digits or '-', starting with a letter or digit", c.QueueName)
	}
	if c.Credentials == nil {
		return errors.New("queue: MNSConfig.Credentials is nil: want a CredentialProvider (token.Cache.ForQueue, StaticCredentials)")
	}
	if c.RequestTimeout < waitMargin+time.Second {
		return fmt.Errorf("queue: MNSConfig.RequestTimeout %v: want at least %v (0 means 35s; it must exceed the long-poll wait)", c.RequestTimeout, waitMargin+time.Second)
	}
	if c.MaxConns < 0 {
		return fmt.Errorf("queue: MNSConfig.MaxConns %d: want a positive number (0 means 16)", c.MaxConns)
	}
	return nil
}

func parseMNSEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("queue: MNSConfig.Endpoint %q: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("queue: MNSConfig.Endpoint %q: want an http or https URL", s)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("queue: MNSConfig.Endpoint %q: no host", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("queue: MNSConfig.Endpoint %q: want scheme://host[:port] only", s)
	}
	return u, nil
}

// MNS is a Queue on Alibaba Cloud MNS through aliyun-mns-go-sdk. It keeps one SDK client (one
// connection pool) for its lifetime and is safe for concurrent use: keep one per queue for the
// life of the instance.
type MNS struct {
	cfg    MNSConfig
	client ali_mns.MNSClient
	cred   *sdkCredential
	hc     *fasthttp.HostClient
}

var _ Queue = (*MNS)(nil)

// NewMNS returns an MNS queue for cfg.
func NewMNS(cfg MNSConfig) (m *MNS, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cred := &sdkCredential{}
	c, err := NewSDKClient(SDKClientConfig{
		Endpoint: cfg.Endpoint, Credential: cred, RequestTimeout: cfg.RequestTimeout, MaxConns: cfg.MaxConns,
	})
	if err != nil {
		return nil, err
	}
	return &MNS{cfg: cfg, client: c.MNSClient, cred: cred, hc: c.Conns}, nil
}

// CloseIdleConnections closes the connections not in use; the queue stays usable.
func (m *MNS) CloseIdleConnections() { m.hc.CloseIdleConnections() }

// Name is the queue's name.
func (m *MNS) Name() string { return m.cfg.QueueName }

// sdkQueue returns a queue handle for one operation. The SDK's handle carries a QPS monitor
// that is not safe for concurrent use (and whose client-side throttling we do not want); a
// handle is a few bytes over the shared client, so each operation gets its own.
func (m *MNS) sdkQueue() ali_mns.AliMNSQueue {
	return ali_mns.NewMNSQueue(m.cfg.QueueName, m.client)
}

// prepare obtains the credentials for the next SDK call with the caller's ctx and stashes
// them for the SDK's Credential.
func (m *MNS) prepare(ctx context.Context, op string) (keys, error) {
	if err := ctx.Err(); err != nil {
		return keys{}, fmt.Errorf("queue %s: %s: %w", m.cfg.QueueName, op, err)
	}
	id, secret, token, err := m.cfg.Credentials.Credentials(ctx)
	if err != nil {
		if t, ok := errors.AsType[temporary](err); ok && t.Temporary() {
			// A passing outage of the token service: a transport failure the drain retries.
			return keys{}, fmt.Errorf("queue %s: %s: %w: %w: %w", m.cfg.QueueName, op, ErrCredentials, ErrTransport, err)
		}
		return keys{}, fmt.Errorf("queue %s: %s: %w: %w", m.cfg.QueueName, op, ErrCredentials, err)
	}
	if id == "" || secret == "" {
		return keys{}, fmt.Errorf("queue %s: %s: %w: the provider returned no AccessKeyID or AccessKeySecret", m.cfg.QueueName, op, ErrCredentials)
	}
	k := keys{id: id, secret: secret, token: token}
	m.cred.set(k)
	return k, nil
}

type result[T any] struct {
	v   T
	err error
}

// runSDK runs one blocking SDK call in its own goroutine, so the caller can stop waiting.
// The SDK has no context: the request itself runs on until it completes or RequestTimeout.
func runSDK[T any](fn func() (T, error)) <-chan result[T] {
	ch := make(chan result[T], 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- result[T]{err: fmt.Errorf("the MNS SDK panicked: %v", r)}
			}
		}()
		v, err := fn()
		ch <- result[T]{v: v, err: err}
	}()
	return ch
}

// receiveWait turns the requested wait into MNS waitseconds: whole seconds rounded up, at most
// 30, leaving RequestTimeout a margin, and not past ctx's deadline.
func (m *MNS) receiveWait(ctx context.Context, wait time.Duration) int64 {
	sec := int64((max(wait, 0) + time.Second - 1) / time.Second)
	sec = min(sec, int64(MaxWait/time.Second), int64((m.cfg.RequestTimeout-waitMargin)/time.Second))
	if dl, ok := ctx.Deadline(); ok {
		sec = min(sec, int64(time.Until(dl)/time.Second))
	}
	return max(sec, 0)
}

// Receive returns up to max (1..16) messages, long-polling up to wait (rounded up to whole
// seconds, at most 30 s, and cut to ctx's deadline). An empty queue is ErrEmpty.
//
// The SDK cannot be cancelled. When ctx ends while the request is out, Receive still waits a
// little if the long poll is about to end anyway (its messages are then returned); otherwise
// it returns ctx's error at once and the request finishes in the background, bounded by
// RequestTimeout. Messages that request receives are then not returned to anyone: they are
// not lost, they stay invisible until their visibility timeout and are delivered again (a
// warning is logged).
//
// A wait of zero is sent as waitseconds=0: the receive does not wait, whatever the queue's
// PollingWaitSeconds (see batchReceive).
func (m *MNS) Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error) {
	if max < 1 || max > MaxBatch {
		return nil, m.invalid("receive", fmt.Sprintf("max %d: want 1..%d", max, MaxBatch))
	}
	k, err := m.prepare(ctx, "receive")
	if err != nil {
		return nil, err
	}
	waitSec := m.receiveWait(ctx, wait)
	start := time.Now()
	ch := runSDK(func() (ali_mns.BatchMessageReceiveResponse, error) {
		return m.batchReceive(max, waitSec)
	})
	select {
	case r := <-ch:
		return m.receiveResult(k, r)
	case <-ctx.Done():
	}
	// The long poll ends on its own at start+wait; if that is near, the answer is worth
	// waiting for rather than leaving its messages invisible.
	if left := time.Until(start.Add(time.Duration(waitSec)*time.Second + waitMargin)); left > 0 && left <= 2*waitMargin {
		t := time.NewTimer(left)
		defer t.Stop()
		select {
		case r := <-ch:
			return m.receiveResult(k, r)
		case <-t.C:
		}
	}
	go m.abandonReceive(ch)
	return nil, fmt.Errorf("queue %s: receive: %w (the request runs on in the background until it completes or RequestTimeout)", m.cfg.QueueName, ctx.Err())
}

func (m *MNS) abandonReceive(ch <-chan result[ali_mns.BatchMessageReceiveResponse]) {
	r := <-ch
	if r.err == nil && len(r.v.Messages) > 0 {
		m.cfg.Logger.Warn("mns: a receive returned messages after the caller stopped waiting; they stay invisible until their visibility timeout and are delivered again",
			slog.String("queue", m.cfg.QueueName), slog.Int("messages", len(r.v.Messages)))
	}
}

func (m *MNS) receiveResult(k keys, r result[ali_mns.BatchMessageReceiveResponse]) ([]Message, error) {
	if r.err != nil {
		return nil, m.mapError("receive", k, r.err)
	}
	if len(r.v.Messages) == 0 {
		return nil, ErrEmpty
	}
	out := make([]Message, 0, len(r.v.Messages))
	for _, sm := range r.v.Messages {
		out = append(out, Message{
			ID:               sm.MessageId,
			ReceiptHandle:    sm.ReceiptHandle,
			Body:             sm.MessageBody,
			BodyMD5:          sm.MessageBodyMD5,
			DequeueCount:     sm.DequeueCount,
			Priority:         sm.Priority,
			EnqueueTime:      fromMillis(sm.EnqueueTime),
			FirstDequeueTime: fromMillis(sm.FirstDequeueTime),
			NextVisibleTime:  fromMillis(sm.NextVisibleTime),
		})
	}
	return out, nil
}

func fromMillis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// Delete deletes up to 16 messages in one BatchDeleteMessage request. Handles MNS could not
// delete come back as failures (ErrStaleHandle for expired or superseded handles); err is set
// only when the request as a whole failed. When ctx ends first, Delete returns its error and
// whether the messages were deleted is unknown: those that were not come back after their
// visibility timeout.
func (m *MNS) Delete(ctx context.Context, handles []string) ([]DeleteFailure, error) {
	if len(handles) == 0 {
		return nil, nil
	}
	if len(handles) > MaxBatch {
		return nil, m.invalid("delete", fmt.Sprintf("%d handles: want at most %d", len(handles), MaxBatch))
	}
	for i, h := range handles {
		if strings.TrimSpace(h) == "" {
			return nil, m.invalid("delete", fmt.Sprintf("handle %d is empty", i))
		}
	}
	k, err := m.prepare(ctx, "delete")
	if err != nil {
		return nil, err
	}
	q := m.sdkQueue()
	ch := runSDK(func() (ali_mns.BatchMessageDeleteErrorResponse, error) { return q.BatchDeleteMessage(handles...) })
	var r result[ali_mns.BatchMessageDeleteErrorResponse]
	select {
	case r = <-ch:
	case <-ctx.Done():
		return nil, fmt.Errorf("queue %s: delete: %w (whether the messages were deleted is unknown; those that were not come back after their visibility timeout)", m.cfg.QueueName, ctx.Err())
	}
	if r.err == nil {
		return nil, nil
	}
	if !ali_mns.ERR_MNS_BATCH_OP_FAIL.IsEqual(r.err) {
		return nil, m.mapError("delete", k, r.err)
	}
	if len(r.v.FailedMessages) == 0 {
		return nil, &MNSError{Op: "delete", Queue: m.cfg.QueueName, Message: "batch delete failed without naming a receipt handle"}
	}
	failed := make([]DeleteFailure, 0, len(r.v.FailedMessages))
	expired := false
	for _, f := range r.v.FailedMessages {
		e := &MNSError{Op: "delete", Queue: m.cfg.QueueName, Code: f.ErrorCode, Message: redactKeys(f.ErrorMessage, k),
			Kind: kindOf("delete", f.ErrorCode, f.ErrorMessage)}
		expired = expired || e.Kind == ErrTokenExpired
		failed = append(failed, DeleteFailure{ReceiptHandle: f.ReceiptHandle, Err: e})
	}
	if expired {
		m.tokenExpired(k)
	}
	return failed, nil
}

// ChangeVisibility makes a received message invisible for d (rounded up to whole seconds,
// 1 s..12 h) from now and returns its new receipt handle.
func (m *MNS) ChangeVisibility(ctx context.Context, handle string, d time.Duration) (string, error) {
	if strings.TrimSpace(handle) == "" {
		return "", m.invalid("change visibility", "empty receipt handle")
	}
	sec := int64((d + time.Second - 1) / time.Second)
	if d <= 0 || sec > 43200 {
		return "", m.invalid("change visibility", fmt.Sprintf("visibility %v: want 1s..12h", d))
	}
	k, err := m.prepare(ctx, "change visibility")
	if err != nil {
		return "", err
	}
	q := m.sdkQueue()
	ch := runSDK(func() (ali_mns.MessageVisibilityChangeResponse, error) { return q.ChangeMessageVisibility(handle, sec) })
	select {
	case r := <-ch:
		if r.err != nil {
			return "", m.mapError("change visibility", k, r.err)
		}
		if r.v.ReceiptHandle == "" {
			return "", &MNSError{Op: "change visibility", Queue: m.cfg.QueueName, Message: "the answer carries no receipt handle", Kind: ErrTransport}
		}
		return r.v.ReceiptHandle, nil
	case <-ctx.Done():
		return "", fmt.Errorf("queue %s: change visibility: %w (the change may or may not have happened; the old handle may be superseded)", m.cfg.QueueName, ctx.Err())
	}
}

func (m *MNS) invalid(op, what string) error {
	return &MNSError{Op: op, Queue: m.cfg.QueueName, Message: what, Kind: ErrInvalidRequest}
}

func (m *MNS) tokenExpired(k keys) {
	m.cfg.Credentials.ReportExpired(k.id, k.token)
	if m.cfg.OnTokenExpired != nil {
		m.cfg.OnTokenExpired()
	}
}

// mapError turns an SDK error into an *MNSError and reports expired tokens.
func (m *MNS) mapError(op string, k keys, err error) error {
	e := classify(op, err)
	e.Queue = m.cfg.QueueName
	e.Message = redactKeys(e.Message, k)
	if e.Kind == ErrTokenExpired {
		m.tokenExpired(k)
	}
	return e
}

// redactKeys removes the request's secret and token from text the server or SDK produced.
func redactKeys(s string, k keys) string {
	for _, x := range []string{k.secret, k.token} {
		if len(x) >= 4 {
			s = strings.ReplaceAll(s, x, "(redacted)")
			s = strings.ReplaceAll(s, url.QueryEscape(x), "(redacted)")
		}
	}
	return s
}
