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

	"github.com/alicom-drain/alicom-drain/internal/push/delivery"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// Dispatcher hands a message to its handler; *dispatch.Router satisfies it.
type Dispatcher = delivery.Dispatcher

// DispatcherFunc adapts a function to Dispatcher.
type DispatcherFunc = delivery.DispatcherFunc

// Response is what the endpoint answers, independent of the platform that carries it.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Endpoint receives MNS pushes: it verifies each request, parses the notification, dispatches
// the message and answers MNS (success status when handled, dead-lettered or a duplicate; 403
// when the request is not from MNS, 400 when the body cannot be parsed, 413 when it is larger
// than MNS sends, 500 when the handler failed or ran out of time so that MNS retries, 503 when
// the signing certificate could not be fetched). Deduplication, panic recovery and the poison
// rule are the Router's.
type Endpoint struct {
	cfg      Config
	verifier *Verifier
	dispatch Dispatcher
	known    map[string]string // lower-cased type name -> registry spelling
}

// New returns an Endpoint that dispatches verified messages to d.
func New(c Config, d Dispatcher) (*Endpoint, error) {
	if d == nil {
		return nil, errors.New("mnspush.New: Dispatcher is nil")
	}
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	known := make(map[string]string)
	for _, t := range alicom.KnownTypes() {
		known[strings.ToLower(t)] = t
	}
	return &Endpoint{
		cfg:      c,
		verifier: newVerifier(c),
		dispatch: d,
		known:    known,
	}, nil
}

// Verifier returns the endpoint's verifier (to check requests without dispatching them).
func (e *Endpoint) Verifier() *Verifier { return e.verifier }

// ServeHTTP makes the Endpoint an http.Handler (local mode, or any HTTP server). It refuses
// what the headers alone show to be wrong (method, size, missing signature headers, a stale
// Date) before it reads the body, so an unsigned request costs no body buffer.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	header := r.Header.Clone()
	if r.Host != "" {
		// net/http moves Host out of the header map; the access log shows it.
		header.Set("Host", r.Host)
	}
	req := Request{
		Method:     r.Method,
		Target:     r.RequestURI,
		Header:     header,
		Proto:      r.Proto,
		RemoteAddr: r.RemoteAddr,
	}
	if !strings.HasPrefix(req.Target, "/") {
		// Absolute-form targets (proxies) and requests built in tests: use the parsed URL.
		req.Target = r.URL.RequestURI()
	}
	h := lowerHeaders(header)
	var resp Response
	if refused, ok := e.precheck(&req, h, r.ContentLength); ok {
		resp = refused
		e.accessLog(&req, h, resp.Status)
	} else if body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxBodyBytes)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			resp = e.refuse(&req, h, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", e.cfg.MaxBodyBytes))
		} else {
			resp = e.refuse(&req, h, http.StatusBadRequest, fmt.Errorf("reading body: %v", err))
		}
		e.accessLog(&req, h, resp.Status)
	} else {
		req.Body = body
		resp = e.Handle(r.Context(), req)
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.Status)
	io.WriteString(w, resp.Body)
}

// precheck refuses a request on its method, declared length and headers alone: the checks
// Handle would make first anyway, made before any body byte is read.
func (e *Endpoint) precheck(req *Request, h headers, contentLength int64) (Response, bool) {
	if req.Method != http.MethodPost {
		resp := e.refuse(req, h, http.StatusMethodNotAllowed, fmt.Errorf("method %s", quote(req.Method)))
		resp.Header.Set("Allow", http.MethodPost)
		return resp, true
	}
	if contentLength > e.cfg.MaxBodyBytes {
		return e.refuse(req, h, http.StatusRequestEntityTooLarge, fmt.Errorf("Content-Length %d is larger than %d bytes", contentLength, e.cfg.MaxBodyBytes)), true
	}
	if err := e.verifier.checkHeaders(h); err != nil {
		return e.refuse(req, h, http.StatusForbidden, err), true
	}
	if _, present, _ := h.get("content-md5"); !present && contentLength > 0 {
		return e.refuse(req, h, http.StatusForbidden, fmt.Errorf("%w: Content-MD5 missing, so the body is not covered by the signature", ErrHeader)), true
	}
	return Response{}, false
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
	if !outcome.Settled() {
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
		slog.String("path", quote(logTarget(req.Target))),
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

// deliver dispatches the message within the handler timeout. The Router answers a repeat of
// a handled id as a Duplicate and refuses one whose first delivery still runs (MNS gives up
// on a push after 5 seconds and retries), so a repeat never runs the handler twice at once.
func (e *Endpoint) deliver(ctx context.Context, n Notification) (dispatch.Outcome, error) {
	count, _ := e.cfg.Deliveries.Seen(n.MessageID, e.cfg.Now())
	m := &dispatch.Message{
		ID:           n.MessageID,
		Type:         e.messageType(n.MessageTag),
		Source:       n.TopicName,
		Body:         n.Message,
		BodyMD5:      n.MessageMD5,
		DequeueCount: count,
		EnqueueTime:  n.PublishTime,
		Tag:          n.MessageTag,
	}
	return delivery.Dispatch(ctx, e.dispatch, m, e.cfg.HandlerTimeout)
}

// messageType types a pushed message: the tag when it names a type of the alicom registry
// (in any case), else the
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
			slog.String("path", quote(logTarget(req.Target))),
			slog.Int("length", len(req.Body)),
			slog.String("user_agent", quote(ua)),
			slog.String("mns_request_id", quote(reqID)))
		return
	}
	fields := []string{req.Method, strconv.Itoa(status), logTarget(req.Target), req.Proto,
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

// logTarget is the request target as logged: a query that holds a token (an Alicom push sent
// to a path of this receiver by a misconfigured console, say) loses the query, so that the
// secret never reaches a log.
func logTarget(target string) string {
	path, query, ok := strings.Cut(target, "?")
	if ok && strings.Contains(strings.ToLower(query), "token") {
		return path + "?<query with a token, not logged>"
	}
	return target
}
