package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"github.com/alicom-drain/alicom-drain/internal/logbuf"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fcevents "github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/alicom-drain/alicom-drain/internal/mnspush"
	"github.com/alicom-drain/alicom-drain/internal/mnspush/mnspushtest"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

const fixtures = "../../events/push"

func readFixture(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

type recorder struct {
	mu  sync.Mutex
	got []dispatch.Message
}

func (r *recorder) Dispatch(_ context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, *m)
	return dispatch.Handled, nil
}

func (r *recorder) messages() []dispatch.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dispatch.Message(nil), r.got...)
}

func newTestEndpoint(t *testing.T, s *mnspushtest.Signer) (*mnspush.Endpoint, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg := s.Config()
	cfg.Logger = slog.New(slog.DiscardHandler)
	ep, err := mnspush.New(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	return ep, rec
}

// resign replaces the fixture's placeholder signature: it signs the request the event
// converts to, as MNS would have, and writes Date, certificate URL and Authorization back into
// the event's header map under the names the fixture uses.
func resign(t *testing.T, s *mnspushtest.Signer, headers map[string]string, req mnspush.Request) {
	t.Helper()
	for _, k := range []string{"Date", "Authorization", "X-Mns-Signing-Cert-Url"} {
		req.Header.Del(k)
	}
	s.Sign(&req)
	for k := range headers {
		switch http.CanonicalHeaderKey(k) {
		case "Date", "Authorization", "X-Mns-Signing-Cert-Url":
			headers[k] = req.Header.Get(k)
		}
	}
}

func TestFCEventsBecomeTheRequestAsReceived(t *testing.T) {
	var ev fcevents.HTTPTriggerEvent
	readFixture(t, "fc-http-trigger-xml.json", &ev)
	req, _, ok := requestFromFC(&ev)
	if !ok {
		t.Fatal("conversion refused the fixture")
	}
	if req.Method != "POST" || req.Target != "/notifications" || req.Proto != "HTTP/1.1" || req.RemoteAddr != "100.104.22.7" {
		t.Errorf("request line %+v", req)
	}
	if !bytes.HasPrefix(req.Body, []byte(`<?xml`)) || req.Header.Get("X-Mns-Message-Tag") != "SmsReport" ||
		req.Header.Get("Host") != "mns-notify-qwertyuiop.cn-hangzhou.fcapp.run" {
		t.Errorf("headers %v body %.40q", req.Header, req.Body)
	}

	var b64 fcevents.HTTPTriggerEvent
	readFixture(t, "fc-http-trigger-json-base64.json", &b64)
	req, _, ok = requestFromFC(&b64)
	if !ok || !bytes.HasPrefix(req.Body, []byte(`{"Message":`)) || req.Target != "/push/alicom" {
		t.Errorf("base64 body not decoded: %.60q %q", req.Body, req.Target)
	}

	q := map[string]string{"b": "2 3", "a": "1"}
	ev.QueryParameters = &q
	if req, _, _ = requestFromFC(&ev); req.Target != "/notifications?a=1&b=2+3" {
		t.Errorf("query rebuilt as %q", req.Target)
	}
	bad := "%%%"
	yes := true
	ev.Body, ev.IsBase64Encoded = &bad, &yes
	if _, resp, ok := requestFromFC(&ev); ok || resp.Status != http.StatusBadRequest {
		t.Errorf("undecodable base64 body: ok %v status %d", ok, resp.Status)
	}
	if _, _, ok := requestFromFC(&fcevents.HTTPTriggerEvent{}); !ok {
		t.Error("an empty event must convert (and then fail verification), not be refused")
	}
}

func TestLambdaEventsBecomeTheRequestAsReceived(t *testing.T) {
	var ev lambdaevents.LambdaFunctionURLRequest
	readFixture(t, "lambda-function-url-simplified.json", &ev)
	req, _, ok := requestFromLambda(&ev)
	if !ok || req.Method != "POST" || req.Target != "/notifications" || req.Header.Get("X-Mns-Message-Id") != "7E5B1F4C3D2A6B8C9D0E1F2A3B4C5D6E" ||
		string(req.Body) != ev.Body || req.Header.Get("Host") != ev.RequestContext.DomainName {
		t.Errorf("converted %+v", req)
	}
	ev.RawQueryString = "x=%2F&y=1"
	if req, _, _ = requestFromLambda(&ev); req.Target != "/notifications?x=%2F&y=1" {
		t.Errorf("target %q, want the raw query kept as received", req.Target)
	}
}

func TestSignedPushesThroughTheFCRuntimeHandler(t *testing.T) {
	s := mnspushtest.NewSigner(t)
	ep, rec := newTestEndpoint(t, s)
	h := fc.NewHandler(fcHandler(ep))
	for _, name := range []string{"fc-http-trigger-xml.json", "fc-http-trigger-json-base64.json"} {
		t.Run(name, func(t *testing.T) {
			var ev fcevents.HTTPTriggerEvent
			readFixture(t, name, &ev)
			req, _, _ := requestFromFC(&ev)
			resign(t, s, *ev.Headers, req)
			payload, _ := json.Marshal(ev)
			out, err := h.Invoke(context.Background(), payload)
			if err != nil {
				t.Fatal(err)
			}
			var resp fcevents.HTTPTriggerResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d body %q", resp.StatusCode, resp.Body)
			}
			// The same event with its placeholder signature is refused.
			readFixture(t, name, &ev)
			payload, _ = json.Marshal(ev)
			out, _ = h.Invoke(context.Background(), payload)
			json.Unmarshal(out, &resp)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("unsigned fixture: status %d, want 403", resp.StatusCode)
			}
		})
	}
	got := rec.messages()
	if len(got) != 2 || got[0].Type != "SmsReport" || got[0].Source != "alicom-receipts" || got[0].BodyMD5 == "" {
		t.Errorf("dispatched %+v", got)
	}
}

func TestSignedPushesThroughTheLambdaRuntimeHandler(t *testing.T) {
	s := mnspushtest.NewSigner(t)
	ep, rec := newTestEndpoint(t, s)
	var ev lambdaevents.LambdaFunctionURLRequest
	readFixture(t, "lambda-function-url-simplified.json", &ev)
	req, _, _ := requestFromLambda(&ev)
	resign(t, s, ev.Headers, req)
	payload, _ := json.Marshal(ev)
	out, err := lambda.NewHandler(lambdaHandler(ep)).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp lambdaevents.LambdaFunctionURLResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d body %q", resp.StatusCode, resp.Body)
	}
	if got := rec.messages(); len(got) != 1 || got[0].ID != "7E5B1F4C3D2A6B8C9D0E1F2A3B4C5D6E" || got[0].Body != ev.Body || got[0].Tag != "SmsReport" {
		t.Errorf("dispatched %+v", got)
	}
}

func TestLocalModeServesVerifiedPushesOverPlainHTTP(t *testing.T) {
	s := mnspushtest.NewSigner(t)
	// Locally the certificate comes over plain HTTP, as from the emulator.
	plain := httptest.NewServer(s.Mux)
	t.Cleanup(plain.Close)
	s.CertURL = plain.URL + mnspushtest.CertPath
	env := map[string]string{"MNS_CERT_URL_ALLOW": plain.URL + "/certs/"}

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr logbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0"}, func(k string) string { return env[k] }, pw, &stderr)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no start line; stderr: %s", stderr.String())
	}
	addr, ok := strings.CutPrefix(lines.Text(), "Start Endpoint! Address: ")
	if !ok {
		t.Fatalf("start line %q", lines.Text())
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for lines.Scan() {
			b.WriteString(lines.Text() + "\n")
		}
		rest <- b.String()
	}()

	receipt := base64.StdEncoding.EncodeToString([]byte(`{"phone_number":"13000000000","success":true,"biz_id":"1^0","err_code":"DELIVERED"}`))
	n := mnspushtest.Sample("LOCAL-1", receipt)
	n.MessageTag = "SmsReport"
	push := s.Push(n, mnspush.FormatXML)
	httpReq, _ := http.NewRequest(push.Method, addr, bytes.NewReader(push.Body))
	httpReq.Header = push.Header
	resp, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d; stderr:\n%s", resp.StatusCode, stderr.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run exited %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	access := <-rest
	if !strings.Contains(access, `"POST" "201" "/notifications"`) || !strings.Contains(access, `"Aliyun Notification Service Agent"`) {
		t.Errorf("access log %q", access)
	}
	// The default handler logged the typed receipt.
	if log := stderr.String(); !strings.Contains(log, "LOCAL-1") || !strings.Contains(log, "13000000000") {
		t.Errorf("handler log does not show the message:\n%s", log)
	}
}

func TestABadConfigurationExitsWithStatus2(t *testing.T) {
	var stderr logbuf.Buffer
	env := map[string]string{"MNS_CERT_URL_ALLOW": "https://user@mnstest.oss-cn-hangzhou.aliyuncs.com/"}
	code := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "MNS_CERT_URL_ALLOW") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}
