package mnspush

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// Dispatcher hands a message to its handler; *dispatch.Router satisfies it.
type Dispatcher interface {
	Dispatch(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error)
}

// DispatcherFunc adapts a function to Dispatcher.
type DispatcherFunc func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error)

// Dispatch calls f.
func (f DispatcherFunc) Dispatch(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
	return f(ctx, m)
}

// Response is what the endpoint answers, independent of the platform that carries it.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Endpoint receives MNS pushes: it verifies each request, parses the notification, dispatches
// the message and answers MNS (success status when handled, 403 when the request is not from
// MNS, 400 when the body cannot be parsed, 500 when the handler failed so that MNS retries,
// 503 when the signing certificate could not be fetched).
type Endpoint struct {
	cfg      Config
	verifier *Verifier
	dispatch Dispatcher
	dedup    *dedup
	known    map[string]string
}

// New returns an Endpoint that dispatches verified messages to d.
func New(c Config, d Dispatcher) (*Endpoint, error) {
	if d == nil {
		return nil, errors.New("notify.New: Dispatcher is nil")
	}
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	known := make(map[string]string, len(c.KnownTypes))
	for _, t := range c.KnownTypes {
		known[strings.ToLower(t)] = t
	}
	return &Endpoint{
		cfg:      c,
		verifier: newVerifier(c),
		dispatch: d,
		dedup:    newDedup(c.DedupSize),
		known:    known,
	}, nil
}

// Verifier returns the endpoint's verifier (to check requests without dispatching them).
func (e *Endpoint) Verifier() *Verifier { return e.verifier }

// ServeHTTP makes the Endpoint an http.Handler (local mode, or any HTTP server).
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxBodyBytes))
	header := r.Header.Clone()
	if r.Host != "" {
		// net/http moves Host out of the header map; the access log shows it.
		header.Set("Host", r.Host)
	}
	req := Request{
		Method:     r.Method,
		Target:     r.RequestURI,
		Header:     header,
		Body:       body,
		Proto:      r.Proto,
		RemoteAddr: r.RemoteAddr,
	}
	if !strings.HasPrefix(req.Target, "/") {
		// Absolute-form targets (proxies) and requests built in tests: use the parsed URL.
		req.Target = r.URL.RequestURI()
	}
	var resp Response
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			resp = e.refuse(&req, lowerHeaders(header), http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", e.cfg.MaxBodyBytes))
		} else {
			resp = e.refuse(&req, lowerHeaders(header), http.StatusBadRequest, fmt.Errorf("reading body: %v", err))
		}
		e.accessLog(&req, lowerHeaders(header), resp.Status)
	} else {
		resp = e.Handle(r.Context(), req)
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.Status)
	io.WriteString(w, resp.Body)
}

// Handle processes one push request and returns the answer for MNS. It never panics on bad
// input; a panicking handler is reported as a failure (500).
func (e *Endpoint) Handle(ctx context.Context, req Request) Response {
	h := lowerHeaders(req.Header)
	resp := e.handle(ctx, &req, h)
	e.accessLog(&req, h, resp.Status)
	return resp
}

func (e *Endpoint) handle(ctx context.Context, req *Request, h headers) Response {
	if req.Method != http.MethodPost {
		resp := e.refuse(req, h, http.StatusMethodNotAllowed, fmt.Errorf("method %s", quote(req.Method)))
		resp.Header.Set("Allow", http.MethodPost)
		return resp
	}
	if int64(len(req.Body)) > e.cfg.MaxBodyBytes {
		return e.refuse(req, h, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", e.cfg.MaxBodyBytes))
	}
	if err := e.verifier.verify(ctx, req.Method, req.Target, h, req.Body); err != nil {
		status := http.StatusForbidden
		if errors.Is(err, ErrCertUnavailable) {
			status = http.StatusServiceUnavailable
		}
		return e.refuse(req, h, status, err)
	}
	n, err := parseNotification(h, req.Body, e.cfg.Format)
	if err != nil {
		return e.refuse(req, h, http.StatusBadRequest, err)
	}
	outcome, err := e.deliver(ctx, n)
	if outcome != dispatch.Handled && outcome != dispatch.DeadLettered && outcome != dispatch.Duplicate {
		e.cfg.Logger.LogAttrs(ctx, slog.LevelError, "push not handled, MNS will retry",
			slog.String("message_id", quote(n.MessageID)),
			slog.String("topic", quote(n.TopicName)),
			slog.String("mns_request_id", quote(h.first("x-mns-request-id"))),
			slog.Any("err", err))
		return textResponse(http.StatusInternalServerError, "Handler Failed")
	}
	if err != nil {
		// The message is settled (dead-lettered, say) but the router had something to say.
		e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "push settled with an error",
			slog.String("message_id", quote(n.MessageID)), slog.Any("err", err))
	}
	return Response{Status: e.cfg.SuccessStatus, Header: http.Header{}}
}

// refuse logs why a request is refused and builds the answer. Every attacker-controlled value
// in the log is quoted and truncated (errors from this package already quote theirs).
func (e *Endpoint) refuse(req *Request, h headers, status int, reason error) Response {
	e.cfg.Logger.LogAttrs(context.Background(), slog.LevelWarn, "push refused",
		slog.Int("status", status),
		slog.String("reason", reason.Error()),
		slog.String("path", quote(req.Target)),
		slog.String("remote", quote(req.RemoteAddr)),
		slog.String("mns_request_id", quote(h.first("x-mns-request-id"))))
	switch status {
	case http.StatusForbidden:
		return textResponse(status, "Access Forbidden")
	case http.StatusBadRequest:
		return textResponse(status, "Invalid Notify Message")
	default:
		return textResponse(status, http.StatusText(status))
	}
}

func textResponse(status int, body string) Response {
	return Response{
		Status: status,
		Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:   body + "\n",
	}
}

// deliver dispatches the message unless this instance has already handled its id. A push of
// an id whose first delivery is still running (MNS gives up on a push after 5 seconds and
// retries while the handler may still be busy) waits for that delivery's result instead of
// running the handler concurrently.
func (e *Endpoint) deliver(ctx context.Context, n Notification) (dispatch.Outcome, error) {
	attempt, release, dup, err := e.dedup.acquire(ctx, n.MessageID)
	if err != nil {
		return dispatch.Retry, err
	}
	if dup {
		return dispatch.Duplicate, nil
	}
	m := &dispatch.Message{
		ID:           n.MessageID,
		Type:         e.messageType(n.MessageTag),
		Source:       n.TopicName,
		Body:         n.Message,
		BodyMD5:      n.MessageMD5,
		DequeueCount: attempt,
		EnqueueTime:  n.PublishTime,
		Tag:          n.MessageTag,
	}
	outcome, err := e.dispatchSafely(ctx, m)
	release(outcome == dispatch.Handled || outcome == dispatch.DeadLettered || outcome == dispatch.Duplicate)
	return outcome, err
}

func (e *Endpoint) dispatchSafely(ctx context.Context, m *dispatch.Message) (outcome dispatch.Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			outcome, err = dispatch.Retry, fmt.Errorf("dispatch panicked: %v", p)
		}
	}()
	return e.dispatch.Dispatch(ctx, m)
}

// messageType types a pushed message: the tag when it names a known type, else the
// configured default, else empty (the generic handler).
func (e *Endpoint) messageType(tag string) string {
	if t, ok := e.known[strings.ToLower(strings.TrimSpace(tag))]; ok {
		return t
	}
	return e.cfg.DefaultMessageType
}

// accessLog writes one line per request, after the topic push guide's endpoint's access log: time, method,
// status, path, protocol, request length, host, user agent, MNS request id, MNS version.
func (e *Endpoint) accessLog(req *Request, h headers, status int) {
	ua, reqID, ver := h.first("user-agent"), h.first("x-mns-request-id"), h.first("x-mns-version")
	if e.cfg.AccessLog == nil {
		e.cfg.Logger.LogAttrs(context.Background(), slog.LevelInfo, "access",
			slog.String("method", quote(req.Method)),
			slog.Int("status", status),
			slog.String("path", quote(req.Target)),
			slog.Int("length", len(req.Body)),
			slog.String("user_agent", quote(ua)),
			slog.String("mns_request_id", quote(reqID)))
		return
	}
	fields := []string{req.Method, strconv.Itoa(status), req.Target, req.Proto,
		strconv.Itoa(len(req.Body)), h.first("host"), ua, reqID, ver}
	var b strings.Builder
	b.WriteString(e.cfg.Now().Format("[02/Jan/2006 15:04:05]"))
	for _, f := range fields {
		b.WriteByte(' ')
		if f == "" {
			f = "-"
		}
		b.WriteString(quote(f))
	}
	b.WriteByte('\n')
	io.WriteString(e.cfg.AccessLog, b.String())
}
