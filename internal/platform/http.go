package platform

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// HTTPOptions configures an HTTP function's platform edge.
type HTTPOptions struct {
	Options
	// MaxBodyBytes bounds a request body; a larger one is answered 413 before the handler runs.
	// Default 1 MiB.
	MaxBodyBytes int64
	// Timeout bounds one request: the handler's context ends then. A caller that gives up
	// sooner than the platform (MNS waits 5 s for a push, Alicom 700 ms) needs this shorter
	// than the function's own timeout. Default 30 s.
	Timeout time.Duration
	// DefaultListen is the address -listen serves on locally; default 127.0.0.1:8080.
	DefaultListen string
	// Banner, when set, is written to stdout once the local server listens (e.g. the address to
	// subscribe).
	Banner func(w io.Writer, addr string)
}

func (o HTTPOptions) withDefaults() HTTPOptions {
	o.Options = o.Options.withDefaults()
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.DefaultListen == "" {
		o.DefaultListen = "127.0.0.1:8080"
	}
	return o
}

// StartHTTP serves an HTTP function with h on the detected platform: FC 3.0 HTTP trigger
// invocations, Lambda function URL invocations, or locally a plain HTTP server on -listen ADDR
// until SIGINT or SIGTERM.
func StartHTTP(h http.Handler, o HTTPOptions) {
	o = o.withDefaults()
	switch Detect(os.Getenv) {
	case FunctionCompute:
		routeSDKLog(o.Logger)
		startFCHTTP(h, o)
	case Lambda:
		routeSDKLog(o.Logger)
		startLambdaHTTP(h, o)
	default:
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := RunLocalHTTP(ctx, os.Args[1:], os.Stdout, os.Stderr, h, o)
		stop()
		os.Exit(code)
	}
}

// RunLocalHTTP serves h over plain HTTP on the -listen address until ctx ends. It returns the
// process exit status: 0 after a clean stop or -h, 1 when the address cannot be served, 2 for
// bad arguments.
func RunLocalHTTP(ctx context.Context, args []string, stdout, stderr io.Writer, h http.Handler, o HTTPOptions) int {
	o = o.withDefaults()
	fs := newFlagSet(stderr, o.Options, "[-listen ADDR]")
	listen := fs.String("listen", o.DefaultListen, "address to serve plain HTTP on (host:port; port 0 picks a free one)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	srv := &http.Server{
		Handler:           withTimeout(h, o.Timeout, o.MaxBodyBytes),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      o.Timeout + 10*time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	ln, err := listenTCP(*listen)
	if err != nil {
		logFailure(ctx, o.Logger, "cannot start", Fail(ConfigError, fmt.Errorf("-listen %s: %w (choose another address with -listen ADDR)", *listen, err)), nil)
		return 1
	}
	if o.Banner != nil {
		o.Banner(stdout, ln.Addr().String())
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	err = srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-stopped
		return 0
	}
	logFailure(ctx, o.Logger, "serve failed", Fail(InternalError, err), nil)
	return 1
}

// withTimeout bounds each request's context by d and its body by max bytes.
func withTimeout(h http.Handler, d time.Duration, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		if r.ContentLength > max {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// httpParts is an HTTP request as the platforms' events describe it.
type httpParts struct {
	method, rawPath, query, proto, remote, host, userAgent string
	headers                                                map[string]string
	body                                                   string
	isBase64                                               bool
}

// errBadEvent marks an HTTP event that cannot be turned into a request.
var errBadEvent = errors.New("HTTP event cannot be served")

// request builds the *http.Request the handler sees, as net/http would have: Host out of the
// header map, RequestURI the target as received.
func (p httpParts) request(ctx context.Context, o HTTPOptions) (*http.Request, error) {
	o = o.withDefaults()
	var body []byte
	if p.isBase64 {
		if int64(base64.StdEncoding.DecodedLen(len(p.body))) > o.MaxBodyBytes+3 {
			return nil, fmt.Errorf("%w: body larger than %d bytes", errTooLarge, o.MaxBodyBytes)
		}
		b, err := base64.StdEncoding.DecodeString(p.body)
		if err != nil {
			return nil, fmt.Errorf("%w: body is marked base64 but does not decode", errBadEvent)
		}
		body = b
	} else {
		body = []byte(p.body)
	}
	if int64(len(body)) > o.MaxBodyBytes {
		return nil, fmt.Errorf("%w: body larger than %d bytes", errTooLarge, o.MaxBodyBytes)
	}
	target := p.rawPath
	if !strings.HasPrefix(target, "/") {
		target = "/" + target
	}
	if p.query != "" {
		target += "?" + p.query
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, fmt.Errorf("%w: path %q: %v", errBadEvent, target, err)
	}
	h := http.Header{}
	names := make([]string, 0, len(p.headers))
	for k := range p.headers {
		names = append(names, k)
	}
	// Sorted, so the result does not depend on map order when a name comes in two spellings.
	sort.Strings(names)
	for _, k := range names {
		h.Add(k, p.headers[k])
	}
	host := h.Get("Host")
	if host == "" {
		host = p.host
	}
	h.Del("Host")
	if h.Get("User-Agent") == "" && p.userAgent != "" {
		h.Set("User-Agent", p.userAgent)
	}
	proto := p.proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok {
		major, minor = 1, 1
	}
	method := strings.ToUpper(p.method)
	if method == "" {
		method = http.MethodGet
	}
	r := &http.Request{
		Method: method, URL: u, Proto: proto, ProtoMajor: major, ProtoMinor: minor,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		Host: host, RemoteAddr: p.remote, RequestURI: target,
	}
	return r.WithContext(ctx), nil
}

var errTooLarge = errors.New("HTTP request too large")

// response is what the handler answered.
type response struct {
	status int
	header http.Header
	body   bytes.Buffer
}

// encodedBody returns the body for the platform's answer: as text when it is UTF-8, else
// base64 with the flag that says so.
func (r *response) encodedBody() (string, bool) {
	if utf8.Valid(r.body.Bytes()) {
		return r.body.String(), false
	}
	return base64.StdEncoding.EncodeToString(r.body.Bytes()), true
}

// recorder is the ResponseWriter of a platform HTTP invocation.
type recorder struct {
	resp  response
	wrote bool
}

func (w *recorder) Header() http.Header { return w.resp.header }

func (w *recorder) WriteHeader(status int) {
	if !w.wrote {
		w.resp.status, w.wrote = status, true
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	// An answer has no business being large; the platforms cap it at 6 MB anyway.
	if w.resp.body.Len()+len(p) > 6<<20 {
		return 0, errors.New("response larger than 6 MB")
	}
	return w.resp.body.Write(p)
}

// serve runs h for one platform HTTP invocation, within the request timeout.
func serve(h http.Handler, req *http.Request, o HTTPOptions) (resp response) {
	o = o.withDefaults()
	rec := &recorder{resp: response{header: http.Header{}}}
	defer func() {
		if p := recover(); p != nil {
			o.Logger.LogAttrs(req.Context(), slog.LevelError, "HTTP handler panicked", slog.String("panic", fmt.Sprint(p)))
			resp = response{status: http.StatusInternalServerError, header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}}
			resp.body.WriteString("Internal Server Error\n")
		}
	}()
	ctx, cancel := context.WithTimeout(req.Context(), o.Timeout)
	defer cancel()
	h.ServeHTTP(rec, req.WithContext(ctx))
	rec.WriteHeader(http.StatusOK)
	return rec.resp
}

// badRequest answers an event that is not a servable request (400, or 413 for a large body).
func badRequest(ctx context.Context, log *slog.Logger, err error) response {
	status := http.StatusBadRequest
	if errors.Is(err, errTooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	log.LogAttrs(ctx, slog.LevelWarn, "HTTP event refused", slog.Int("status", status), slog.String("reason", err.Error()))
	resp := response{status: status, header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}}
	resp.body.WriteString(http.StatusText(status) + "\n")
	return resp
}

func flatten(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		out[k] = strings.Join(vs, ",")
	}
	return out
}

func encodeSorted(m map[string]string) string {
	v := url.Values{}
	for k, val := range m {
		v.Set(k, val)
	}
	return v.Encode()
}
