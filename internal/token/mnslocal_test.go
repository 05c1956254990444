package token

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/logbuf"

	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

// Tests against the emulator: the real SDK, the real signature, the real wire format.

var emulatorCreds = Credentials{AccessKeyID: mnslocal.DefaultAccessKeyID, AccessKeySecret: mnslocal.DefaultAccessKeySecret}

func startEmulator(t testing.TB) *mnslocal.Server {
	t.Helper()
	srv, err := mnslocal.Start(mnslocal.Config{Addr: "127.0.0.1:0", MessageTypes: []string{"SmsReport", "SmsUp"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func TestDybaseapiAgainstTheEmulator(t *testing.T) {
	srv := startEmulator(t)
	d := newTestDybaseapi(t, srv.URL(), StaticSource(emulatorCreds), 0)
	ctx := context.Background()
	before := time.Now()
	tok, err := d.Fetch(ctx, "SmsReport", srv.AlicomQueueName("SmsReport"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessKeyID, "STS.") || tok.AccessKeySecret == "" || tok.SecurityToken == "" {
		t.Fatalf("incomplete token %v", tok)
	}
	// The emulator's tokens live 10 minutes; ExpireTime has whole seconds. (TestMain put the
	// local zone 16 hours from Beijing: a zone bug cannot hide.)
	if life := tok.ExpireTime.Sub(before); life < 9*time.Minute || life > 11*time.Minute {
		t.Fatalf("ExpireTime %v is %v from now, want about 10m: the zone is wrong", tok.ExpireTime, life)
	}
	if got := srv.Stats().TokenRequests; got != 1 {
		t.Fatalf("TokenRequests = %d, want 1", got)
	}

	t.Run("the invocation's credentials in the context are used", func(t *testing.T) {
		d := newTestDybaseapi(t, srv.URL(), DefaultChain(func(string) string { return "" }), 0)
		if _, err := d.Fetch(WithCredentials(ctx, emulatorCreds), "SmsUp", ""); err != nil {
			t.Fatal(err)
		}
	})
	refusals := []struct {
		name  string
		creds Credentials
		mt    string
		queue string
		code  string
	}{
		{name: "a wrong secret is refused", creds: Credentials{AccessKeyID: emulatorCreds.AccessKeyID, AccessKeySecret: "not-the-secret-42"}, mt: "SmsReport", code: "SignatureDoesNotMatch"},
		{name: "an unknown key is refused", creds: Credentials{AccessKeyID: "stranger", AccessKeySecret: "not-the-secret-42", SecurityToken: "some-role-token-42"}, mt: "SmsReport", code: "InvalidAccessKeyId.NotFound"},
		{name: "a message type without a queue is refused", creds: emulatorCreds, mt: "VoiceReport", code: "InvalidMessageType"},
		{name: "a queue of another message type is refused", creds: emulatorCreds, mt: "SmsUp", queue: srv.AlicomQueueName("SmsReport"), code: "InvalidQueueName"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDybaseapi(t, srv.URL(), StaticSource(tt.creds), 0)
			_, err := d.Fetch(ctx, tt.mt, tt.queue)
			var fe *FetchError
			if !errors.Is(err, ErrRefused) || !errors.As(err, &fe) || fe.Code != tt.code || fe.RequestID == "" {
				t.Fatalf("got %v, want ErrRefused with code %s and a request id", err, tt.code)
			}
			if !strings.Contains(err.Error(), tt.mt) || !strings.Contains(err.Error(), tt.code) {
				t.Errorf("error %q should name the message type and the code", err)
			}
			if l := leaks(err.Error(), tt.creds.AccessKeySecret, tt.creds.SecurityToken); l != nil {
				t.Errorf("error leaks %q", l)
			}
		})
	}
	for _, kind := range []mnslocal.FaultKind{mnslocal.FaultInternalError, mnslocal.FaultDrop} {
		t.Run("fault "+string(kind)+" is unavailability", func(t *testing.T) {
			srv.SetFault("QueryTokenForMnsQueue", mnslocal.Fault{Rate: 1, Kind: kind})
			t.Cleanup(func() { srv.SetFault("QueryTokenForMnsQueue", mnslocal.Fault{}) })
			_, err := d.Fetch(ctx, "SmsReport", "")
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("got %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestCacheOverTheEmulator(t *testing.T) {
	srv := startEmulator(t)
	logs := &logbuf.Buffer{}
	d := newTestDybaseapi(t, srv.URL(), StaticSource(roleCredsFor(emulatorCreds)), 0)
	c, err := NewCache(d, CacheOptions{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	toks := make([]Token, 32)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if toks[i], err = c.Token(ctx, "SmsReport", srv.AlicomQueueName("SmsReport")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := srv.Stats().TokenRequests; got != 1 {
		t.Fatalf("32 concurrent callers made %d token requests, want 1", got)
	}
	secrets := []string{emulatorCreds.AccessKeySecret, toks[0].AccessKeySecret, toks[0].SecurityToken}

	c.Reject("SmsReport", toks[0])
	fresh, err := c.Token(ctx, "SmsReport", srv.AlicomQueueName("SmsReport"))
	if err != nil || fresh.same(toks[0]) {
		t.Fatalf("after Reject: %v, same=%v", err, fresh.same(toks[0]))
	}
	secrets = append(secrets, fresh.AccessKeySecret, fresh.SecurityToken)

	// Failures are logged too: a refused type, and an outage.
	if _, err := c.Token(ctx, "VoiceReport", ""); !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v", err)
	}
	srv.SetFault("QueryTokenForMnsQueue", mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultInternalError})
	if _, err := c.Token(ctx, "SmsUp", ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
	out := logs.String()
	for _, want := range []string{`"msg":"alicom token fetched"`, `"msg":"alicom token rejected by the queue server; dropped, the next call fetches a new one"`, `"msg":"alicom token fetch failed"`, "InvalidMessageType", "InternalError"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if l := leaks(out, secrets...); l != nil {
		t.Fatalf("logs leak %q:\n%s", l, out)
	}
}

// roleCredsFor returns c as a role would present it (with a security token); the emulator's
// customer keys take no token, so this is c unchanged: a hook for readability.
func roleCredsFor(c Credentials) Credentials { return c }
