package mnslocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxRequestBody bounds MNS request bodies: 16 messages of 64 KB, XML-escaped, fit.
const maxRequestBody = 4 << 20

// Server is a running emulator.
type Server struct {
	cfg     Config
	ln      net.Listener
	httpSrv *http.Server
	now     func() time.Time

	qmu    sync.RWMutex
	queues map[string]*queue

	creds  *credStore
	nonces *nonceStore
	stats  *statsState
	faults *faultState
	topics *topicState

	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error
	served    chan struct{}
}

// Start validates cfg, creates the configured queues, listens on cfg.Addr and serves in
// the background until Close.
func Start(cfg Config) (*Server, error) {
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mnslocal: listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.httpSrv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.served)
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("mnslocal: serve", "err", err)
		}
	}()
	s.logSummary()
	return s, nil
}

func newServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:     cfg,
		now:     cfg.Now,
		queues:  make(map[string]*queue),
		creds:   newCredStore(cfg.AccessKeyID, cfg.AccessKeySecret),
		nonces:  newNonceStore(),
		stats:   newStatsState(),
		faults:  newFaultState(cfg),
		closing: make(chan struct{}),
		served:  make(chan struct{}),
	}
	s.topics = newTopicState(s)
	attrs := defaultQueueAttrs()
	attrs.VisibilityTimeout = int64(cfg.VisibilityTimeout / time.Second)
	attrs.PollingWaitSeconds = int64(cfg.PollingWaitSeconds)
	for _, t := range cfg.MessageTypes {
		s.createQueue(s.AlicomQueueName(t), attrs)
	}
	for _, name := range cfg.Queues {
		s.createQueue(name, attrs)
	}
	return s, nil
}

func (s *Server) logSummary() {
	secret := "(custom, not shown)"
	if s.cfg.AccessKeySecret == DefaultAccessKeySecret {
		// The built-in default is public anyway; showing it saves a trip to the docs.
		secret = DefaultAccessKeySecret + " (built-in default)"
	}
	s.cfg.Logger.Info("mnslocal: listening",
		"url", s.URL(),
		"access_key_id", s.cfg.AccessKeyID,
		"access_key_secret", secret,
		"alicom_uid", s.cfg.AlicomUID,
		"queues", strings.Join(s.queueNames(), ","),
		"token_ttl", s.cfg.TokenTTL.String(),
		"latency", s.cfg.Latency.String(),
		"jitter", s.cfg.Jitter.String(),
		"faults", len(s.cfg.Faults),
	)
}

// URL is the base URL, "http://127.0.0.1:PORT".
func (s *Server) URL() string { return "http://" + s.Addr() }

// Addr is the address the server listens on, "127.0.0.1:PORT".
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Handler returns the emulator as an http.Handler, for mounting in another server.
func (s *Server) Handler() http.Handler { return s }

// Close stops the server: long polls and stalls end at once, then in-flight requests get
// up to 5 seconds to finish. Calling it again returns the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.closeTopics()
		if s.httpSrv == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			s.closeErr = errors.Join(err, s.httpSrv.Close())
		}
		<-s.served
	})
	return s.closeErr
}

// AlicomQueueName is the name of the Alicom queue for messageType:
// Alicom-Queue-<uid>-<messageType>.
func (s *Server) AlicomQueueName(messageType string) string {
	return alicomQueueName(s.cfg.AlicomUID, messageType)
}

// CreateQueue creates a queue with default attributes and the given visibility timeout
// (zero means Config.VisibilityTimeout), in process.
func (s *Server) CreateQueue(name string, visibility time.Duration) error {
	if err := checkQueueName(name); err != nil {
		return fmt.Errorf("mnslocal: CreateQueue %q: %w", name, err)
	}
	if visibility == 0 {
		visibility = s.cfg.VisibilityTimeout
	}
	if visibility < time.Second || visibility > 43200*time.Second || visibility%time.Second != 0 {
		return fmt.Errorf("mnslocal: CreateQueue %q: visibility %v: want whole seconds in 1s..12h", name, visibility)
	}
	attrs := defaultQueueAttrs()
	attrs.VisibilityTimeout = int64(visibility / time.Second)
	attrs.PollingWaitSeconds = int64(s.cfg.PollingWaitSeconds)
	if !s.createQueue(name, attrs) {
		return fmt.Errorf("mnslocal: CreateQueue %q: the queue already exists", name)
	}
	return nil
}

// SendMessage enqueues body with priority 8 and the queue's default delay, in process.
func (s *Server) SendMessage(queueName, body string) (messageID string, err error) {
	q := s.queue(queueName)
	if q == nil {
		return "", fmt.Errorf("mnslocal: SendMessage: queue %q does not exist", queueName)
	}
	if body == "" {
		return "", errors.New("mnslocal: SendMessage: the body is empty")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.gone {
		return "", fmt.Errorf("mnslocal: SendMessage: queue %q was deleted", queueName)
	}
	if int64(len(body)) > q.attrs.MaximumMessageSize {
		return "", fmt.Errorf("mnslocal: SendMessage: body of %d bytes exceeds MaximumMessageSize %d", len(body), q.attrs.MaximumMessageSize)
	}
	return q.add(body, -1, 8, s.nowMS()).id, nil
}

// ExpireTokens makes every STS token issued so far expired from now on.
func (s *Server) ExpireTokens() { s.creds.expireAll() }

// createQueue adds a queue unless one with that name exists; it reports whether it did.
func (s *Server) createQueue(name string, attrs queueAttrs) bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if _, ok := s.queues[name]; ok {
		return false
	}
	s.queues[name] = newQueue(name, attrs, s.nowMS())
	return true
}

func (s *Server) queue(name string) *queue {
	s.qmu.RLock()
	defer s.qmu.RUnlock()
	return s.queues[name]
}

func (s *Server) nowMS() int64 { return s.now().UnixMilli() }

// apiKind says which API a request belongs to.
type apiKind int

const (
	apiNone apiKind = iota
	apiQueues
	apiTopics
	apiRPC
)

// ServeHTTP runs the shared layers in order: classify (operation name), stats, latency,
// fault, then authentication and the operation itself.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_mnslocal/stats":
		s.serveStats(w, r)
		return
	case certPath:
		s.serveCert(w, r)
		return
	}
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	kind, segs := classifyPath(r)

	var body []byte
	op := opUnknown
	switch kind {
	case apiRPC:
		// ParseForm reads an x-www-form-urlencoded body too; the RPC may travel in either.
		if err := r.ParseForm(); err == nil {
			op = r.Form.Get("Action")
		}
		if !knownOperation(op) {
			op = opUnknown
		}
		if op == "QueryTokenForMnsQueue" {
			s.stats.tokens.Add(1)
		}
	case apiQueues, apiTopics:
		rec.Header().Set(headerReqID, newRequestID())
		s.stats.mns.Add(1)
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
		if err != nil {
			s.stats.count(opUnknown)
			return // the client went away mid-body
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if kind == apiQueues {
			op = queueOperation(r.Method, segs, r.URL.RawQuery, body)
		} else {
			op = topicOperation(r, segs)
		}
	}
	s.stats.count(op)
	defer func() {
		attrs := []any{"op", op, "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration", time.Since(start).Round(time.Microsecond).String(), "request_id", requestIDOf(rec)}
		if rec.status == 0 {
			attrs = append(attrs, "answered", false) // dropped, or the client went away
		}
		s.cfg.Logger.Debug("mnslocal: request", attrs...)
	}()

	if !s.sleep(r.Context(), s.faults.delay()) {
		return
	}
	if s.injectFault(rec, r, op, kind == apiRPC) {
		return
	}

	switch kind {
	case apiRPC:
		s.serveRPC(rec, r, op)
		return
	case apiNone:
		s.writeError(rec, r, 400, "InvalidRequestURL", "The requested URL is invalid: want /queues/..., /topics/... or an RPC call at / with Action=.")
		return
	}
	if len(body) > maxRequestBody {
		s.writeAPIError(rec, r, invalidArgument(fmt.Sprintf("The request body exceeds %d bytes.", maxRequestBody)))
		return
	}
	p, aerr := s.authenticateMNS(r)
	if aerr != nil {
		s.writeAPIError(rec, r, aerr)
		return
	}
	queueName := ""
	if kind == apiQueues && len(segs) >= 2 {
		queueName = segs[1]
	}
	if aerr := p.authorize(op, queueName); aerr != nil {
		s.writeAPIError(rec, r, aerr)
		return
	}
	if kind == apiTopics {
		s.serveTopics(rec, r)
		return
	}
	s.serveQueues(rec, r, op, segs, body)
}

// classifyPath splits an MNS path into segments; "/" is the RPC endpoint.
func classifyPath(r *http.Request) (apiKind, []string) {
	path := r.URL.Path
	if path == "" || path == "/" {
		return apiRPC, nil
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	switch segs[0] {
	case "queues":
		if len(segs) <= 3 {
			return apiQueues, segs
		}
	case "topics":
		return apiTopics, segs
	}
	return apiNone, segs
}

// statusRecorder remembers the status for the log line and still allows hijacking.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (the drop fault hijacks it).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
