package mnsqueue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/logbuf"
	"github.com/alicom-drain/alicom-drain/internal/queue"
	"github.com/alicom-drain/alicom-drain/internal/queue/mnsqueue"
	"github.com/alicom-drain/alicom-drain/internal/queue/queuetest"
	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

var customerKeys = mnsqueue.StaticKeys{AccessKeyID: mnslocal.DefaultAccessKeyID, AccessKeySecret: mnslocal.DefaultAccessKeySecret}

func startEmulator(t testing.TB, cfg mnslocal.Config) *mnslocal.Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	srv, err := mnslocal.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func newMNS(t testing.TB, cfg mnsqueue.Config) *mnsqueue.Queue {
	t.Helper()
	m, err := mnsqueue.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var queueSeq atomic.Int64

func TestConformance(t *testing.T) {
	srv := startEmulator(t, mnslocal.Config{MessageTypes: []string{}})
	queuetest.RunConformance(t, func(t *testing.T, visibility time.Duration) (queue.Queue, func(string)) {
		name := fmt.Sprintf("conformance-%d", queueSeq.Add(1))
		if err := srv.CreateQueue(name, visibility); err != nil {
			t.Fatal(err)
		}
		q := newMNS(t, mnsqueue.Config{Endpoint: srv.URL(), QueueName: name, Credentials: customerKeys})
		return q, func(body string) {
			if _, err := srv.SendMessage(name, body); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestMNSRedeliversAfterTheQueuesVisibilityTimeout(t *testing.T) {
	srv := startEmulator(t, mnslocal.Config{MessageTypes: []string{}})
	if err := srv.CreateQueue("short", time.Second); err != nil {
		t.Fatal(err)
	}
	q := newMNS(t, mnsqueue.Config{Endpoint: srv.URL(), QueueName: "short", Credentials: customerKeys})
	if _, err := srv.SendMessage("short", "x"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := q.Receive(ctx, 1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var again []queue.Message
	for deadline := time.Now().Add(30 * time.Second); len(again) == 0 && time.Now().Before(deadline); {
		again, err = q.Receive(ctx, 1, 5*time.Second)
		if err != nil && !errors.Is(err, queue.ErrEmpty) {
			t.Fatal(err)
		}
	}
	if len(again) != 1 || again[0].ID != first[0].ID || again[0].DequeueCount != 2 {
		t.Fatalf("got %+v, want %s again with DequeueCount 2", again, first[0].ID)
	}
}

func TestMNSReachesLoopbackEndpointsWithoutThePanic(t *testing.T) {
	srv := startEmulator(t, mnslocal.Config{Queues: []string{"q"}, MessageTypes: []string{}})
	port := srv.URL()[strings.LastIndex(srv.URL(), ":")+1:]
	for _, endpoint := range []string{srv.URL(), "http://localhost:" + port, "http://127.0.0.1:" + port + "/"} {
		t.Run(endpoint, func(t *testing.T) {
			q := newMNS(t, mnsqueue.Config{Endpoint: endpoint, QueueName: "q", Credentials: customerKeys})
			if _, err := srv.SendMessage("q", "hi"); err != nil {
				t.Fatal(err)
			}
			msgs, err := q.Receive(context.Background(), 1, 5*time.Second)
			if err != nil || len(msgs) != 1 || msgs[0].Body != "hi" {
				t.Fatalf("got %+v, %v", msgs, err)
			}
			if failed, err := q.Delete(context.Background(), []string{msgs[0].ReceiptHandle}); err != nil || len(failed) > 0 {
				t.Fatalf("delete: %v %+v", err, failed)
			}
		})
	}
}

func TestNewNeverPanics(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		wantErr  string
	}{
		{name: "Alicom's endpoint", endpoint: config.DefaultMNSEndpoint},
		{name: "an IPv4 address with a port", endpoint: "http://127.0.0.1:9911"},
		{name: "localhost", endpoint: "http://localhost:9911"},
		{name: "an IPv6 address", endpoint: "http://[::1]:9911"},
		{name: "a host of three parts", endpoint: "https://mns.example.com"},
		{name: "a host of six parts", endpoint: "https://a.b.c.d.e.f"},
		{name: "a five-part host with a port", endpoint: "http://1.mns.cn-hangzhou.aliyuncs.com:8080"},
		{name: "an internal MNS endpoint", endpoint: "http://1943695596114318.mns.cn-hangzhou-internal.aliyuncs.com"},
		{name: "no endpoint", endpoint: "", wantErr: "Config.Endpoint is empty"},
		{name: "no scheme", endpoint: "127.0.0.1:9911", wantErr: "Endpoint"},
		{name: "a path", endpoint: "http://127.0.0.1:9911/queues", wantErr: "scheme://host"},
		{name: "an unsupported scheme", endpoint: "ftp://127.0.0.1", wantErr: "http or https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mnsqueue.New(mnsqueue.Config{Endpoint: tt.endpoint, QueueName: "q", Credentials: customerKeys})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || m == nil {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	const ep = config.DefaultMNSEndpoint
	tests := []struct {
		name    string
		cfg     mnsqueue.Config
		wantErr string
	}{
		{name: "an endpoint is required", cfg: mnsqueue.Config{QueueName: "q", Credentials: customerKeys}, wantErr: "Endpoint"},
		{name: "an endpoint, a queue name and credentials are enough", cfg: mnsqueue.Config{Endpoint: ep, QueueName: "Alicom-Queue-1-SmsReport", Credentials: customerKeys}},
		{name: "the queue name is required", cfg: mnsqueue.Config{Endpoint: ep, Credentials: customerKeys}, wantErr: "QueueName"},
		{name: "a queue name with a slash is rejected", cfg: mnsqueue.Config{Endpoint: ep, QueueName: "a/b", Credentials: customerKeys}, wantErr: "QueueName"},
		{name: "credentials are required", cfg: mnsqueue.Config{Endpoint: ep, QueueName: "q"}, wantErr: "Credentials"},
		{name: "a request timeout shorter than 4s is rejected", cfg: mnsqueue.Config{Endpoint: ep, QueueName: "q", Credentials: customerKeys, RequestTimeout: time.Second}, wantErr: "RequestTimeout"},
		{name: "a negative connection count is rejected", cfg: mnsqueue.Config{Endpoint: ep, QueueName: "q", Credentials: customerKeys, MaxConns: -1}, wantErr: "MaxConns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.wantErr)
			}
			if _, err := mnsqueue.New(tt.cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

// alicomSetup is an emulator with Alicom queues, a token cache fetching from its Dybaseapi, and
// the logs of both sides.
type alicomSetup struct {
	srv   *mnslocal.Server
	cache *token.Cache
	logs  *logbuf.Buffer
}

func newAlicomSetup(t testing.TB) *alicomSetup {
	t.Helper()
	logs := &logbuf.Buffer{} // our side only: the emulator announces its built-in default secret
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := startEmulator(t, mnslocal.Config{MessageTypes: []string{"SmsReport", "SmsUp"}})
	f, err := token.NewDybaseapi(token.DybaseapiConfig{Endpoint: srv.URL(),
		Credentials: token.StaticSource(token.Credentials{AccessKeyID: mnslocal.DefaultAccessKeyID, AccessKeySecret: mnslocal.DefaultAccessKeySecret})})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := token.NewCache(f, token.CacheOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return &alicomSetup{srv: srv, cache: cache, logs: logs}
}

// queue opens the SmsReport queue with the token of messageType (another type's token is
// valid, but for its own queue only).
func (a *alicomSetup) queue(t testing.TB, messageType string, onExpired func()) *mnsqueue.Queue {
	return newMNS(t, mnsqueue.Config{Endpoint: a.srv.URL(), QueueName: a.srv.AlicomQueueName("SmsReport"),
		Credentials: a.cache.ForQueue(messageType, a.srv.AlicomQueueName(messageType)), OnTokenRejected: onExpired})
}

func (a *alicomSetup) send(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		if _, err := a.srv.SendMessage(a.srv.AlicomQueueName("SmsReport"), fmt.Sprintf("bXNnLSVk%d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// drain receives and deletes until the queue is empty and returns how many it got.
func drain(ctx context.Context, t *testing.T, q queue.Queue) int {
	t.Helper()
	n := 0
	for {
		msgs, err := q.Receive(ctx, queue.MaxBatch, time.Second)
		if errors.Is(err, queue.ErrEmpty) {
			return n
		}
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		hs := make([]string, len(msgs))
		for i, m := range msgs {
			hs[i] = m.ReceiptHandle
		}
		if failed, err := q.Delete(ctx, hs); err != nil || len(failed) > 0 {
			t.Fatalf("Delete: %v %+v", err, failed)
		}
		n += len(msgs)
	}
}

func TestARejectedTokenIsReplacedWithinTheCall(t *testing.T) {
	for _, tt := range []struct {
		name     string
		reject   func(*mnslocal.Server)
		wantCode string
	}{
		{"an expired token (SecurityTokenExpired)", (*mnslocal.Server).ExpireTokens, "SecurityTokenExpired"},
		{"a token whose key the issuer forgot (InvalidAccessKeyId)", (*mnslocal.Server).ForgetTokens, "InvalidAccessKeyId"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlicomSetup(t)
			var rejected atomic.Int64
			q := a.queue(t, "SmsReport", func() { rejected.Add(1) })
			ctx := context.Background()
			a.send(t, 20)
			if got := drain(ctx, t, q); got != 20 {
				t.Fatalf("drained %d, want 20", got)
			}
			if a.cache.Fetches() != 1 || a.srv.Stats().TokenRequests != 1 {
				t.Fatalf("fetches %d, token requests %d; want one token for the whole drain", a.cache.Fetches(), a.srv.Stats().TokenRequests)
			}

			tt.reject(a.srv)
			a.send(t, 3)
			// Several receivers meet the rejected token at once: each reports it, the cache
			// drops it once, one refetch serves them all, and every call succeeds.
			const receivers = 6
			var wg sync.WaitGroup
			results := make([][]queue.Message, receivers)
			errs := make([]error, receivers)
			for i := range receivers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = q.Receive(ctx, 1, 0)
				}()
			}
			wg.Wait()
			received := 0
			for i, err := range errs {
				switch {
				case err == nil:
					received += len(results[i])
					if failed, err := q.Delete(ctx, []string{results[i][0].ReceiptHandle}); err != nil || len(failed) > 0 {
						t.Fatalf("Delete: %v %+v", err, failed)
					}
				case errors.Is(err, queue.ErrEmpty):
				default:
					t.Fatalf("receiver %d: %v; want the call to recover with a fresh token", i, err)
				}
			}
			if rejected.Load() == 0 {
				t.Fatal("no receiver saw the rejected token")
			}
			if got := received + drain(ctx, t, q); got != 3 {
				t.Fatalf("after the refresh received %d, want 3", got)
			}
			if a.cache.Fetches() != 2 || a.srv.Stats().TokenRequests != 2 {
				t.Fatalf("fetches = %d (token requests %d), want 2: one refetch for %d reports", a.cache.Fetches(), a.srv.Stats().TokenRequests, rejected.Load())
			}
			if l := a.logs.String(); !strings.Contains(l, "alicom token fetched") || !strings.Contains(l, "rejected by the queue server") {
				t.Errorf("expected fetch and rejection log lines:\n%s", l)
			}

			// Rejected again at once: the fresh token is kept (one refetch per holdoff) and the
			// call fails, naming the server's code.
			tt.reject(a.srv)
			_, err := q.Receive(ctx, 1, 0)
			if !errors.Is(err, queue.ErrTokenRejected) || !strings.Contains(err.Error(), tt.wantCode) || !strings.Contains(err.Error(), "request id") {
				t.Fatalf("got %v, want ErrTokenRejected naming %s and the request id", err, tt.wantCode)
			}
			if a.cache.Fetches() != 2 {
				t.Fatalf("fetches = %d, want still 2 within the holdoff", a.cache.Fetches())
			}
		})
	}
}

func TestAFailingRefetchFailsTheCallWithTheTokenError(t *testing.T) {
	a := newAlicomSetup(t)
	q := a.queue(t, "SmsReport", nil)
	a.send(t, 1)
	ctx := context.Background()
	drain(ctx, t, q)
	a.srv.ExpireTokens()
	a.srv.SetFault("QueryTokenForMnsQueue", mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultInternalError})
	_, err := q.Receive(ctx, 1, 0)
	if !errors.Is(err, queue.ErrCredentials) || !errors.Is(err, queue.ErrTransport) || !errors.Is(err, token.ErrUnavailable) {
		t.Fatalf("got %v, want the refetch's outage (ErrCredentials, ErrTransport)", err)
	}
}

func TestFixedKeysAreNotRetriedWhenRejected(t *testing.T) {
	srv := startEmulator(t, mnslocal.Config{Queues: []string{"q"}, MessageTypes: []string{}})
	var rejected atomic.Int64
	q := newMNS(t, mnsqueue.Config{Endpoint: srv.URL(), QueueName: "q", OnTokenRejected: func() { rejected.Add(1) },
		Credentials: mnsqueue.StaticKeys{AccessKeyID: "STS.nobody", AccessKeySecret: "s", SecurityToken: "t"}})
	before := srv.Stats().MNSRequests
	_, err := q.Receive(context.Background(), 1, 0)
	if !errors.Is(err, queue.ErrTokenRejected) || !strings.Contains(err.Error(), "InvalidAccessKeyId") {
		t.Fatalf("got %v, want ErrTokenRejected", err)
	}
	if n := srv.Stats().MNSRequests - before; n != 1 || rejected.Load() != 1 {
		t.Fatalf("%d requests, %d rejections reported; want 1 and 1: fixed keys cannot be replaced", n, rejected.Load())
	}
}

func TestMNSRejectsATokenForAnotherMessageType(t *testing.T) {
	a := newAlicomSetup(t)
	q := a.queue(t, "SmsUp", nil) // the SmsUp token on the SmsReport queue
	a.send(t, 1)
	_, err := q.Receive(context.Background(), 1, 0)
	if !errors.Is(err, queue.ErrAccessDenied) {
		t.Fatalf("got %v, want ErrAccessDenied", err)
	}
}

func TestMNSErrorMapping(t *testing.T) {
	srv := startEmulator(t, mnslocal.Config{Queues: []string{"q"}, MessageTypes: []string{}})
	ctx := context.Background()
	good := func(t *testing.T, timeout time.Duration) *mnsqueue.Queue {
		return newMNS(t, mnsqueue.Config{Endpoint: srv.URL(), QueueName: "q", Credentials: customerKeys, RequestTimeout: timeout})
	}
	receive := func(q *mnsqueue.Queue) error { _, err := q.Receive(ctx, 1, 0); return err }

	t.Run("a missing queue is ErrQueueNotExist", func(t *testing.T) {
		q := newMNS(t, mnsqueue.Config{Endpoint: srv.URL(), QueueName: "no-such-queue", Credentials: customerKeys})
		err := receive(q)
		if !errors.Is(err, queue.ErrQueueNotExist) || !strings.Contains(err.Error(), "QueueNotExist") {
			t.Fatalf("got %v", err)
		}
		if _, err := q.Delete(ctx, []string{"x"}); !errors.Is(err, queue.ErrQueueNotExist) {
			t.Fatalf("delete: got %v", err)
		}
	})
	t.Run("a wrong secret is ErrAccessDenied and the secret is not in the error", func(t *testing.T) {
		q := newMNS(t, mnsqueue.Config{Endpoint: srv.URL(), QueueName: "q",
			Credentials: mnsqueue.StaticKeys{AccessKeyID: mnslocal.DefaultAccessKeyID, AccessKeySecret: "wrong-secret-123"}})
		err := receive(q)
		if !errors.Is(err, queue.ErrAccessDenied) || strings.Contains(err.Error(), "wrong-secret-123") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an unknown key is ErrAccessDenied", func(t *testing.T) {
		q := newMNS(t, mnsqueue.Config{Endpoint: srv.URL(), QueueName: "q", Credentials: mnsqueue.StaticKeys{AccessKeyID: "nobody", AccessKeySecret: "s"}})
		if err := receive(q); !errors.Is(err, queue.ErrAccessDenied) {
			t.Fatalf("got %v", err)
		}
	})
	for _, f := range []struct {
		op   string
		kind mnslocal.FaultKind
		call func(q *mnsqueue.Queue) error
	}{
		{"BatchReceiveMessage", mnslocal.FaultInternalError, receive},
		{"BatchReceiveMessage", mnslocal.FaultDrop, receive},
		{"BatchDeleteMessage", mnslocal.FaultInternalError, func(q *mnsqueue.Queue) error { _, err := q.Delete(ctx, []string{"h"}); return err }},
		{"BatchDeleteMessage", mnslocal.FaultDrop, func(q *mnsqueue.Queue) error { _, err := q.Delete(ctx, []string{"h"}); return err }},
	} {
		t.Run(fmt.Sprintf("fault %s on %s is ErrTransport", f.kind, f.op), func(t *testing.T) {
			srv.SetFault(f.op, mnslocal.Fault{Rate: 1, Kind: f.kind})
			t.Cleanup(func() { srv.SetFault(f.op, mnslocal.Fault{}) })
			if err := f.call(good(t, 0)); !errors.Is(err, queue.ErrTransport) {
				t.Fatalf("got %v, want ErrTransport", err)
			}
		})
	}
	t.Run("a response slower than RequestTimeout is ErrTransport", func(t *testing.T) {
		srv.SetFault("BatchReceiveMessage", mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultStall, Stall: 20 * time.Second})
		t.Cleanup(func() { srv.SetFault("BatchReceiveMessage", mnslocal.Fault{}) })
		start := time.Now()
		if err := receive(good(t, 4*time.Second)); !errors.Is(err, queue.ErrTransport) {
			t.Fatalf("got %v, want ErrTransport", err)
		}
		if took := time.Since(start); took > 15*time.Second {
			t.Fatalf("took %v with a 4s RequestTimeout", took)
		}
	})
}

func TestMNSReceiveHonoursTheCallersContext(t *testing.T) {
	srv := startEmulator(t, mnslocal.Config{Queues: []string{"q"}, MessageTypes: []string{}})
	q := newMNS(t, mnsqueue.Config{Endpoint: srv.URL(), QueueName: "q", Credentials: customerKeys})

	t.Run("a deadline shorter than the wait shortens the long poll", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
		defer cancel()
		if _, err := q.Receive(ctx, 1, 20*time.Second); !errors.Is(err, queue.ErrEmpty) {
			t.Fatalf("got %v, want ErrEmpty from a poll cut to the deadline", err)
		}
	})
	t.Run("a cancellation during a long poll returns at once", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, err := q.Receive(ctx, 1, 25*time.Second)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if took := time.Since(start); took > 15*time.Second {
			t.Fatalf("returned after %v, not at the cancellation", took)
		}
	})
	t.Run("a slow answer is not waited for past the deadline", func(t *testing.T) {
		slow := startEmulator(t, mnslocal.Config{Queues: []string{"q"}, MessageTypes: []string{}})
		slow.SetLatency(20*time.Second, 0)
		q := newMNS(t, mnsqueue.Config{Endpoint: slow.URL(), QueueName: "q", Credentials: customerKeys})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := q.Receive(ctx, 1, 0)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want context.DeadlineExceeded", err)
		}
		// Before the fix it waited for the poll's own end plus its margin (3 s) past the deadline.
		if took := time.Since(start); took > 2500*time.Millisecond {
			t.Fatalf("returned %v after the call, past its 200ms deadline", took)
		}
	})
}

func TestMNSDeleteHonoursTheCallersDeadline(t *testing.T) {
	srv := startEmulator(t, mnslocal.Config{Queues: []string{"q"}, MessageTypes: []string{}})
	srv.SetFault("BatchDeleteMessage", mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultStall, Stall: 20 * time.Second})
	q := newMNS(t, mnsqueue.Config{Endpoint: srv.URL(), QueueName: "q", Credentials: customerKeys})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := q.Delete(ctx, []string{"h"})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "unknown") {
		t.Fatalf("got %v, want context.DeadlineExceeded saying the outcome is unknown", err)
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Fatalf("returned %v after the call, past its 300ms deadline", took)
	}
}

func TestMNSLongPollEndsWithTheCallersDeadline(t *testing.T) {
	srv := startEmulator(t, mnslocal.Config{Queues: []string{"q"}, MessageTypes: []string{}})
	srv.SetFault("BatchReceiveMessage", mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultStall, Stall: 20 * time.Second})
	q := newMNS(t, mnsqueue.Config{Endpoint: srv.URL(), QueueName: "q", Credentials: customerKeys})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := q.Receive(ctx, 1, 5*time.Second) // waits 1 s: the deadline cuts the poll
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 3500*time.Millisecond {
		t.Fatalf("returned %v after the call, past its 1.5s deadline", took)
	}
}

func TestMNSErrorsAndLogsCarryNoSecrets(t *testing.T) {
	a := newAlicomSetup(t)
	q := a.queue(t, "SmsReport", nil)
	ctx := context.Background()
	var texts []string
	a.send(t, 2)
	drain(ctx, t, q)
	tok, err := a.cache.Token(ctx, "SmsReport", a.srv.AlicomQueueName("SmsReport"))
	if err != nil {
		t.Fatal(err)
	}
	a.srv.ExpireTokens()
	_, err = q.Receive(ctx, 1, 0) // recovers with a fresh token
	texts = append(texts, fmt.Sprint(err))
	a.srv.ExpireTokens()
	_, err = q.Receive(ctx, 1, 0) // fails: the fresh token is kept within the holdoff
	texts = append(texts, fmt.Sprint(err))
	_, err = a.queue(t, "SmsUp", nil).Receive(ctx, 1, 0)
	texts = append(texts, fmt.Sprint(err))
	a.srv.SetFault("QueryTokenForMnsQueue", mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultInternalError})
	a.cache.Reject("SmsReport", tok)
	_, err = a.cache.Token(ctx, "VoiceReport", "x")
	texts = append(texts, fmt.Sprint(err))
	texts = append(texts, a.logs.String())
	all := strings.Join(texts, "\n")
	for _, secret := range []string{tok.AccessKeySecret, tok.SecurityToken, mnslocal.DefaultAccessKeySecret} {
		if strings.Contains(all, secret) {
			t.Fatalf("a secret appears in errors or logs:\n%s", all)
		}
	}
	if !strings.Contains(all, "SecurityTokenExpired") || !strings.Contains(all, "InternalError") {
		t.Fatalf("the errors should name the server's codes:\n%s", all)
	}
}

// BenchmarkMNSReceiveDelete measures Receive(16)+Delete(16) through the SDK against the emulator.
func BenchmarkMNSReceiveDelete(b *testing.B) {
	srv := startEmulator(b, mnslocal.Config{Queues: []string{"bench"}, MessageTypes: []string{}})
	q := newMNS(b, mnsqueue.Config{Endpoint: srv.URL(), QueueName: "bench", Credentials: customerKeys})
	ctx := context.Background()
	body := strings.Repeat("eyJwaG9uZV9udW1iZXIiOiIxMzAwMDAwMDAwMCJ9", 8)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for range queue.MaxBatch {
			if _, err := srv.SendMessage("bench", body); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		msgs, err := q.Receive(ctx, queue.MaxBatch, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		hs := make([]string, len(msgs))
		for i, m := range msgs {
			hs[i] = m.ReceiptHandle
		}
		if failed, err := q.Delete(ctx, hs); err != nil || len(failed) > 0 {
			b.Fatal(err, failed)
		}
		n += len(msgs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkMNSReceiveDeleteParallel is the same with several receivers sharing one Queue.
func BenchmarkMNSReceiveDeleteParallel(b *testing.B) {
	srv := startEmulator(b, mnslocal.Config{Queues: []string{"bench"}, MessageTypes: []string{}})
	q := newMNS(b, mnsqueue.Config{Endpoint: srv.URL(), QueueName: "bench", Credentials: customerKeys})
	ctx := context.Background()
	for range b.N*queue.MaxBatch + 64 {
		if _, err := srv.SendMessage("bench", "eyJ4IjoxfQ=="); err != nil {
			b.Fatal(err)
		}
	}
	var total atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			msgs, err := q.Receive(ctx, queue.MaxBatch, time.Second)
			if err != nil {
				b.Error(err)
				return
			}
			hs := make([]string, len(msgs))
			for i, m := range msgs {
				hs[i] = m.ReceiptHandle
			}
			if failed, err := q.Delete(ctx, hs); err != nil || len(failed) > 0 {
				b.Error(err, failed)
				return
			}
			total.Add(int64(len(msgs)))
		}
	})
	b.ReportMetric(float64(total.Load())/b.Elapsed().Seconds(), "msgs/s")
}

func TestMNSReportsAFailedTokenFetchAsErrCredentials(t *testing.T) {
	a := newAlicomSetup(t)
	// The emulator has no VoiceReport queue, so Dybaseapi refuses its token.
	q := newMNS(t, mnsqueue.Config{Endpoint: a.srv.URL(), QueueName: a.srv.AlicomQueueName("SmsReport"),
		Credentials: a.cache.ForQueue("VoiceReport", "")})
	_, err := q.Receive(context.Background(), 1, 0)
	if !errors.Is(err, queue.ErrCredentials) || !errors.Is(err, token.ErrRefused) || !strings.Contains(err.Error(), "InvalidMessageType") {
		t.Fatalf("got %v, want ErrCredentials wrapping the token's ErrRefused", err)
	}
	if a.srv.Stats().MNSRequests != 0 {
		t.Fatal("a request was sent without credentials")
	}
}

func TestMNSReportsATokenServiceOutageAsATransportFailure(t *testing.T) {
	a := newAlicomSetup(t)
	a.srv.SetFault("QueryTokenForMnsQueue", mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultInternalError})
	q := newMNS(t, mnsqueue.Config{Endpoint: a.srv.URL(), QueueName: a.srv.AlicomQueueName("SmsReport"),
		Credentials: a.cache.ForQueue("SmsReport", a.srv.AlicomQueueName("SmsReport"))})
	_, err := q.Receive(context.Background(), 1, 0)
	if !errors.Is(err, queue.ErrCredentials) || !errors.Is(err, queue.ErrTransport) || !errors.Is(err, token.ErrUnavailable) {
		t.Fatalf("got %v, want ErrCredentials and ErrTransport (so the drain retries) wrapping token.ErrUnavailable", err)
	}
}

func TestMNSSendsTheRealHostWhateverTheSDKWasTold(t *testing.T) {
	hosts := make(chan string, 4)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
		w.Header().Set("Content-Type", "text/xml;charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `<?xml version="1.0" ?><Error xmlns="http://mns.aliyuncs.com/doc/v1"><Code>MessageNotExist</Code><Message>Message not exist.</Message><RequestId>ABC</RequestId><HostId>x</HostId></Error>`)
	}))
	t.Cleanup(fake.Close)
	port := fake.URL[strings.LastIndex(fake.URL, ":")+1:]
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port} {
		q := newMNS(t, mnsqueue.Config{Endpoint: "http://" + host, QueueName: "q", Credentials: customerKeys})
		if _, err := q.Receive(context.Background(), 1, 0); !errors.Is(err, queue.ErrEmpty) {
			t.Fatalf("got %v, want ErrEmpty", err)
		}
		if got := <-hosts; got != host {
			t.Errorf("the server saw Host %q, want %q", got, host)
		}
		q.CloseIdleConnections()
	}
}

func TestMNSReceiveReadsAnswersTheFastDecoderDeclines(t *testing.T) {
	const msg = `<Message><MessageId>ID1</MessageId><ReceiptHandle>ID1-h</ReceiptHandle><MessageBodyMD5>00</MessageBodyMD5>` +
		`<MessageBody>%s</MessageBody><EnqueueTime>1</EnqueueTime><NextVisibleTime>2</NextVisibleTime>` +
		`<FirstDequeueTime>1</FirstDequeueTime><DequeueCount>2</DequeueCount><Priority>8</Priority></Message>`
	tests := []struct {
		name, status, body string
		wantBody           string
		wantErr            error
	}{
		{"a CDATA body goes to the SDK's decoder and is read", "200",
			`<?xml version="1.0" ?><Messages xmlns="http://mns.aliyuncs.com/doc/v1">` + fmt.Sprintf(msg, "<![CDATA[a<b]]>") + `</Messages>`, "a<b", nil},
		{"a comment between messages goes to the SDK's decoder and is read", "200",
			`<?xml version="1.0" ?><Messages><!-- x -->` + fmt.Sprintf(msg, "eyJ9") + `</Messages>`, "eyJ9", nil},
		{"an answer that is not XML at all is a decoding failure, not an empty queue", "200", `<html>oops</html>`, "", queue.ErrTransport},
		{"a proxy's error page is a transport failure", "502", `<html>Bad Gateway</html>`, "", queue.ErrTransport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/xml;charset=utf-8")
				code := map[string]int{"200": 200, "502": 502}[tt.status]
				w.WriteHeader(code)
				fmt.Fprint(w, tt.body)
			}))
			t.Cleanup(fake.Close)
			q := newMNS(t, mnsqueue.Config{Endpoint: fake.URL, QueueName: "q", Credentials: customerKeys})
			msgs, err := q.Receive(context.Background(), 16, 0)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, %v; want %v", msgs, err, tt.wantErr)
				}
				return
			}
			if err != nil || len(msgs) != 1 || msgs[0].Body != tt.wantBody || msgs[0].ID != "ID1" || msgs[0].DequeueCount != 2 {
				t.Fatalf("got %+v, %v", msgs, err)
			}
		})
	}
}

func TestRequestsAreCountedAsTheServerSawThem(t *testing.T) {
	count := func(t *testing.T, a *alicomSetup, q queue.Queue) (counted, seen int64, err error) {
		t.Helper()
		var n atomic.Int64
		before := a.srv.Stats().MNSRequests
		_, err = q.Receive(queue.WithRequestCounter(context.Background(), &n), 1, 0)
		return n.Load(), a.srv.Stats().MNSRequests - before, err
	}
	t.Run("a rejected token replaced within the call counts two", func(t *testing.T) {
		a := newAlicomSetup(t)
		q := a.queue(t, "SmsReport", nil)
		a.send(t, 1)
		drain(context.Background(), t, q)
		a.srv.ExpireTokens()
		if counted, seen, err := count(t, a, q); !errors.Is(err, queue.ErrEmpty) || counted != 2 || seen != 2 {
			t.Fatalf("err %v, counted %d, the server saw %d; want ErrEmpty, 2 and 2", err, counted, seen)
		}
	})
	t.Run("a rejected token whose refetch fails counts the one request sent", func(t *testing.T) {
		a := newAlicomSetup(t)
		q := a.queue(t, "SmsReport", nil)
		a.send(t, 1)
		drain(context.Background(), t, q)
		a.srv.ExpireTokens()
		a.srv.SetFault("QueryTokenForMnsQueue", mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultInternalError})
		if counted, seen, err := count(t, a, q); !errors.Is(err, queue.ErrCredentials) || counted != 1 || seen != 1 {
			t.Fatalf("err %v, counted %d, the server saw %d; want ErrCredentials, 1 and 1", err, counted, seen)
		}
	})
	t.Run("no token at all counts none", func(t *testing.T) {
		a := newAlicomSetup(t)
		q := a.queue(t, "SmsReport", nil)
		a.srv.SetFault("QueryTokenForMnsQueue", mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultInternalError})
		if counted, seen, err := count(t, a, q); !errors.Is(err, queue.ErrCredentials) || counted != 0 || seen != 0 {
			t.Fatalf("err %v, counted %d, the server saw %d; want ErrCredentials, 0 and 0", err, counted, seen)
		}
	})
}
