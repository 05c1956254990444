package sink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/redact"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// Webhook limits.
const (
	// MaxBatch is the most events one webhook request carries.
	MaxBatch = 16
	// maxAnswer bounds how much of a receiver's answer is read: a batch answer lists at most
	// 16 message ids; anything past this is not an answer worth reading.
	maxAnswer = 256 << 10
)

// WebhookConfig configures a Webhook sink.
type WebhookConfig struct {
	// URL is the receiver: https, or http for loopback hosts (the configuration checks it).
	URL string
	// Secret is the Standard Webhooks secret, "whsec_" + base64 of the signing key.
	Secret string
	// BatchSize is events per request, 1..16; 0 means 1. Above 1 the body is {"messages":[...]}.
	BatchSize int
	// Timeout bounds one request; 0 means 5s. The handler's deadline bounds it too.
	Timeout time.Duration
	// Linger is how long a batch that is not full waits for more messages; 0 means
	// DefaultLinger.
	Linger time.Duration
	// Client sends the requests; nil means a client of the sink's own with keep-alive
	// connections. Redirects are never followed: an answer 3xx keeps the messages.
	Client *http.Client
	// Now is the clock for webhook-timestamp; nil means time.Now.
	Now func() time.Time
}

// Webhook posts messages to a receiver as signed Standard Webhooks requests (see
// docs/webhook.md for the contract). It is safe for concurrent use; keep one per instance so
// its connections stay alive across invocations.
type Webhook struct {
	url     string
	shown   string // the URL without its query, for errors
	key     []byte
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
	events  *batcher[encoded] // nil when BatchSize is 1
	dead    *batcher[encoded]
}

// NewWebhook validates cfg and returns the sink. Errors never show the secret.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("sink: WebhookConfig.URL %q: expected an http(s) URL", redact.URL(cfg.URL))
	}
	b64, ok := strings.CutPrefix(cfg.Secret, "whsec_")
	key, kerr := base64.StdEncoding.DecodeString(b64)
	if !ok || kerr != nil || len(key) == 0 {
		return nil, errors.New("sink: WebhookConfig.Secret is not valid: expected whsec_ followed by a base64 key (the value is not shown)")
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 1
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > MaxBatch {
		return nil, fmt.Errorf("sink: WebhookConfig.BatchSize %d: expected 1 to %d", cfg.BatchSize, MaxBatch)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("sink: WebhookConfig.Timeout %s: expected a positive duration", cfg.Timeout)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: newTransport()}
	}
	// A copy, so the caller's client is not changed: never follow a redirect, whose target
	// would get the signed receipts without the receiver's owner having said so.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	w := &Webhook{url: u.String(), shown: redact.URL(cfg.URL), key: key, timeout: cfg.Timeout, client: &c, now: cfg.Now}
	if cfg.BatchSize > 1 {
		w.events = newBatcher(cfg.BatchSize, cfg.Linger, w.flush)
		w.dead = newBatcher(cfg.BatchSize, cfg.Linger, w.flush)
	}
	return w, nil
}

// newTransport keeps connections alive for the life of the instance: the drain's receivers
// deliver concurrently, and a TLS handshake per message would cost more than the request.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// String names the receiver without the secret or the URL's query.
func (w *Webhook) String() string { return "webhook " + w.shown }

// GoString is String, so %#v does not print the signing key and the URL's query.
func (w *Webhook) GoString() string { return w.String() }

// CloseIdleConnections closes the connections not in use.
func (w *Webhook) CloseIdleConnections() { w.client.CloseIdleConnections() }

// Handler returns the handler that posts each message's event. Its error is Unavailable when
// the receiver failed (5xx, 408, 429, 401/403/404, a redirect, a timeout, a refused
// connection), and a plain error when the receiver refused this message: a 4xx answer to a
// single event, or the message listed in a batch answer's batchItemFailures.
func (w *Webhook) Handler() dispatch.HandlerFunc {
	return func(ctx context.Context, m *dispatch.Message) error {
		e, err := NewEvent(m)
		if err != nil {
			return dispatch.Permanent(err)
		}
		return w.deliver(ctx, w.events, e)
	}
}

// DeadLetter returns the dead-letter function that posts a dead-letter event (the event plus
// dead_letter and body). Any failure keeps the original in the queue.
func (w *Webhook) DeadLetter() dispatch.DeadLetterFunc {
	return func(ctx context.Context, m *dispatch.Message, reason error) error {
		return w.deliver(ctx, w.dead, NewDeadLetterEvent(m, reason))
	}
}

// encoded is an event marshalled by its own handler call, concurrently with its batch-mates.
type encoded struct {
	id   string
	json []byte
}

func (w *Webhook) deliver(ctx context.Context, b *batcher[encoded], e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("sink: event of message %s: %w", e.MessageID, err)
	}
	if b != nil {
		return b.do(ctx, encoded{id: e.MessageID, json: body})
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	status, answer, err := w.post(ctx, e.MessageID, body)
	if err := w.verdict(status, err, false); err != nil {
		return err
	}
	// A receiver written for batches may answer a single event the same way: honour it.
	if failedItems(answer)[e.MessageID] {
		return fmt.Errorf("sink: %s reported message %s as failed (batchItemFailures)", w, e.MessageID)
	}
	return nil
}

// flush sends one batch and answers each call.
func (w *Webhook) flush(calls []*call[encoded]) {
	calls, earliest := live(calls)
	if len(calls) == 0 {
		return
	}
	// {"messages":[e1,e2,...]}, from the events as their handlers marshalled them.
	ids := make([]string, len(calls))
	size := len(`{"messages":[]}`)
	for i, c := range calls {
		ids[i] = c.item.id
		size += len(c.item.json) + 1
	}
	body := make([]byte, 0, size)
	body = append(body, `{"messages":[`...)
	for i, c := range calls {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, c.item.json...)
	}
	body = append(body, "]}"...)
	timeout := w.timeout
	if !earliest.IsZero() {
		timeout = min(timeout, time.Until(earliest))
	}
	// Not any one caller's context: a caller that gives up must not cancel its batch-mates'
	// request. The earliest caller's deadline still bounds it.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	status, answer, err := w.post(ctx, batchID(ids), body)
	if verr := w.verdict(status, err, true); verr != nil {
		for _, c := range calls {
			c.done <- verr
		}
		return
	}
	failed := failedItems(answer)
	for _, c := range calls {
		if failed[c.item.id] {
			c.done <- fmt.Errorf("sink: %s reported message %s as failed (batchItemFailures)", w, c.item.id)
		} else {
			c.done <- nil
		}
	}
}

// batchID is a stable id of a batch: the same messages in the same order give the same id.
func batchID(ids []string) string {
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	return "batch_" + hex.EncodeToString(sum[:16])
}

// failedItems reads a batch answer's batchItemFailures; an answer that is not one means none.
func failedItems(answer []byte) map[string]bool {
	var a BatchAnswer
	if len(bytes.TrimSpace(answer)) == 0 || json.Unmarshal(answer, &a) != nil {
		return nil
	}
	out := make(map[string]bool, len(a.BatchItemFailures))
	for _, f := range a.BatchItemFailures {
		out[f.ItemIdentifier] = true
	}
	return out
}

// Sign returns the webhook-signature value for id, timestamp and body:
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)).
func (w *Webhook) Sign(id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, w.key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// post sends one signed request. It returns the status and, for a 2xx, up to maxAnswer bytes
// of the answer; the rest of a body is drained (bounded) so the connection is reused.
func (w *Webhook) post(ctx context.Context, id string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("sink: %s: %w", w, err)
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "alicom-drain-webhook/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", w.Sign(id, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, query included; keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, fmt.Errorf("sink: POST %s: %w", w, err)
	}
	defer resp.Body.Close()
	var answer []byte
	if resp.StatusCode/100 == 2 {
		answer, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		if err != nil {
			return 0, nil, fmt.Errorf("sink: reading the answer of %s: %w", w, err)
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	return resp.StatusCode, answer, nil
}

// verdict turns a request's result into the handler's error: nil for 2xx, Unavailable for a
// failure of the receiver, a plain error for a refusal of the message (single events only: a
// refused batch says nothing about which message was wrong, so it keeps them all as an outage).
func (w *Webhook) verdict(status int, err error, batch bool) error {
	switch {
	case err != nil:
		return dispatch.Unavailable(err)
	case status/100 == 2:
		return nil
	case !batch && messageRefused(status):
		return fmt.Errorf("sink: %s refused the message: HTTP %d", w, status)
	}
	return dispatch.Unavailable(fmt.Errorf("sink: %s answered HTTP %d", w, status))
}

// messageRefused: a 4xx that says something is wrong with this request's content. 401, 403,
// 404, 407, 408, 421, 425 and 429 say the receiver is misconfigured, moved or overloaded.
func messageRefused(status int) bool {
	switch status {
	case 400, 409, 410, 413, 415, 422:
		return true
	}
	return false
}
