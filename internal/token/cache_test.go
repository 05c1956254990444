package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/logbuf"
	"github.com/alicom-drain/alicom-drain/internal/retry"
)

// fakeClock is a controlled clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeFetcher hands out numbered tokens living `life` on clock, or runs hook when set.
type fakeFetcher struct {
	clock *fakeClock
	life  time.Duration
	n     atomic.Int64
	hook  func(ctx context.Context, n int64) (Token, error) // optional; called before issuing
}

func tokenN(n int64, clock *fakeClock, life time.Duration) Token {
	now := clock.Now()
	return Token{
		AccessKeyID:     fmt.Sprintf("STS.fake-key-%d", n),
		AccessKeySecret: fmt.Sprintf("fake-secret-%d-0123456789", n),
		SecurityToken:   fmt.Sprintf("fake-sts-token-%d-0123456789", n),
		CreateTime:      now,
		ExpireTime:      now.Add(life),
	}
}

func (f *fakeFetcher) Fetch(ctx context.Context, messageType, queueName string) (Token, error) {
	n := f.n.Add(1)
	if f.hook != nil {
		if tok, err := f.hook(ctx, n); err != nil || !tok.IsZero() {
			return tok, err
		}
	}
	return tokenN(n, f.clock, f.life), nil
}

func newTestCache(t *testing.T, f Fetcher, clock *fakeClock) (*Cache, *logbuf.Buffer) {
	t.Helper()
	logs := &logbuf.Buffer{}
	c, err := NewCache(f, CacheOptions{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Retry: retry.Policy{Attempts: 3, Backoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c, logs
}

func mustToken(t *testing.T, c *Cache, mt string) Token {
	t.Helper()
	tok, err := c.Token(context.Background(), mt, "Alicom-Queue-1-"+mt)
	if err != nil {
		t.Fatalf("Token(%s): %v", mt, err)
	}
	return tok
}

func TestCacheKeepsOneTokenPerMessageType(t *testing.T) {
	clock := newFakeClock()
	f := &fakeFetcher{clock: clock, life: 10 * time.Minute}
	c, _ := newTestCache(t, f, clock)

	a1 := mustToken(t, c, "SmsReport")
	a2 := mustToken(t, c, "SmsReport")
	b := mustToken(t, c, "SmsUp")
	if !a1.same(a2) {
		t.Errorf("a second call within the token's life fetched a new token")
	}
	if a1.same(b) {
		t.Errorf("two message types share one token")
	}
	if got := c.Fetches(); got != 2 {
		t.Errorf("Fetches() = %d, want 2 (one per message type)", got)
	}
}

func TestCacheRefreshesAheadOfExpiry(t *testing.T) {
	tests := []struct {
		name          string
		life          time.Duration
		refreshBefore time.Duration
		noFetchAfter  time.Duration // still the first token
		fetchAfter    time.Duration // a new token
	}{
		{name: "a 10 minute token is replaced 2 minutes before it expires", life: 10 * time.Minute,
			noFetchAfter: 8*time.Minute - time.Second, fetchAfter: 8*time.Minute + time.Second},
		{name: "a custom RefreshBefore is honoured", life: 10 * time.Minute, refreshBefore: 5 * time.Minute,
			noFetchAfter: 5*time.Minute - time.Second, fetchAfter: 5 * time.Minute},
		{name: "a token shorter than twice RefreshBefore is replaced at half its life", life: 3 * time.Minute,
			noFetchAfter: 90*time.Second - time.Second, fetchAfter: 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			f := &fakeFetcher{clock: clock, life: tt.life}
			c, err := NewCache(f, CacheOptions{Now: clock.Now, RefreshBefore: tt.refreshBefore, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			first := mustToken(t, c, "SmsReport")
			clock.Advance(tt.noFetchAfter)
			if got := mustToken(t, c, "SmsReport"); !got.same(first) || c.Fetches() != 1 {
				t.Fatalf("refreshed too early: fetches=%d", c.Fetches())
			}
			clock.Advance(tt.fetchAfter - tt.noFetchAfter)
			second := mustToken(t, c, "SmsReport")
			if second.same(first) || c.Fetches() != 2 {
				t.Fatalf("not refreshed when due: fetches=%d", c.Fetches())
			}
			if got := mustToken(t, c, "SmsReport"); !got.same(second) || c.Fetches() != 2 {
				t.Fatalf("the refreshed token was not cached: fetches=%d", c.Fetches())
			}
		})
	}
}

func TestConcurrentCallersCauseOneFetch(t *testing.T) {
	clock := newFakeClock()
	release := make(chan struct{})
	entered := make(chan struct{}, 100)
	f := &fakeFetcher{clock: clock, life: 10 * time.Minute, hook: func(ctx context.Context, n int64) (Token, error) {
		entered <- struct{}{}
		<-release
		return Token{}, nil
	}}
	c, _ := newTestCache(t, f, clock)

	const callers = 64
	var wg sync.WaitGroup
	toks := make([]Token, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], errs[i] = c.Token(context.Background(), "SmsReport", "q")
		}()
	}
	<-entered // a fetch is in flight; the callers pile up behind it
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !toks[i].same(toks[0]) {
			t.Fatalf("caller %d got a different token", i)
		}
	}
	if got := c.Fetches(); got != 1 {
		t.Fatalf("Fetches() = %d, want 1", got)
	}
}

func TestWaitersGiveUpWithTheirOwnContext(t *testing.T) {
	clock := newFakeClock()
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	f := &fakeFetcher{clock: clock, life: 10 * time.Minute, hook: func(ctx context.Context, n int64) (Token, error) {
		entered <- struct{}{}
		<-release
		return Token{}, nil
	}}
	c, _ := newTestCache(t, f, clock)

	patient := make(chan error, 1)
	go func() {
		_, err := c.Token(context.Background(), "SmsReport", "q")
		patient <- err
	}()
	<-entered

	ctx, cancel := context.WithCancel(context.Background())
	impatient := make(chan error, 1)
	go func() {
		_, err := c.Token(ctx, "SmsReport", "q")
		impatient <- err
	}()
	cancel()
	select {
	case err := <-impatient:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("impatient caller got %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiter whose context ended kept waiting for the fetch")
	}
	close(release)
	if err := <-patient; err != nil {
		t.Fatalf("the patient caller should get the token: %v", err)
	}
	if got := c.Fetches(); got != 1 {
		t.Fatalf("Fetches() = %d, want 1", got)
	}
}

func TestFetchOutlivesTheCallerThatStartedIt(t *testing.T) {
	clock := newFakeClock()
	release := make(chan struct{})
	var sawCancel atomic.Bool
	f := &fakeFetcher{clock: clock, life: 10 * time.Minute, hook: func(ctx context.Context, n int64) (Token, error) {
		<-release
		sawCancel.Store(ctx.Err() != nil)
		return Token{}, nil
	}}
	c, _ := newTestCache(t, f, clock)
	ctx, cancel := context.WithCancel(WithCredentials(context.Background(), Credentials{AccessKeyID: "a", AccessKeySecret: "b"}))
	done := make(chan error, 1)
	go func() { _, err := c.Token(ctx, "SmsReport", "q"); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	close(release)
	tok := mustToken(t, c, "SmsReport") // waits for the same fetch
	if tok.IsZero() || c.Fetches() != 1 {
		t.Fatalf("the fetch started by a cancelled caller should still fill the cache (fetches=%d)", c.Fetches())
	}
	if sawCancel.Load() {
		t.Fatal("the fetch was cancelled with its first caller")
	}
}

func TestReject(t *testing.T) {
	t.Run("the same stale token forces one refetch", func(t *testing.T) {
		clock := newFakeClock()
		c, logs := newTestCache(t, &fakeFetcher{clock: clock, life: 10 * time.Minute}, clock)
		first := mustToken(t, c, "SmsReport")
		c.Reject("SmsReport", first)
		second := mustToken(t, c, "SmsReport")
		if second.same(first) || c.Fetches() != 2 {
			t.Fatalf("no refetch after Reject (fetches=%d)", c.Fetches())
		}
		if !strings.Contains(logs.String(), "alicom token rejected") {
			t.Errorf("invalidation not logged:\n%s", logs)
		}
	})
	t.Run("a token already replaced is not dropped", func(t *testing.T) {
		clock := newFakeClock()
		c, _ := newTestCache(t, &fakeFetcher{clock: clock, life: 10 * time.Minute}, clock)
		first := mustToken(t, c, "SmsReport")
		c.Reject("SmsReport", first)
		second := mustToken(t, c, "SmsReport")
		c.Reject("SmsReport", first) // a late report about the old token
		if got := mustToken(t, c, "SmsReport"); !got.same(second) || c.Fetches() != 2 {
			t.Fatalf("a stale report dropped the current token (fetches=%d)", c.Fetches())
		}
	})
	t.Run("another message type's token is untouched", func(t *testing.T) {
		clock := newFakeClock()
		c, _ := newTestCache(t, &fakeFetcher{clock: clock, life: 10 * time.Minute}, clock)
		a := mustToken(t, c, "SmsReport")
		mustToken(t, c, "SmsUp")
		c.Reject("SmsUp", a)
		c.Reject("Unknown", a)
		c.Reject("SmsReport", Token{})
		mustToken(t, c, "SmsReport")
		mustToken(t, c, "SmsUp")
		if c.Fetches() != 2 {
			t.Fatalf("fetches=%d, want 2", c.Fetches())
		}
	})
	t.Run("many callers reporting the same stale token cause one refetch", func(t *testing.T) {
		clock := newFakeClock()
		c, _ := newTestCache(t, &fakeFetcher{clock: clock, life: 10 * time.Minute}, clock)
		stale := mustToken(t, c, "SmsReport")
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.Reject("SmsReport", stale)
				if _, err := c.Token(context.Background(), "SmsReport", "q"); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got := c.Fetches(); got != 2 {
			t.Fatalf("Fetches() = %d, want 2 (the first and one refetch)", got)
		}
	})
	t.Run("the queue adapter reports by key id and security token", func(t *testing.T) {
		clock := newFakeClock()
		c, _ := newTestCache(t, &fakeFetcher{clock: clock, life: 10 * time.Minute}, clock)
		qc := c.ForQueue("SmsReport", "Alicom-Queue-1-SmsReport")
		ak, sk, st, err := qc.Credentials(context.Background())
		if err != nil || ak == "" || sk == "" || st == "" {
			t.Fatalf("Credentials: %q %v", ak, err)
		}
		qc.ReportRejected(ak, st)
		qc.ReportRejected(ak, st)
		ak2, _, st2, err := qc.Credentials(context.Background())
		if err != nil || ak2 == ak || st2 == st || c.Fetches() != 2 {
			t.Fatalf("after ReportRejected: same=%v err=%v fetches=%d", ak2 == ak, err, c.Fetches())
		}
		if s := fmt.Sprint(qc); strings.Contains(s, sk) {
			t.Fatalf("adapter prints a secret: %s", s)
		}
	})
}

func TestFailures(t *testing.T) {
	refused := &FetchError{MessageType: "SmsReport", HTTPStatus: 403, Code: "Forbidden.RAM", RequestID: "REQ-1", Kind: ErrRefused}
	t.Run("a failed first fetch returns the error", func(t *testing.T) {
		clock := newFakeClock()
		f := &fakeFetcher{clock: clock, life: 10 * time.Minute, hook: func(context.Context, int64) (Token, error) { return Token{}, refused }}
		c, logs := newTestCache(t, f, clock)
		_, err := c.Token(context.Background(), "SmsReport", "q")
		var fe *FetchError
		if !errors.Is(err, ErrRefused) || !errors.As(err, &fe) || fe.Code != "Forbidden.RAM" {
			t.Fatalf("got %v, want the fetcher's ErrRefused", err)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "REQ-1") {
			t.Errorf("failure not logged with the request id:\n%s", logs)
		}
		// With no token to fall back on, the next call tries again at once.
		if _, err := c.Token(context.Background(), "SmsReport", "q"); err == nil || c.Fetches() != 2 {
			t.Fatalf("second call: %v fetches=%d", err, c.Fetches())
		}
	})
	t.Run("a failed refresh serves the previous token while it is valid", func(t *testing.T) {
		clock := newFakeClock()
		var fail atomic.Bool
		f := &fakeFetcher{clock: clock, life: 10 * time.Minute, hook: func(context.Context, int64) (Token, error) {
			if fail.Load() {
				return Token{}, &FetchError{MessageType: "SmsReport", Kind: ErrUnavailable, Message: "dial tcp: connection refused"}
			}
			return Token{}, nil
		}}
		c, logs := newTestCache(t, f, clock)
		first := mustToken(t, c, "SmsReport")
		fail.Store(true)
		clock.Advance(9 * time.Minute) // due for refresh, 1 minute left
		if got := mustToken(t, c, "SmsReport"); !got.same(first) {
			t.Fatal("the previous, still valid token should be served")
		}
		if !strings.Contains(logs.String(), "serving the previous token") {
			t.Errorf("no warning logged:\n%s", logs)
		}
		// Backing off: no new attempt for a few seconds.
		mustToken(t, c, "SmsReport")
		if c.Fetches() != 2 {
			t.Fatalf("fetches=%d, want 2 (no retry during the back-off)", c.Fetches())
		}
		clock.Advance(retryAfterFailure)
		mustToken(t, c, "SmsReport")
		if c.Fetches() != 3 {
			t.Fatalf("fetches=%d, want 3 (a retry after the back-off)", c.Fetches())
		}
		// Once the previous token has expired, the error surfaces.
		clock.Advance(time.Minute)
		if _, err := c.Token(context.Background(), "SmsReport", "q"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable once the previous token expired", err)
		}
		// And recovery works.
		fail.Store(false)
		if got := mustToken(t, c, "SmsReport"); got.same(first) {
			t.Fatal("recovered with the expired token")
		}
	})
	t.Run("a panicking fetcher becomes an error", func(t *testing.T) {
		clock := newFakeClock()
		f := &fakeFetcher{clock: clock, hook: func(context.Context, int64) (Token, error) { panic("boom") }}
		c, _ := newTestCache(t, f, clock)
		if _, err := c.Token(context.Background(), "SmsReport", "q"); err == nil || !strings.Contains(err.Error(), "panicked") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an incomplete token is rejected", func(t *testing.T) {
		clock := newFakeClock()
		f := &fakeFetcher{clock: clock, hook: func(context.Context, int64) (Token, error) {
			return Token{AccessKeyID: "STS.x", SecurityToken: "t"}, nil
		}}
		c, _ := newTestCache(t, f, clock)
		if _, err := c.Token(context.Background(), "SmsReport", "q"); !errors.Is(err, ErrBadResponse) {
			t.Fatalf("got %v, want ErrBadResponse", err)
		}
	})
	t.Run("an empty message type is a caller error", func(t *testing.T) {
		clock := newFakeClock()
		c, _ := newTestCache(t, &fakeFetcher{clock: clock}, clock)
		if _, err := c.Token(context.Background(), " ", "q"); !errors.Is(err, ErrInvalidArgument) || c.Fetches() != 0 {
			t.Fatalf("got %v fetches=%d", err, c.Fetches())
		}
	})
	t.Run("a token expired on arrival is used but not refetched on every call", func(t *testing.T) {
		clock := newFakeClock()
		c, logs := newTestCache(t, &fakeFetcher{clock: clock, life: -time.Minute}, clock)
		mustToken(t, c, "SmsReport")
		mustToken(t, c, "SmsReport")
		if c.Fetches() != 1 {
			t.Fatalf("fetches=%d, want 1", c.Fetches())
		}
		if !strings.Contains(logs.String(), "check the clock") {
			t.Errorf("clock warning missing:\n%s", logs)
		}
	})
}

func TestNewCacheValidatesOptions(t *testing.T) {
	if _, err := NewCache(nil, CacheOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil fetcher: %v", err)
	}
	if _, err := NewCache(&fakeFetcher{}, CacheOptions{RefreshBefore: -time.Second}); err == nil || !strings.Contains(err.Error(), "RefreshBefore") {
		t.Errorf("negative RefreshBefore: %v", err)
	}
	if _, err := NewCache(&fakeFetcher{}, CacheOptions{FetchTimeout: -time.Second}); err == nil || !strings.Contains(err.Error(), "FetchTimeout") {
		t.Errorf("negative FetchTimeout: %v", err)
	}
}

func TestCacheLogsNoSecrets(t *testing.T) {
	clock := newFakeClock()
	var fail atomic.Bool
	f := &fakeFetcher{clock: clock, life: 10 * time.Minute, hook: func(context.Context, int64) (Token, error) {
		if fail.Load() {
			return Token{}, errors.New("upstream said no")
		}
		return Token{}, nil
	}}
	c, logs := newTestCache(t, f, clock)
	var secrets []string
	for range 3 {
		tok := mustToken(t, c, "SmsReport")
		secrets = append(secrets, tok.AccessKeySecret, tok.SecurityToken)
		c.Reject("SmsReport", tok)
	}
	tok := mustToken(t, c, "SmsReport")
	secrets = append(secrets, tok.AccessKeySecret, tok.SecurityToken)
	fail.Store(true)
	clock.Advance(9 * time.Minute)
	mustToken(t, c, "SmsReport")
	clock.Advance(2 * time.Minute)
	_, _ = c.Token(context.Background(), "SmsReport", "q")
	out := logs.String()
	for _, want := range []string{"alicom token fetched", "alicom token rejected", "serving the previous token", "alicom token fetch failed", "expire_time="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if l := leaks(out, secrets...); l != nil {
		t.Fatalf("logs leak %q:\n%s", l, out)
	}
}
