package mnspush_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/logbuf"
	"github.com/alicom-drain/alicom-drain/internal/mnspush"
	"github.com/alicom-drain/alicom-drain/internal/mnspush/mnspushtest"
	"github.com/alicom-drain/alicom-drain/internal/sink"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// recorder is a fake Dispatcher that remembers what it was given and answers as told.
type recorder struct {
	mu      sync.Mutex
	got     []dispatch.Message
	outcome func(m *dispatch.Message) (dispatch.Outcome, error)
}

func (r *recorder) Dispatch(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
	r.mu.Lock()
	r.got = append(r.got, *m)
	r.mu.Unlock()
	if r.outcome != nil {
		return r.outcome(m)
	}
	return dispatch.Handled, nil
}

func (r *recorder) messages() []dispatch.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dispatch.Message(nil), r.got...)
}

// fetchLog wraps a transport and records every URL the endpoint tries to fetch.
type fetchLog struct {
	mu   sync.Mutex
	urls []string
	next http.RoundTripper
}

func (f *fetchLog) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.urls = append(f.urls, r.URL.String())
	f.mu.Unlock()
	return f.next.RoundTrip(r)
}

func (f *fetchLog) fetched() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.urls...)
}

type fixture struct {
	signer *mnspushtest.Signer
	rec    *recorder
	fetch  *fetchLog
	logs   *logbuf.Buffer
	ep     *mnspush.Endpoint
}

func newFixture(t *testing.T, mutate func(*mnspush.Config)) *fixture {
	t.Helper()
	f := &fixture{signer: mnspushtest.NewSigner(t), rec: &recorder{}, logs: &logbuf.Buffer{}}
	cfg := f.signer.Config()
	client := *cfg.HTTPClient
	f.fetch = &fetchLog{next: client.Transport}
	client.Transport = f.fetch
	cfg.HTTPClient = &client
	cfg.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	if mutate != nil {
		mutate(&cfg)
	}
	ep, err := mnspush.New(cfg, f.rec)
	if err != nil {
		t.Fatal(err)
	}
	f.ep = ep
	return f
}

func TestValidPushesInEveryFormatReachTheDispatcher(t *testing.T) {
	for _, format := range []mnspush.Format{mnspush.FormatXML, mnspush.FormatJSON, mnspush.FormatSimplified} {
		t.Run(string(format), func(t *testing.T) {
			f := newFixture(t, nil)
			n := mnspushtest.Sample("F6EA56633844DBFC-1-154BDFB8059-200000004", "I am test message 0. <&> \"quoted\" 中文")
			n.MessageTag = "SmsReport"
			resp := f.ep.Handle(context.Background(), f.signer.Push(n, format))
			if resp.Status != http.StatusCreated {
				t.Fatalf("status %d, want 201; logs:\n%s", resp.Status, f.logs)
			}
			got := f.rec.messages()
			if len(got) != 1 {
				t.Fatalf("dispatched %d messages, want 1", len(got))
			}
			m := got[0]
			if m.ID != n.MessageID || m.Body != n.Message || m.Source != "MyTopic1" || m.Tag != "SmsReport" ||
				m.Type != "SmsReport" || !m.EnqueueTime.Equal(n.PublishTime) || m.DequeueCount != 1 {
				t.Errorf("dispatched %+v", m)
			}
			wantMD5 := n.MessageMD5
			if format == mnspush.FormatSimplified {
				wantMD5 = "" // SIMPLIFIED carries no MessageMD5; Content-MD5 covered the body
			}
			if m.BodyMD5 != wantMD5 {
				t.Errorf("BodyMD5 = %q, want %q", m.BodyMD5, wantMD5)
			}
		})
	}
}

func TestForgedOrAlteredPushesAreRefusedWithoutFetchingForeignURLs(t *testing.T) {
	// The attacker's server holds its own key's certificate at every path and records hits.
	attacker := mnspushtest.NewSigner(t)
	var attackerHits atomic.Int64
	attackerSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attackerHits.Add(1)
		w.Write(attacker.CertPEM)
	}))
	t.Cleanup(attackerSrv.Close)
	attackerHost := strings.TrimPrefix(attackerSrv.URL, "https://")

	f := newFixture(t, nil)
	allowedHost := strings.TrimPrefix(f.signer.Server.URL, "https://")
	f.signer.Mux.HandleFunc("GET /certs/redirect.pem", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, attackerSrv.URL+"/certs/signing-cert.pem", http.StatusFound)
	})

	valid := func() mnspush.Request {
		return mnspushtest.Unsigned(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
	}
	signedBy := func(s *mnspushtest.Signer, certURL string) mnspush.Request {
		r := valid()
		r.Header.Set("X-Mns-Signing-Cert-Url", base64.StdEncoding.EncodeToString([]byte(certURL)))
		s.Sign(&r)
		return r
	}
	tests := []struct {
		name  string
		req   func() mnspush.Request
		want  int
		cause error
	}{
		{"a body changed after signing", func() mnspush.Request {
			r := f.signer.Push(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
			r.Body = bytes.Replace(r.Body, []byte("hello"), []byte("HELLO"), 1)
			return r
		}, 403, mnspush.ErrBodyDigest},
		{"a body and Content-MD5 changed after signing", func() mnspush.Request {
			r := f.signer.Push(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatSimplified)
			r.Body = []byte("evil")
			sum := md5.Sum(r.Body)
			r.Header.Set("Content-MD5", strings.ToUpper(hex.EncodeToString(sum[:])))
			return r
		}, 403, mnspush.ErrBadSignature},
		{"an x-mns header changed after signing", func() mnspush.Request {
			r := f.signer.Push(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatSimplified)
			r.Header.Set("X-Mns-Message-Id", "MSG-2")
			return r
		}, 403, mnspush.ErrBadSignature},
		{"an x-mns header added after signing", func() mnspush.Request {
			r := f.signer.Push(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
			r.Header.Set("x-MNS-extra", "1")
			return r
		}, 403, mnspush.ErrBadSignature},
		{"a path changed after signing", func() mnspush.Request {
			r := f.signer.Push(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
			r.Target = "/notifications?x=1"
			return r
		}, 403, mnspush.ErrBadSignature},
		{"a signature from another key over an allowed certificate URL", func() mnspush.Request {
			return signedBy(attacker, f.signer.CertURL)
		}, 403, mnspush.ErrBadSignature},
		{"a certificate on another host", func() mnspush.Request {
			return signedBy(attacker, attackerSrv.URL+"/certs/signing-cert.pem")
		}, 403, mnspush.ErrCertURLNotAllowed},
		{"a certificate on the allowed host at another port", func() mnspush.Request {
			return signedBy(attacker, "https://127.0.0.1:"+strings.Split(attackerHost, ":")[1]+"/certs/signing-cert.pem")
		}, 403, mnspush.ErrCertURLNotAllowed},
		{"the allowed host as user info in front of another host", func() mnspush.Request {
			return signedBy(attacker, "https://"+allowedHost+"@"+attackerHost+"/certs/signing-cert.pem")
		}, 403, mnspush.ErrCertURLNotAllowed},
		{"http instead of https", func() mnspush.Request {
			return signedBy(attacker, "http://"+allowedHost+"/certs/signing-cert.pem")
		}, 403, mnspush.ErrCertURLNotAllowed},
		{"a path outside the allowed prefix", func() mnspush.Request {
			return signedBy(attacker, "https://"+allowedHost+"/other/signing-cert.pem")
		}, 403, mnspush.ErrCertURLNotAllowed},
		{"an allowed URL that redirects to the attacker", func() mnspush.Request {
			return signedBy(attacker, "https://"+allowedHost+"/certs/redirect.pem")
		}, 403, mnspush.ErrCertRejected},
		{"a missing Authorization", func() mnspush.Request {
			r := f.signer.Push(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
			r.Header.Del("Authorization")
			return r
		}, 403, mnspush.ErrHeader},
		{"a missing certificate URL", func() mnspush.Request {
			r := f.signer.Push(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
			r.Header.Del("X-Mns-Signing-Cert-Url")
			return r
		}, 403, mnspush.ErrHeader},
		{"a missing Date", func() mnspush.Request {
			r := f.signer.Push(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
			r.Header.Del("Date")
			return r
		}, 403, mnspush.ErrHeader},
		{"a missing Content-MD5 on a non-empty body", func() mnspush.Request {
			r := valid()
			f.signer.Sign(&r)
			r.Header.Del("Content-MD5")
			r.Header.Set("Authorization", mnspushtest.SignString(f.signer.Key, mnspush.StringToSign(&r)))
			return r
		}, 403, mnspush.ErrHeader},
		{"a Date header sent twice", func() mnspush.Request {
			r := f.signer.Push(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
			r.Header.Add("Date", r.Header.Get("Date"))
			return r
		}, 403, mnspush.ErrHeader},
		{"a stale Date, correctly signed", func() mnspush.Request {
			r := valid()
			r.Header.Set("Date", time.Now().Add(-20*time.Minute).UTC().Format(http.TimeFormat))
			f.signer.Sign(&r)
			return r
		}, 403, mnspush.ErrStaleDate},
		{"a Date in the future, correctly signed", func() mnspush.Request {
			r := valid()
			r.Header.Set("Date", time.Now().Add(20*time.Minute).UTC().Format(http.TimeFormat))
			f.signer.Sign(&r)
			return r
		}, 403, mnspush.ErrStaleDate},
		{"an Authorization that is not base64", func() mnspush.Request {
			r := f.signer.Push(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
			r.Header.Set("Authorization", "MNS key:sig!")
			return r
		}, 403, mnspush.ErrBadSignature},
		{"a certificate URL that is not base64", func() mnspush.Request {
			r := f.signer.Push(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
			r.Header.Set("X-Mns-Signing-Cert-Url", "https://"+allowedHost+"/certs/signing-cert.pem")
			return r
		}, 403, mnspush.ErrHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.rec.messages())
			req := tt.req()
			resp := f.ep.Handle(context.Background(), req)
			if resp.Status != tt.want {
				t.Fatalf("status %d, want %d; logs:\n%s", resp.Status, tt.want, f.logs)
			}
			if err := f.ep.Verifier().Verify(context.Background(), &req); !errors.Is(err, tt.cause) {
				t.Errorf("Verify = %v, want %v", err, tt.cause)
			}
			if len(f.rec.messages()) != before {
				t.Error("a refused push reached the dispatcher")
			}
		})
	}
	if n := attackerHits.Load(); n != 0 {
		t.Errorf("the attacker's server was fetched %d times", n)
	}
	for _, u := range f.fetch.fetched() {
		if !strings.HasPrefix(u, f.signer.Server.URL+"/certs/") {
			t.Errorf("fetched a URL outside the allow-list: %s", u)
		}
	}
}

func TestTheDefaultAllowListFetchesNothingForLookAlikeHosts(t *testing.T) {
	attacker := mnspushtest.NewSigner(t)
	fetch := &fetchLog{next: attacker.Server.Client().Transport}
	rec := &recorder{}
	ep, err := mnspush.New(mnspush.Config{HTTPClient: &http.Client{Transport: fetch}, Logger: slog.New(slog.DiscardHandler)}, rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		"https://mnstest.oss-cn-hangzhou.aliyuncs.com.evil.example/x509_public_certificate.pem",
		"https://mnstest.oss-cn-hangzhou.aliyuncs.com@evil.example/",
		"https://mnstest.oss-cn-hangzhou.aliyuncs.com:444/x509_public_certificate.pem",
		"http://mnstest.oss-cn-hangzhou.aliyuncs.com/x509_public_certificate.pem",
		attacker.CertURL,
	} {
		r := mnspushtest.Unsigned(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
		r.Header.Set("X-Mns-Signing-Cert-Url", base64.StdEncoding.EncodeToString([]byte(u)))
		attacker.Sign(&r)
		if resp := ep.Handle(context.Background(), r); resp.Status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", u, resp.Status)
		}
	}
	if got := fetch.fetched(); len(got) != 0 {
		t.Errorf("fetched %v", got)
	}
	if attacker.Fetches() != 0 {
		t.Errorf("attacker certificate fetched %d times", attacker.Fetches())
	}
}

func TestMalformedBodiesAreAnswered400(t *testing.T) {
	tests := []struct {
		name   string
		format mnspush.Format
		ctype  string
		body   string
		noID   bool
	}{
		{"an XML notification without MessageId", mnspush.FormatAuto, "text/xml", `<Notification><Message>x</Message></Notification>`, false},
		{"an XML notification without Message", mnspush.FormatAuto, "text/xml", `<Notification><MessageId>1</MessageId></Notification>`, false},
		{"broken XML declared as XML", mnspush.FormatAuto, "text/xml;charset=utf-8", `<Notification><MessageId>1</Mess`, false},
		{"a bad PublishTime", mnspush.FormatAuto, "text/xml", `<Notification><MessageId>1</MessageId><Message>x</Message><PublishTime>yesterday</PublishTime></Notification>`, false},
		{"trailing elements after the notification", mnspush.FormatAuto, "text/xml", `<Notification><MessageId>1</MessageId><Message>x</Message></Notification><Notification/>`, false},
		{"a JSON notification with a numeric MessageId", mnspush.FormatAuto, "application/json", `{"MessageId":1,"Message":"x"}`, false},
		{"broken JSON declared as JSON", mnspush.FormatAuto, "application/json", `{"MessageId":"1",`, false},
		{"plain text without x-mns-message-id", mnspush.FormatAuto, "text/plain", `hello`, true},
		{"an empty body without x-mns-message-id", mnspush.FormatAuto, "text/plain", ``, true},
		{"plain text on an XML subscription", mnspush.FormatXML, "text/plain", `hello`, false},
		{"an XML notification on a JSON subscription", mnspush.FormatJSON, "text/xml", `<Notification><MessageId>1</MessageId><Message>x</Message></Notification>`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *mnspush.Config) { c.Format = tt.format })
			r := mnspushtest.Unsigned(mnspushtest.Sample("MSG-1", "x"), mnspush.FormatSimplified)
			r.Body = []byte(tt.body)
			r.Header.Set("Content-Type", tt.ctype)
			if tt.noID {
				r.Header.Del("X-Mns-Message-Id")
			}
			f.signer.Sign(&r)
			if resp := f.ep.Handle(context.Background(), r); resp.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; logs:\n%s", resp.Status, f.logs)
			}
			if len(f.rec.messages()) != 0 {
				t.Error("a malformed push reached the dispatcher")
			}
		})
	}
}

func TestAFailedHandlerIsAnswered500AndTheRetryIsHandled(t *testing.T) {
	f := newFixture(t, nil)
	var calls atomic.Int64
	f.rec.outcome = func(m *dispatch.Message) (dispatch.Outcome, error) {
		if calls.Add(1) == 1 {
			return dispatch.Retry, errors.New("database down")
		}
		return dispatch.Handled, nil
	}
	n := mnspushtest.Sample("MSG-RETRY", "hello")
	if resp := f.ep.Handle(context.Background(), f.signer.Push(n, mnspush.FormatXML)); resp.Status != http.StatusInternalServerError {
		t.Fatalf("first push: status %d, want 500", resp.Status)
	}
	if resp := f.ep.Handle(context.Background(), f.signer.Push(n, mnspush.FormatXML)); resp.Status != http.StatusCreated {
		t.Fatalf("retry: status %d, want 201", resp.Status)
	}
	got := f.rec.messages()
	if len(got) != 2 || got[0].DequeueCount != 1 || got[1].DequeueCount != 2 {
		t.Fatalf("deliveries %+v, want two with DequeueCount 1 then 2", got)
	}
	if !strings.Contains(f.logs.String(), "database down") {
		t.Errorf("handler error not logged:\n%s", f.logs)
	}
}

// routerFixture is a fixture whose dispatcher is a real Router with handler as the fallback:
// deduplication and recovery are the Router's, as in the function.
func routerFixture(t *testing.T, handler dispatch.HandlerFunc, mutate func(*mnspush.Config)) *fixture {
	t.Helper()
	f := newFixture(t, mutate)
	router, err := dispatch.NewRouter(dispatch.Options{Fallback: handler, DeadLetter: sink.DeadLetterLog(slog.New(slog.NewTextHandler(f.logs, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.signer.Config()
	cfg.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	if mutate != nil {
		mutate(&cfg)
	}
	f.ep, err = mnspush.New(cfg, router)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// alicomBody is a message body as Alicom stores it (base64 of a JSON object), which the
// Router decodes before it runs a handler.
var alicomBody = base64.StdEncoding.EncodeToString([]byte(`{"biz_id":"1","phone_number":"13000000000"}`))

func TestAPanickingHandlerIsAnswered500ByTheRoutersRecovery(t *testing.T) {
	f := routerFixture(t, func(context.Context, *dispatch.Message) error { panic("boom") }, nil)
	if resp := f.ep.Handle(context.Background(), f.signer.Push(mnspushtest.Sample("P", alicomBody), mnspush.FormatXML)); resp.Status != 500 {
		t.Fatalf("status %d, want 500", resp.Status)
	}
	if !strings.Contains(f.logs.String(), "boom") {
		t.Errorf("the panic is not in the log:\n%s", f.logs)
	}
}

func TestAHandlerThatIgnoresItsContextIsAnswered500WithinTheHandlerTimeout(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	f := routerFixture(t, func(context.Context, *dispatch.Message) error {
		calls.Add(1)
		<-release
		return nil
	}, func(c *mnspush.Config) { c.HandlerTimeout = 50 * time.Millisecond })
	n := mnspushtest.Sample("MSG-STUCK", alicomBody)
	start := time.Now()
	if resp := f.ep.Handle(context.Background(), f.signer.Push(n, mnspush.FormatXML)); resp.Status != 500 {
		t.Fatalf("status %d, want 500", resp.Status)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("answered after %s; the handler timeout is 50ms", took)
	}
	// While the abandoned handler still runs, a repeat is refused, not run a second time.
	if resp := f.ep.Handle(context.Background(), f.signer.Push(n, mnspush.FormatXML)); resp.Status != 500 {
		t.Fatalf("repeat while running: status %d, want 500", resp.Status)
	}
	close(release)
	waitUntil(t, "the repeat after the handler returned is acknowledged", func() bool {
		return f.ep.Handle(context.Background(), f.signer.Push(n, mnspush.FormatXML)).Status == http.StatusCreated
	})
	if got := calls.Load(); got != 1 {
		t.Errorf("handler ran %d times, want 1", got)
	}
}

func TestSettledOutcomesAreAcknowledged(t *testing.T) {
	for _, o := range []dispatch.Outcome{dispatch.Handled, dispatch.DeadLettered, dispatch.Duplicate} {
		f := newFixture(t, func(c *mnspush.Config) { c.SuccessStatus = http.StatusNoContent })
		f.rec.outcome = func(*dispatch.Message) (dispatch.Outcome, error) { return o, nil }
		resp := f.ep.Handle(context.Background(), f.signer.Push(mnspushtest.Sample("S", "x"), mnspush.FormatJSON))
		if resp.Status != http.StatusNoContent || resp.Body != "" {
			t.Errorf("outcome %d: status %d body %q, want 204 and no body", o, resp.Status, resp.Body)
		}
	}
}

func TestARepeatedPushOfAHandledMessageDoesNotRunTheHandlerAgain(t *testing.T) {
	var calls atomic.Int64
	f := routerFixture(t, func(context.Context, *dispatch.Message) error { calls.Add(1); return nil }, nil)
	n := mnspushtest.Sample("MSG-DUP", alicomBody)
	for i := range 3 {
		if resp := f.ep.Handle(context.Background(), f.signer.Push(n, mnspush.FormatXML)); resp.Status != http.StatusCreated {
			t.Fatalf("push %d: status %d", i, resp.Status)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("handler ran %d times, want 1", got)
	}
}

func TestAConcurrentRepeatIsRefusedWhileTheFirstDeliveryRuns(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	f := routerFixture(t, func(context.Context, *dispatch.Message) error {
		started <- struct{}{}
		<-release
		return nil
	}, nil)
	n := mnspushtest.Sample("MSG-SLOW", alicomBody)
	first := make(chan int, 1)
	go func() { first <- f.ep.Handle(context.Background(), f.signer.Push(n, mnspush.FormatXML)).Status }()
	<-started
	if s := f.ep.Handle(context.Background(), f.signer.Push(n, mnspush.FormatXML)).Status; s != http.StatusInternalServerError {
		t.Errorf("repeat during the first delivery: status %d, want 500 so that MNS retries later", s)
	}
	close(release)
	if s := <-first; s != http.StatusCreated {
		t.Errorf("first delivery: status %d, want 201", s)
	}
	if len(started) != 0 {
		t.Error("the repeat ran the handler while the first delivery was running")
	}
}

func TestUnsignedRequestsAreRefusedBeforeTheBodyIsRead(t *testing.T) {
	f := newFixture(t, nil)
	srv := httptest.NewServer(f.ep)
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name   string
		header func(h http.Header)
		want   int
	}{
		{"without an Authorization header", func(h http.Header) { h.Del("Authorization") }, http.StatusForbidden},
		{"without a certificate URL", func(h http.Header) { h.Del("X-Mns-Signing-Cert-Url") }, http.StatusForbidden},
		{"with a stale Date", func(h http.Header) { h.Set("Date", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)) }, http.StatusForbidden},
		{"without Content-MD5 over a body", func(h http.Header) { h.Del("Content-Md5") }, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.signer.Push(mnspushtest.Sample("H", "hello"), mnspush.FormatXML)
			tc.header(r.Header)
			body := &countingReader{r: bytes.NewReader(r.Body)}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+r.Target, body)
			req.ContentLength = int64(len(r.Body))
			req.Header = r.Header
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if f.signer.Fetches() != 0 {
				t.Error("a refused request caused a certificate fetch")
			}
		})
	}
}

// countingReader counts the bytes a client sent.
type countingReader struct {
	r *bytes.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestTheCertificateIsFetchedOnceForManyPushes(t *testing.T) {
	f := newFixture(t, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := mnspushtest.Sample("MSG-"+string(rune('A'+i)), "hello")
			if resp := f.ep.Handle(context.Background(), f.signer.Push(n, mnspush.FormatXML)); resp.Status != 201 {
				t.Errorf("status %d", resp.Status)
			}
		}()
	}
	wg.Wait()
	if got := f.signer.Fetches(); got != 1 {
		t.Errorf("certificate fetched %d times, want 1", got)
	}
}

func TestAnUnreachableCertificateIsAnswered503SoMNSRetries(t *testing.T) {
	f := newFixture(t, nil)
	f.signer.Mux.HandleFunc("GET /certs/down.pem", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	})
	r := mnspushtest.Unsigned(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
	r.Header.Set("X-Mns-Signing-Cert-Url", base64.StdEncoding.EncodeToString([]byte(f.signer.Server.URL+"/certs/down.pem")))
	f.signer.Sign(&r)
	if resp := f.ep.Handle(context.Background(), r); resp.Status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.Status)
	}
}

func TestTheFirstPushWaitsForTheCertificateNoLongerThanItsOwnDeadline(t *testing.T) {
	f := newFixture(t, func(c *mnspush.Config) { c.CertFetchTimeout = time.Minute })
	release := make(chan struct{})
	defer close(release)
	f.signer.Mux.HandleFunc("GET /certs/slow.pem", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	r := mnspushtest.Unsigned(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
	r.Header.Set("X-Mns-Signing-Cert-Url", base64.StdEncoding.EncodeToString([]byte(f.signer.Server.URL+"/certs/slow.pem")))
	f.signer.Sign(&r)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	answered := make(chan int, 1)
	go func() { answered <- f.ep.Handle(ctx, r).Status }()
	select {
	case status := <-answered:
		if status != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", status)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the push that started the certificate fetch outlived its deadline (200ms) by more than 20s")
	}
	if n := len(f.rec.messages()); n != 0 {
		t.Errorf("%d messages dispatched, want none", n)
	}
}

func TestTheMessageTypeComesFromTheTagOrTheDefault(t *testing.T) {
	f := newFixture(t, func(c *mnspush.Config) { c.DefaultMessageType = "SmsUp" })
	for i, tc := range []struct{ tag, want string }{{"smsreport", "SmsReport"}, {"", "SmsUp"}, {"campaign-7", "SmsUp"}} {
		n := mnspushtest.Sample("T"+string(rune('0'+i)), "x")
		n.MessageTag = tc.tag
		f.ep.Handle(context.Background(), f.signer.Push(n, mnspush.FormatXML))
		got := f.rec.messages()
		if m := got[len(got)-1]; m.Type != tc.want || m.Tag != tc.tag {
			t.Errorf("tag %q: Type %q Tag %q, want Type %q", tc.tag, m.Type, m.Tag, tc.want)
		}
	}
	g := newFixture(t, nil)
	n := mnspushtest.Sample("U", "x")
	n.MessageTag = "campaign-7"
	g.ep.Handle(context.Background(), g.signer.Push(n, mnspush.FormatXML))
	if m := g.rec.messages()[0]; m.Type != "" {
		t.Errorf("without a default, Type = %q, want empty (generic handler)", m.Type)
	}
}

func TestRefusalsLogAttackerBytesEscapedAndTruncated(t *testing.T) {
	f := newFixture(t, nil)
	r := f.signer.Push(mnspushtest.Sample("MSG-1", "hello"), mnspush.FormatXML)
	evil := "evil\nlevel=ERROR msg=\"forged line\"\x1b[31m" + strings.Repeat("A", 5000)
	r.Header.Set("X-Mns-Request-Id", evil)
	r.Header.Set("X-Mns-Signing-Cert-Url", base64.StdEncoding.EncodeToString([]byte("https://"+evil)))
	r.Target = "/notifications\n" + evil
	if resp := f.ep.Handle(context.Background(), r); resp.Status != 403 {
		t.Fatalf("status %d", resp.Status)
	}
	logs := f.logs.String()
	if strings.Count(logs, "\n") != 2 { // one refusal line, one access line
		t.Errorf("want 2 log lines, got:\n%s", logs)
	}
	if strings.ContainsRune(logs, '\x1b') || strings.Contains(logs, strings.Repeat("A", 200)) {
		t.Errorf("log carries raw or untruncated attacker bytes:\n%.500s", logs)
	}
}

func TestTheAccessLogFollowsTheTopicPushGuidesEndpoint(t *testing.T) {
	var access logbuf.Buffer
	f := newFixture(t, func(c *mnspush.Config) {
		c.AccessLog = &access
		c.Now = func() time.Time { return time.Date(2016, 5, 17, 17, 10, 56, 0, time.UTC) }
	})
	r := mnspushtest.Unsigned(mnspushtest.Sample("M", "I am test message 0."), mnspush.FormatXML)
	r.Header.Set("Date", time.Date(2016, 5, 17, 17, 10, 50, 0, time.UTC).Format(http.TimeFormat))
	r.Header.Set("Host", "10.101.161.37:8080")
	f.signer.Sign(&r)
	if resp := f.ep.Handle(context.Background(), r); resp.Status != 201 {
		t.Fatalf("status %d; logs:\n%s", resp.Status, f.logs)
	}
	want := `[17/May/2016 17:10:56] "POST" "201" "/notifications" "HTTP/1.1" "` + itoa(len(r.Body)) +
		`" "10.101.161.37:8080" "Aliyun Notification Service Agent" "6423F9B7BF94313030AF5EA0" "2015-06-06"` + "\n"
	if got := access.String(); got != want {
		t.Errorf("access log\n got %q\nwant %q", got, want)
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func TestServeHTTPVerifiesWhatTheServerReceived(t *testing.T) {
	f := newFixture(t, nil)
	srv := httptest.NewServer(f.ep)
	t.Cleanup(srv.Close)

	send := func(r mnspush.Request) *http.Response {
		t.Helper()
		req, err := http.NewRequest(r.Method, srv.URL+r.Target, bytes.NewReader(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range r.Header {
			req.Header[k] = vs
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// A target with an escaped path and a query must be verified byte for byte as sent.
	r := mnspushtest.Unsigned(mnspushtest.Sample("H-1", "hello"), mnspush.FormatXML)
	r.Target = "/push/a%20b?sub=MyTopic1-Sub1&x=%2F"
	f.signer.Sign(&r)
	if resp := send(r); resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d, want 201; logs:\n%s", resp.StatusCode, f.logs)
	}
	// Header names in unusual case are canonicalised by the transport; still valid.
	r = mnspushtest.Unsigned(mnspushtest.Sample("H-2", "hello"), mnspush.FormatJSON)
	f.signer.Sign(&r)
	r.Header["content-md5"] = r.Header["Content-Md5"]
	delete(r.Header, "Content-Md5")
	if resp := send(r); resp.StatusCode != http.StatusCreated {
		t.Fatalf("lower-case header: status %d, want 201", resp.StatusCode)
	}
	// Only POST.
	if resp := send(mnspush.Request{Method: http.MethodGet, Target: "/notifications"}); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", resp.StatusCode)
	}
}

func TestAnOversizedBodyIsRefusedBeforeVerification(t *testing.T) {
	f := newFixture(t, func(c *mnspush.Config) { c.MaxBodyBytes = 1024 })
	srv := httptest.NewServer(f.ep)
	t.Cleanup(srv.Close)
	r := mnspushtest.Unsigned(mnspushtest.Sample("BIG", strings.Repeat("x", 4096)), mnspush.FormatSimplified)
	f.signer.Sign(&r)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+r.Target, bytes.NewReader(r.Body))
	req.Header = r.Header
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	if f.signer.Fetches() != 0 {
		t.Error("an oversized request caused a certificate fetch")
	}
}

func TestATokenInTheQueryIsNeverLogged(t *testing.T) {
	var access logbuf.Buffer
	f := newFixture(t, func(c *mnspush.Config) { c.AccessLog = &access })
	r := mnspushtest.Unsigned(mnspushtest.Sample("M", "x"), mnspush.FormatXML)
	r.Target = "/alicomx/SmsReport?token=the-real-secret-0123"
	if resp := f.ep.Handle(context.Background(), r); resp.Status != 403 {
		t.Fatalf("status %d", resp.Status)
	}
	if logs := f.logs.String() + access.String(); strings.Contains(logs, "the-real-secret") {
		t.Errorf("the token reached the log:\n%s", logs)
	}
}
