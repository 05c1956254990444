// Package platformtest is a stand-in for the runtime APIs of Function Compute (2020-11-11) and
// AWS Lambda (2018-06-01, with its init error endpoint), in the spirit of aws-lambda-go's own
// tests: a function binary started
// with FC_RUNTIME_API or AWS_LAMBDA_RUNTIME_API pointing here takes its invocations from Invoke
// and posts its answers back, through the platforms' real SDK start loops. Tests and the
// cold-start benchmark use it; it has no place in a deployment.
package platformtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Platform selects which runtime API the server speaks.
type Platform string

// The two runtime APIs.
const (
	FC     Platform = "fc"
	Lambda Platform = "lambda"
)

// Invocation is what the platform would tell the function about one invocation.
type Invocation struct {
	RequestID string
	Deadline  time.Time
	// AccountID, Region and the role credentials are sent by FC only.
	AccountID, Region                           string
	AccessKeyID, AccessKeySecret, SecurityToken string
}

// Result is the function's answer to one invocation.
type Result struct {
	Failed bool   // the function posted to /error, or (Lambda) to /runtime/init/error
	Init   bool   // the answer is the init error the function reported before taking the invocation
	Body   []byte // the response or error document
	// ErrorType is the Lambda-Runtime-Function-Error-Type header of an error post.
	ErrorType string
}

type pending struct {
	inv   Invocation
	event []byte
	done  chan Result
}

// Server is one stand-in runtime API.
type Server struct {
	platform Platform
	srv      *httptest.Server
	queue    chan *pending
	ready    chan struct{}
	readyAt  atomic.Int64 // unix nanoseconds of the first "next" request
	once     sync.Once

	mu       sync.Mutex
	inFlight map[string]*pending
	initErr  chan Result // the Lambda init error, at most one
}

// New starts a stand-in for platform on a loopback port.
func New(platform Platform) *Server {
	s := &Server{platform: platform, queue: make(chan *pending, 16), ready: make(chan struct{}), inFlight: map[string]*pending{},
		initErr: make(chan Result, 1)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Addr is the value for FC_RUNTIME_API or AWS_LAMBDA_RUNTIME_API.
func (s *Server) Addr() string { return strings.TrimPrefix(s.srv.URL, "http://") }

// EnvVar is NAME=addr for the platform, ready for exec.Cmd.Env.
func (s *Server) EnvVar() string {
	if s.platform == FC {
		return "FC_RUNTIME_API=" + s.Addr()
	}
	return "AWS_LAMBDA_RUNTIME_API=" + s.Addr()
}

// Ready is closed when the function first asks for an invocation: its handler is ready.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// ReadyAt is when Ready was closed; zero before.
func (s *Server) ReadyAt() time.Time {
	if n := s.readyAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Invoke hands event to the function and waits for its answer or for ctx.
func (s *Server) Invoke(ctx context.Context, event []byte, inv Invocation) (Result, error) {
	if inv.RequestID == "" {
		inv.RequestID = fmt.Sprintf("req-%d", time.Now().UnixNano())
	}
	if inv.Deadline.IsZero() {
		inv.Deadline = time.Now().Add(time.Minute)
	}
	p := &pending{inv: inv, event: event, done: make(chan Result, 1)}
	select {
	case s.queue <- p:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	select {
	case r := <-p.done:
		return r, nil
	case r := <-s.initErr:
		// The function failed before it took the invocation; Lambda answers with that error.
		s.initErr <- r
		return r, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("platformtest: no answer to %s: %w", inv.RequestID, ctx.Err())
	}
}

func (s *Server) base() string {
	if s.platform == FC {
		return "/2020-11-11/runtime/invocation/"
	}
	return "/2018-06-01/runtime/invocation/"
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.platform == Lambda && r.Method == http.MethodPost && r.URL.Path == "/2018-06-01/runtime/init/error" {
		body, _ := io.ReadAll(r.Body)
		select {
		case s.initErr <- Result{Failed: true, Init: true, Body: body, ErrorType: r.Header.Get("Lambda-Runtime-Function-Error-Type")}:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, s.base())
	switch {
	case !ok:
		http.NotFound(w, r)
	case rest == "next" && r.Method == http.MethodGet:
		s.next(w, r)
	case r.Method == http.MethodPost && (strings.HasSuffix(rest, "/response") || strings.HasSuffix(rest, "/error")):
		id, kind, _ := strings.Cut(rest, "/")
		s.answer(w, r, id, kind == "error")
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	s.once.Do(func() {
		s.readyAt.Store(time.Now().UnixNano())
		close(s.ready)
	})
	var p *pending
	select {
	case p = <-s.queue:
	case <-r.Context().Done():
		return
	}
	s.mu.Lock()
	s.inFlight[p.inv.RequestID] = p
	s.mu.Unlock()
	h := w.Header()
	deadline := strconv.FormatInt(p.inv.Deadline.UnixMilli(), 10)
	if s.platform == FC {
		h.Set("x-fc-request-id", p.inv.RequestID)
		h.Set("x-fc-function-deadline", deadline)
		h.Set("x-fc-function-name", "alicom-drain")
		h.Set("x-fc-function-handler", "main")
		h.Set("x-fc-function-memory", "128")
		h.Set("x-fc-function-timeout", "60")
		h.Set("x-fc-retry-count", "0")
		setIf(h, "x-fc-account-id", p.inv.AccountID)
		setIf(h, "x-fc-region", p.inv.Region)
		setIf(h, "x-fc-access-key-id", p.inv.AccessKeyID)
		setIf(h, "x-fc-access-key-secret", p.inv.AccessKeySecret)
		setIf(h, "x-fc-security-token", p.inv.SecurityToken)
	} else {
		h.Set("Lambda-Runtime-Aws-Request-Id", p.inv.RequestID)
		h.Set("Lambda-Runtime-Deadline-Ms", deadline)
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:alicom-drain")
	}
	h.Set("Content-Type", "application/json")
	_, _ = w.Write(p.event)
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, id string, failed bool) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	p := s.inFlight[id]
	delete(s.inFlight, id)
	s.mu.Unlock()
	if p == nil {
		http.Error(w, "unknown request id", http.StatusBadRequest)
		return
	}
	p.done <- Result{Failed: failed, Body: body, ErrorType: r.Header.Get("Lambda-Runtime-Function-Error-Type")}
	if s.platform == FC {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusAccepted)
	}
}

func setIf(h http.Header, k, v string) {
	if v != "" {
		h.Set(k, v)
	}
}
