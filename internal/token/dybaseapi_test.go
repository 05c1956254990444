package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/config"
)

var roleCreds = Credentials{AccessKeyID: "STS.role-key-id-123", AccessKeySecret: "role-secret-0123456789", SecurityToken: "role-security-token-0123456789/+="}

// fakeDybaseapi records the requests it gets and answers with respond.
type fakeDybaseapi struct {
	*httptest.Server
	mu      sync.Mutex
	queries []url.Values
}

func newFakeDybaseapi(t *testing.T, tls bool, respond func(w http.ResponseWriter, q url.Values)) *fakeDybaseapi {
	t.Helper()
	f := &fakeDybaseapi{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f.mu.Lock()
		f.queries = append(f.queries, r.Form)
		f.mu.Unlock()
		respond(w, r.Form)
	})
	if tls {
		f.Server = httptest.NewTLSServer(h)
	} else {
		f.Server = httptest.NewServer(h)
	}
	t.Cleanup(f.Close)
	return f
}

func (f *fakeDybaseapi) lastQuery() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queries) == 0 {
		return nil
	}
	return f.queries[len(f.queries)-1]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func okAnswer(w http.ResponseWriter, q url.Values) {
	writeJSON(w, 200, map[string]any{"RequestId": "REQ-OK", "Code": "OK", "Message": "OK",
		"MessageTokenDTO": map[string]string{"AccessKeyId": "STS.alicom-key", "AccessKeySecret": "alicom-secret-0123456789",
			"SecurityToken": "alicom-token-0123456789", "CreateTime": "2026-11-22 10:00:00", "ExpireTime": "2026-11-22 10:30:00"}})
}

func newTestDybaseapi(t *testing.T, endpoint string, creds CredentialSource, timeout time.Duration) *Dybaseapi {
	t.Helper()
	d, err := NewDybaseapi(DybaseapiConfig{Endpoint: endpoint, Credentials: creds, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDybaseapiFetchesAToken(t *testing.T) {
	srv := newFakeDybaseapi(t, false, okAnswer)
	d := newTestDybaseapi(t, srv.URL, StaticSource(roleCreds), 0)
	tok, err := d.Fetch(context.Background(), "SmsReport", "Alicom-Queue-1234567890123456-SmsReport")
	if err != nil {
		t.Fatal(err)
	}
	want := Token{AccessKeyID: "STS.alicom-key", AccessKeySecret: "alicom-secret-0123456789", SecurityToken: "alicom-token-0123456789",
		CreateTime: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC), ExpireTime: time.Date(2026, 11, 22, 2, 30, 0, 0, time.UTC)}
	if tok.AccessKeyID != want.AccessKeyID || tok.AccessKeySecret != want.AccessKeySecret || tok.SecurityToken != want.SecurityToken ||
		!tok.CreateTime.Equal(want.CreateTime) || !tok.ExpireTime.Equal(want.ExpireTime) {
		t.Fatalf("got %v, want %v", tok, want)
	}
	q := srv.lastQuery()
	for k, v := range map[string]string{"Action": "QueryTokenForMnsQueue", "Version": "2017-05-25", "MessageType": "SmsReport",
		"QueueName": "Alicom-Queue-1234567890123456-SmsReport", "AccessKeyId": roleCreds.AccessKeyID,
		"SecurityToken": roleCreds.SecurityToken, "RegionId": "cn-hangzhou", "Format": "JSON", "SignatureMethod": "HMAC-SHA1"} {
		if q.Get(k) != v {
			t.Errorf("request parameter %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if q.Get("Signature") == "" {
		t.Error("the request is not signed")
	}
}

func TestDybaseapiWithAnAccessKeySendsNoSecurityToken(t *testing.T) {
	srv := newFakeDybaseapi(t, false, okAnswer)
	d := newTestDybaseapi(t, srv.URL, StaticSource(Credentials{AccessKeyID: "LTAI-user-key", AccessKeySecret: "user-secret-0123456789"}), 0)
	if _, err := d.Fetch(context.Background(), "SmsUp", ""); err != nil {
		t.Fatal(err)
	}
	if q := srv.lastQuery(); q.Has("SecurityToken") || q.Get("AccessKeyId") != "LTAI-user-key" || q.Has("QueueName") && q.Get("QueueName") != "" {
		t.Fatalf("unexpected parameters: %v", q)
	}
}

func TestDybaseapiUsesTheCredentialsOfTheInvocation(t *testing.T) {
	srv := newFakeDybaseapi(t, false, okAnswer)
	d := newTestDybaseapi(t, srv.URL, DefaultChain(func(string) string { return "" }), 0)
	if _, err := d.Fetch(context.Background(), "SmsReport", ""); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("without credentials: got %v, want ErrNoCredentials", err)
	}
	ctx := WithCredentials(context.Background(), roleCreds)
	if _, err := d.Fetch(ctx, "SmsReport", ""); err != nil {
		t.Fatal(err)
	}
	if got := srv.lastQuery().Get("AccessKeyId"); got != roleCreds.AccessKeyID {
		t.Fatalf("AccessKeyId = %q, want the invocation's", got)
	}
}

func TestDybaseapiSpeaksHTTPSWhenTheEndpointSaysSo(t *testing.T) {
	srv := newFakeDybaseapi(t, true, okAnswer)
	d := newTestDybaseapi(t, srv.URL, StaticSource(roleCreds), 0)
	d.base.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	if _, err := d.Fetch(context.Background(), "SmsReport", ""); err != nil {
		t.Fatal(err)
	}
	def, err := NewDybaseapi(DybaseapiConfig{Endpoint: config.DefaultDybaseapiEndpoint, Credentials: StaticSource(roleCreds)})
	if err != nil {
		t.Fatal(err)
	}
	if def.scheme != "HTTPS" || def.domain != "dybaseapi.aliyuncs.com" {
		t.Fatalf("default endpoint: scheme %s domain %s, want HTTPS dybaseapi.aliyuncs.com", def.scheme, def.domain)
	}
}

func TestDybaseapiFailures(t *testing.T) {
	// The server quotes what it got, as the real SignatureDoesNotMatch message does, so the
	// test proves those quotes never reach our errors.
	quote := func(q url.Values) string { return "server string to sign is:POST&%2F&" + url.QueryEscape(q.Encode()) }
	tests := []struct {
		name     string
		respond  func(w http.ResponseWriter, q url.Values)
		wantKind error
		wantText []string
	}{
		{name: "Code other than OK with HTTP 200 is a refusal", wantKind: ErrRefused, wantText: []string{`"SmsReport"`, "code isv.NoPermission", "request id REQ-200"},
			respond: func(w http.ResponseWriter, q url.Values) {
				writeJSON(w, 200, map[string]any{"RequestId": "REQ-200", "Code": "isv.NoPermission", "Message": "no permission " + q.Get("SecurityToken")})
			}},
		{name: "a 4xx answer is a refusal naming the server's code", wantKind: ErrRefused, wantText: []string{"HTTP 404", "code InvalidAccessKeyId.NotFound", "request id REQ-404"},
			respond: func(w http.ResponseWriter, q url.Values) {
				writeJSON(w, 404, map[string]any{"RequestId": "REQ-404", "Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found."})
			}},
		{name: "a bad signature answer loses its quoted string to sign", wantKind: ErrRefused, wantText: []string{"code SignatureDoesNotMatch", "string to sign omitted"},
			respond: func(w http.ResponseWriter, q url.Values) {
				writeJSON(w, 400, map[string]any{"RequestId": "REQ-400", "Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched with our calculation. " + quote(q)})
			}},
		{name: "a 5xx answer is unavailability", wantKind: ErrUnavailable, wantText: []string{"HTTP 503", "code ServiceUnavailable"},
			respond: func(w http.ResponseWriter, q url.Values) {
				writeJSON(w, 503, map[string]any{"RequestId": "REQ-503", "Code": "ServiceUnavailable", "Message": "try later"})
			}},
		{name: "throttling is unavailability", wantKind: ErrUnavailable, wantText: []string{"code Throttling.User"},
			respond: func(w http.ResponseWriter, q url.Values) {
				writeJSON(w, 400, map[string]any{"RequestId": "REQ-T", "Code": "Throttling.User", "Message": "Request was denied due to user flow control."})
			}},
		{name: "a non-JSON error page is unavailability named by its status", wantKind: ErrUnavailable, wantText: []string{"HTTP 502", "code HTTP502"},
			respond: func(w http.ResponseWriter, q url.Values) {
				w.WriteHeader(502)
				fmt.Fprint(w, "<html>bad gateway "+q.Encode()+"</html>")
			}},
		{name: "a token without secret is unusable", wantKind: ErrBadResponse, wantText: []string{"lacks"},
			respond: func(w http.ResponseWriter, q url.Values) {
				writeJSON(w, 200, map[string]any{"RequestId": "REQ-B", "Code": "OK", "MessageTokenDTO": map[string]string{"AccessKeyId": "STS.x", "SecurityToken": "y", "ExpireTime": "2026-11-22 10:30:00"}})
			}},
		{name: "a token with an unreadable expiry is unusable", wantKind: ErrBadResponse, wantText: []string{"ExpireTime", "request id REQ-E"},
			respond: func(w http.ResponseWriter, q url.Values) {
				writeJSON(w, 200, map[string]any{"RequestId": "REQ-E", "Code": "OK", "MessageTokenDTO": map[string]string{"AccessKeyId": "STS.x", "AccessKeySecret": "s", "SecurityToken": "y", "ExpireTime": "soon"}})
			}},
		{name: "an unparsable success body is unusable", wantKind: ErrBadResponse, wantText: []string{"SDK.JsonUnmarshalError"},
			respond: func(w http.ResponseWriter, q url.Values) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"Code": "OK", "MessageTokenDTO": ["`+q.Get("SecurityToken"))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeDybaseapi(t, false, tt.respond)
			d := newTestDybaseapi(t, srv.URL, StaticSource(roleCreds), 0)
			_, err := d.Fetch(context.Background(), "SmsReport", "q")
			if !errors.Is(err, tt.wantKind) {
				t.Fatalf("got %v, want %v", err, tt.wantKind)
			}
			for _, w := range tt.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if l := leaks(err.Error(), roleCreds.AccessKeySecret, roleCreds.SecurityToken, url.QueryEscape(roleCreds.SecurityToken)); l != nil {
				t.Errorf("error leaks %q: %v", l, err)
			}
		})
	}
}

func TestDybaseapiTransportFailuresLeakNothing(t *testing.T) {
	// The SDK puts AccessKeyId and SecurityToken into the URL, and a *url.Error prints it.
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL
	srv.Close()
	d := newTestDybaseapi(t, endpoint, StaticSource(roleCreds), 2*time.Second)
	_, err := d.Fetch(context.Background(), "SmsReport", "q")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if l := leaks(err.Error(), roleCreds.AccessKeySecret, roleCreds.SecurityToken, url.QueryEscape(roleCreds.SecurityToken), "role-security-token"); l != nil {
		t.Fatalf("error leaks %q: %v", l, err)
	}
}

func TestDybaseapiIsBoundedByContextAndTimeout(t *testing.T) {
	hang := make(chan struct{})
	srv := newFakeDybaseapi(t, false, func(w http.ResponseWriter, q url.Values) { <-hang })
	t.Cleanup(func() { close(hang) }) // registered after the server's Close, so it runs first

	t.Run("the caller's deadline ends the call", func(t *testing.T) {
		d := newTestDybaseapi(t, srv.URL, StaticSource(roleCreds), time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := d.Fetch(ctx, "SmsReport", "q")
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want DeadlineExceeded and ErrUnavailable", err)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Fatalf("took %v despite a 200ms deadline", took)
		}
	})
	t.Run("the configured timeout ends the call", func(t *testing.T) {
		d := newTestDybaseapi(t, srv.URL, StaticSource(roleCreds), 200*time.Millisecond)
		_, err := d.Fetch(context.Background(), "SmsReport", "q")
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
		if l := leaks(err.Error(), roleCreds.AccessKeySecret, roleCreds.SecurityToken); l != nil {
			t.Fatalf("error leaks %q: %v", l, err)
		}
	})
	t.Run("an already cancelled context makes no call", func(t *testing.T) {
		d := newTestDybaseapi(t, srv.URL, StaticSource(roleCreds), time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := d.Fetch(ctx, "SmsReport", "q"); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestDybaseapiConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     DybaseapiConfig
		wantErr string
	}{
		{name: "an endpoint alone is valid (defaults for the rest)", cfg: DybaseapiConfig{Endpoint: config.DefaultDybaseapiEndpoint}},
		{name: "no endpoint is rejected", cfg: DybaseapiConfig{}, wantErr: "Endpoint is empty"},
		{name: "a loopback emulator URL is valid", cfg: DybaseapiConfig{Endpoint: "http://127.0.0.1:9911"}},
		{name: "an IPv6 loopback URL is valid", cfg: DybaseapiConfig{Endpoint: "http://[::1]:9911/"}},
		{name: "a URL without scheme is rejected", cfg: DybaseapiConfig{Endpoint: "dybaseapi.aliyuncs.com"}, wantErr: "Endpoint"},
		{name: "another scheme is rejected", cfg: DybaseapiConfig{Endpoint: "ftp://dybaseapi.aliyuncs.com"}, wantErr: "http or https"},
		{name: "a path is rejected", cfg: DybaseapiConfig{Endpoint: "https://dybaseapi.aliyuncs.com/api"}, wantErr: "scheme://host"},
		{name: "user info is rejected", cfg: DybaseapiConfig{Endpoint: "https://user:pw@dybaseapi.aliyuncs.com"}, wantErr: "scheme://host"},
		{name: "a malformed region is rejected", cfg: DybaseapiConfig{Endpoint: config.DefaultDybaseapiEndpoint, Region: "cn hangzhou"}, wantErr: "Region"},
		{name: "a negative timeout is rejected", cfg: DybaseapiConfig{Endpoint: config.DefaultDybaseapiEndpoint, Timeout: -time.Second}, wantErr: "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := NewDybaseapi(tt.cfg); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.wantErr)
			}
			if _, err := NewDybaseapi(tt.cfg); err == nil {
				t.Fatal("NewDybaseapi accepted an invalid config")
			}
		})
	}
}

func TestDybaseapiRejectsAnEmptyMessageType(t *testing.T) {
	d := newTestDybaseapi(t, "http://127.0.0.1:1", StaticSource(roleCreds), 0)
	if _, err := d.Fetch(context.Background(), "", "q"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("got %v", err)
	}
}

// BenchmarkNewSDKClient measures building the SDK client Fetch builds per call.
func BenchmarkNewSDKClient(b *testing.B) {
	d, err := NewDybaseapi(DybaseapiConfig{Endpoint: config.DefaultDybaseapiEndpoint, Credentials: StaticSource(roleCreds)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.newClient(ctx, roleCreds); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetch measures a whole QueryTokenForMnsQueue round trip against a local fake.
func BenchmarkFetch(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { okAnswer(w, nil) }))
	defer srv.Close()
	d, err := NewDybaseapi(DybaseapiConfig{Endpoint: srv.URL, Credentials: StaticSource(roleCreds)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Fetch(ctx, "SmsReport", "q"); err != nil {
			b.Fatal(err)
		}
	}
}

// The server's message is quoted cut to 300 characters. A token it quotes across the cut must
// be taken out before the cut, or the piece before it no longer matches the token and stays.
func TestDybaseapiRedactsAQuotedTokenBeforeShortening(t *testing.T) {
	srv := newFakeDybaseapi(t, false, func(w http.ResponseWriter, q url.Values) {
		writeJSON(w, 200, map[string]any{"RequestId": "REQ-L", "Code": "isv.NoPermission",
			"Message": strings.Repeat("x", 290) + " " + q.Get("SecurityToken")})
	})
	d := newTestDybaseapi(t, srv.URL, StaticSource(roleCreds), 0)
	_, err := d.Fetch(context.Background(), "SmsReport", "q")
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v, want ErrRefused", err)
	}
	if piece := roleCreds.SecurityToken[:8]; strings.Contains(err.Error(), piece) {
		t.Fatalf("error leaks a piece of the token (%q): %v", piece, err)
	}
}
