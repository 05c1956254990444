package token

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/retry"
)

// hugeAnswer streams size bytes of JSON-looking filler without holding them: the test server
// must not be what uses the memory under test.
func hugeAnswer(size int64, chunked bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !chunked {
			w.Header().Set("Content-Length", fmt.Sprint(size))
		}
		w.WriteHeader(200)
		chunk := []byte(`{"RequestId":"` + strings.Repeat("x", 32<<10) + `",`)
		for sent := int64(0); sent < size; {
			n := min(int64(len(chunk)), size-sent)
			if _, err := w.Write(chunk[:n]); err != nil {
				return // the client stopped reading, as it should
			}
			sent += n
		}
	}
}

func TestDybaseapiBoundsTheAnswersBody(t *testing.T) {
	const size = 300 << 20
	for _, tt := range []struct {
		name    string
		chunked bool
	}{
		{"a 300 MB answer with its length announced is refused before it is read", false},
		{"a 300 MB chunked answer is cut at the limit", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(hugeAnswer(size, tt.chunked))
			t.Cleanup(srv.Close)
			d := newTestDybaseapi(t, srv.URL, StaticSource(roleCreds), 30*time.Second)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := d.Fetch(context.Background(), "SmsReport", "q")
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "exceeds the 65536-byte limit") {
				t.Fatalf("got %v, want ErrUnavailable naming the 64 KiB limit", err)
			}
			grew := after.TotalAlloc - before.TotalAlloc
			if grew > 32<<20 {
				t.Fatalf("the fetch allocated %d MB for a refused answer", grew>>20)
			}
			t.Logf("allocated %d KiB while refusing a %d MB answer", grew>>10, size>>20)
		})
	}
	t.Run("an answer of exactly the limit is read", func(t *testing.T) {
		body := `{"RequestId":"R","Code":"OK","Message":"OK","MessageTokenDTO":{"AccessKeyId":"STS.k","AccessKeySecret":"s0123456789","SecurityToken":"t0123456789","CreateTime":"2026-11-22 10:00:00","ExpireTime":"2026-11-22 10:30:00"}}`
		body += strings.Repeat(" ", 4096-len(body))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.(http.Flusher).Flush() // chunked: no length to refuse it by
			fmt.Fprint(w, body)
		}))
		t.Cleanup(srv.Close)
		d, err := NewDybaseapi(DybaseapiConfig{Endpoint: srv.URL, Credentials: StaticSource(roleCreds), MaxResponseBytes: 4096})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Fetch(context.Background(), "SmsReport", "q"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCauseTellsMissingCredentialsFromOutagesAndRefusals(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 400, map[string]string{"RequestId": "R", "Code": "InvalidMessageType", "Message": "no such type"})
	}))
	t.Cleanup(refusing.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	tests := []struct {
		name     string
		endpoint string
		creds    CredentialSource
		want     string
		wantText string
	}{
		{"unset variables are missing credentials", refusing.URL, DefaultChain(func(string) string { return "" }), "no_credentials", "ALIBABA_CLOUD_ACCESS_KEY_ID"},
		{"a refused connection is an outage, not missing credentials", closedURL, StaticSource(roleCreds), "unreachable", "connect"},
		{"a name that does not resolve is an outage, not missing credentials", "http://dybaseapi.invalid", StaticSource(roleCreds), "unreachable", "dybaseapi.invalid"},
		{"a refusal names the server's code", refusing.URL, StaticSource(roleCreds), "refused", "InvalidMessageType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDybaseapi(t, tt.endpoint, tt.creds, 5*time.Second)
			_, err := d.Fetch(context.Background(), "SmsReport", "q")
			if got := Cause(err); got != tt.want {
				t.Fatalf("Cause(%v) = %q, want %q", err, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q should mention %q", err, tt.wantText)
			}
			if tt.want != "no_credentials" && strings.Contains(err.Error(), "no credentials") {
				t.Errorf("error %q reads as missing credentials", err)
			}
			if l := leaks(err.Error(), roleCreds.AccessKeySecret, roleCreds.SecurityToken); l != nil {
				t.Errorf("error leaks %q", l)
			}
		})
	}
}

func TestCacheRetriesPassingFailuresWithinTheCallersDeadline(t *testing.T) {
	unavailable := &FetchError{MessageType: "SmsReport", Kind: ErrUnavailable, Message: "dial tcp: connection refused"}
	t.Run("a passing failure is retried and the fetch counts once", func(t *testing.T) {
		clock := newFakeClock()
		f := &fakeFetcher{clock: clock, life: 10 * time.Minute, hook: func(_ context.Context, n int64) (Token, error) {
			if n < 3 {
				return Token{}, unavailable
			}
			return Token{}, nil
		}}
		c, logs := newTestCache(t, f, clock)
		mustToken(t, c, "SmsReport")
		if f.n.Load() != 3 || c.Fetches() != 1 {
			t.Fatalf("attempts %d, fetches %d; want 3 attempts in one fetch", f.n.Load(), c.Fetches())
		}
		if !strings.Contains(logs.String(), "attempts=3") {
			t.Errorf("the fetch line should say how many attempts it took:\n%s", logs)
		}
	})
	t.Run("a refusal is not retried", func(t *testing.T) {
		clock := newFakeClock()
		f := &fakeFetcher{clock: clock, hook: func(context.Context, int64) (Token, error) {
			return Token{}, &FetchError{MessageType: "SmsReport", Kind: ErrRefused, Code: "InvalidMessageType"}
		}}
		c, _ := newTestCache(t, f, clock)
		if _, err := c.Token(context.Background(), "SmsReport", "q"); !errors.Is(err, ErrRefused) || f.n.Load() != 1 {
			t.Fatalf("got %v after %d attempts, want ErrRefused after 1", err, f.n.Load())
		}
	})
	t.Run("the retries end with the caller's deadline", func(t *testing.T) {
		var attempts atomic.Int64
		f := FetcherFunc(func(context.Context, string, string) (Token, error) {
			attempts.Add(1)
			return Token{}, unavailable
		})
		c, err := NewCache(f, CacheOptions{Retry: retry.Policy{Attempts: 100, Backoff: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = c.Token(ctx, "SmsReport", "q")
		if !errors.Is(err, ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
		if took := time.Since(start); took > 15*time.Second {
			t.Fatalf("returned after %v with a 2.5s deadline", took)
		}
		// Pauses of 1s, 2s would end past the deadline: the fetch stops after the second attempt
		// at the latest, wherever the caller stopped waiting.
		deadline := time.After(20 * time.Second)
		for c.fetching("SmsReport") {
			select {
			case <-deadline:
				t.Fatal("the fetch outlived its starter's deadline")
			case <-time.After(10 * time.Millisecond):
			}
		}
		if n := attempts.Load(); n > 3 {
			t.Fatalf("%d attempts within a 2.5s deadline and 1s, 2s, 4s pauses", n)
		}
	})
}

func TestCacheRejectFetchesAtMostOncePerHoldoff(t *testing.T) {
	clock := newFakeClock()
	c, logs := newTestCache(t, &fakeFetcher{clock: clock, life: 10 * time.Minute}, clock)
	first := mustToken(t, c, "SmsReport")
	if !c.Reject("SmsReport", first) {
		t.Fatal("the first rejection should drop the token")
	}
	second := mustToken(t, c, "SmsReport")
	if second.same(first) || c.Fetches() != 2 {
		t.Fatalf("no refetch after a rejection (fetches %d)", c.Fetches())
	}
	if !c.Reject("SmsReport", first) {
		t.Fatal("a late rejection of the replaced token should say a fresh one is there")
	}
	if c.Reject("SmsReport", second) {
		t.Fatal("the replacement was dropped again within the holdoff")
	}
	if got := mustToken(t, c, "SmsReport"); !got.same(second) || c.Fetches() != 2 {
		t.Fatalf("fetches %d, want 2: one refetch per holdoff", c.Fetches())
	}
	if !strings.Contains(logs.String(), "rejected by the queue server again") {
		t.Errorf("the kept token is not explained in the log:\n%s", logs)
	}
	clock.Advance(time.Minute)
	if !c.Reject("SmsReport", second) {
		t.Fatal("after the holdoff a rejection drops the token again")
	}
	if mustToken(t, c, "SmsReport"); c.Fetches() != 3 {
		t.Fatalf("fetches %d, want 3", c.Fetches())
	}
	if c.Reject("Unknown", first) || c.Reject("SmsReport", Token{}) {
		t.Fatal("a rejection of nothing the cache handed out promises a fresh token")
	}
}

func TestFetchLinesGiveMillisecondsAndTheTypesOwnCount(t *testing.T) {
	clock := newFakeClock()
	c, logs := newTestCache(t, &fakeFetcher{clock: clock, life: 10 * time.Minute}, clock)
	for range 3 {
		tok := mustToken(t, c, "SmsReport")
		clock.Advance(2 * time.Minute) // past the holdoff
		c.Reject("SmsReport", tok)
	}
	mustToken(t, c, "SmsUp")
	var upLine string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "alicom token fetched") && strings.Contains(l, "message_type=SmsUp") {
			upLine = l
		}
	}
	if !strings.Contains(upLine, "fetches=1 ") && !strings.HasSuffix(upLine, "fetches=1") {
		t.Errorf("the SmsUp line should count SmsUp's fetches (1), not the instance's (4): %s", upLine)
	}
	if !strings.Contains(upLine, "took_ms=") || strings.Contains(upLine, " took=") {
		t.Errorf("the line should give took_ms: %s", upLine)
	}
}

// FetcherFunc adapts a function to a Fetcher (tests).
type FetcherFunc func(ctx context.Context, messageType, queueName string) (Token, error)

func (f FetcherFunc) Fetch(ctx context.Context, messageType, queueName string) (Token, error) {
	return f(ctx, messageType, queueName)
}
