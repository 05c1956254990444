package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/mnspush"
	"github.com/alicom-drain/alicom-drain/internal/mnspush/mnspushtest"
	"github.com/alicom-drain/alicom-drain/internal/platform/platformtest"
)

// These tests build the push function and run it the three ways it is deployed: under the
// Function Compute and Lambda runtime APIs (a stand-in speaking each protocol to the platforms'
// real SDKs, fed the sample HTTP events of events/push) and locally on -listen.

var fn = &platformtest.Binary{Name: "alicom-push"}

func functionBinary(t *testing.T) string {
	t.Helper()
	bin, err := fn.Build()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	fn.Remove()
	os.Exit(code)
}

// signer is a push signer whose certificate is served over plain HTTP, so that the function
// process can fetch it with nothing but MNS_CERT_URL_ALLOW set.
func signer(t *testing.T) (*mnspushtest.Signer, []string) {
	s := mnspushtest.NewSigner(t)
	plain := httptest.NewServer(s.Mux)
	t.Cleanup(plain.Close)
	s.CertURL = plain.URL + mnspushtest.CertPath
	return s, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "MNS_CERT_URL_ALLOW" + "=" + plain.URL + "/certs/"}
}

// resign signs the request an event describes, as MNS would have, and writes Date,
// certificate URL and Authorization back into the event's header map.
func resign(s *mnspushtest.Signer, headers map[string]string, target, body string) {
	h := http.Header{}
	for k, v := range headers {
		switch http.CanonicalHeaderKey(k) {
		case "Date", "Authorization", "X-Mns-Signing-Cert-Url":
		default:
			h.Set(k, v)
		}
	}
	req := mnspush.Request{Method: "POST", Target: target, Header: h, Body: []byte(body)}
	s.Sign(&req)
	for k := range headers {
		switch c := http.CanonicalHeaderKey(k); c {
		case "Date", "Authorization", "X-Mns-Signing-Cert-Url":
			headers[k] = req.Header.Get(c)
		}
	}
}

type httpEvent struct {
	RawPath         string            `json:"rawPath"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	Headers         map[string]string `json:"headers"`
}

// signedEvent returns the sample event re-signed with s, as JSON.
func signedEvent(t *testing.T, s *mnspushtest.Signer, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "push", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	var ev httpEvent
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(raw, &ev)
	body := ev.Body
	if ev.IsBase64Encoded {
		b, _ := base64.StdEncoding.DecodeString(body)
		body = string(b)
	}
	resign(s, ev.Headers, ev.RawPath, body)
	doc["headers"] = ev.Headers
	out, _ := json.Marshal(doc)
	return out
}

func runUnder(t *testing.T, p platformtest.Platform, env []string, event []byte) (platformtest.Result, string) {
	t.Helper()
	rt := platformtest.New(p)
	defer rt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, stderr, err := rt.Run(ctx, functionBinary(t), env, event, platformtest.Invocation{RequestID: "push-req-1"})
	if err != nil {
		t.Fatalf("%v; function stderr:\n%s", err, stderr)
	}
	return res, stderr
}

type httpAnswer struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

func TestSignedPushesAreHandledOnBothPlatforms(t *testing.T) {
	tests := []struct {
		name, event string
		platform    platformtest.Platform
	}{
		{"an XML push through an FC HTTP trigger", "fc-http-trigger-xml.json", platformtest.FC},
		{"a base64 JSON push through an FC HTTP trigger", "fc-http-trigger-json-base64.json", platformtest.FC},
		{"a SIMPLIFIED push through a Lambda function URL", "lambda-function-url-simplified.json", platformtest.Lambda},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, env := signer(t)
			res, logs := runUnder(t, tt.platform, env, signedEvent(t, s, tt.event))
			var ans httpAnswer
			if err := json.Unmarshal(res.Body, &ans); err != nil || res.Failed {
				t.Fatalf("answer %s (%v); logs:\n%s", res.Body, err, logs)
			}
			if ans.StatusCode != http.StatusCreated {
				t.Fatalf("status %d body %q; logs:\n%s", ans.StatusCode, ans.Body, logs)
			}
			if !strings.Contains(logs, `"msg":"alicom message"`) || !strings.Contains(logs, `"request_id":"push-req-1"`) {
				t.Errorf("the default handler's line with the request id is missing:\n%s", logs)
			}
		})
	}
}

func TestAnUnsignedPushIsRefused(t *testing.T) {
	_, env := signer(t)
	raw, err := os.ReadFile("../../events/push/fc-http-trigger-xml.json")
	if err != nil {
		t.Fatal(err)
	}
	res, logs := runUnder(t, platformtest.FC, env, raw)
	var ans httpAnswer
	json.Unmarshal(res.Body, &ans)
	if ans.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403; logs:\n%s", ans.StatusCode, logs)
	}
}

func TestLocallyThePushEndpointServesOnListen(t *testing.T) {
	s, env := signer(t)
	cmd := exec.Command(functionBinary(t), "-listen", "127.0.0.1:0")
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("no start line; stderr: %s", stderr.String())
	}
	addr, ok := strings.CutPrefix(lines.Text(), "Start Endpoint! Address: ")
	if !ok {
		t.Fatalf("start line %q", lines.Text())
	}
	receipt := base64.StdEncoding.EncodeToString([]byte(`{"phone_number":"13000000000","success":true,"biz_id":"1^0","err_code":"DELIVERED"}`))
	n := mnspushtest.Sample("LOCAL-1", receipt)
	n.MessageTag = "SmsReport"
	push := s.Push(n, mnspush.FormatXML)
	req, _ := http.NewRequest(push.Method, addr, bytes.NewReader(push.Body))
	req.Header = push.Header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d; stderr:\n%s", resp.StatusCode, stderr.String())
	}
	if !lines.Scan() || !strings.Contains(lines.Text(), `"POST" "201" "/notifications"`) {
		t.Errorf("access log line %q", lines.Text())
	}
}

// startLocal runs the function on -listen with env and returns its address.
func startLocal(t *testing.T, env []string) string {
	t.Helper()
	cmd := exec.Command(functionBinary(t), "-listen", "127.0.0.1:0")
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("no start line; stderr: %s", stderr.String())
	}
	addr, ok := strings.CutPrefix(lines.Text(), "Start Endpoint! Address: ")
	if !ok {
		t.Fatalf("start line %q", lines.Text())
	}
	go func() { // keep reading the access log, so the function never blocks on it
		for lines.Scan() {
		}
	}()
	return strings.TrimSuffix(addr, "/notifications")
}

// ALICOM_PUSH_MAX_BODY above the platform edge's default must reach the Alicom route: a batch
// within it is the route's to judge (here a wrong token: 403 before the body is read), not the
// edge's 413; one over it is 413.
func TestAnAlicomBatchUpToALICOM_PUSH_MAX_BODYReachesTheRoute(t *testing.T) {
	_, env := signer(t)
	env = append(env, "ALICOM_PUSH_TOKEN=0123456789abcdef0123456789abcdef", "ALICOM_PUSH_MAX_BODY=3145728")
	base := startLocal(t, env)
	for _, tt := range []struct {
		size int
		want int
	}{
		{size: 2 << 20, want: http.StatusForbidden},
		{size: 3<<20 + 1, want: http.StatusRequestEntityTooLarge},
	} {
		body := bytes.Repeat([]byte(" "), tt.size)
		resp, err := http.Post(base+"/alicom/SmsReport?token=wrong-token-wrong-token-wrong-tok", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%d bytes: %v", tt.size, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%d bytes with a wrong token: status %d, want %d", tt.size, resp.StatusCode, tt.want)
		}
	}
}

func TestABadConfigurationIsOneJSONLineAndExitStatus2(t *testing.T) {
	cmd := exec.Command(functionBinary(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MNS_CERT_URL_ALLOW" + "=https://user@mnstest.oss-cn-hangzhou.aliyuncs.com/"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("err = %v, want exit status 2", err)
	}
	out := strings.TrimSpace(stderr.String())
	if strings.Count(out, "\n") != 0 || !json.Valid([]byte(out)) || !strings.Contains(out, `"error_type":"ConfigError"`) ||
		!strings.Contains(out, "MNS_CERT_URL_ALLOW") {
		t.Fatalf("stderr = %s", out)
	}
}

func TestHelpPrintsTheUsageAndExits0(t *testing.T) {
	out, err := exec.Command(functionBinary(t), "-h").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "usage: alicom-push [-listen ADDR]") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}
