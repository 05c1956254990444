package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/logbuf"
)

// These tests run the function under the official AWS Lambda Runtime Interface Emulator
// (github.com/aws/aws-lambda-runtime-interface-emulator), which .ci/run installs with
// `go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@latest`.
// Without it on PATH (or AWS_LAMBDA_RIE naming it) they are skipped; the same paths are tested
// against the runtime API stand-in in main_test.go.

func rieBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AWS_LAMBDA_RIE"); p != "" {
		return p
	}
	p, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		t.Skip("aws-lambda-rie is not installed: go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@latest")
	}
	return p
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// rieLine matches the emulator's own lines, which are not the function's.
var rieLine = regexp.MustCompile(`^(\d{2} \w{3} \d{4} [\d:,]+ \[\w+\] \(rapid\)|START RequestId|END RequestId|REPORT RequestId)`)

// invokeRIE starts the emulator with the function as its bootstrap, sends one invocation and
// returns the answer and the function's own log lines.
func invokeRIE(t *testing.T, env []string, event string) (int, string, []string) {
	t.Helper()
	rie := rieBinary(t)
	addr := freeAddr(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", freeAddr(t), functionBinary(t))
	cmd.Env = env
	var out logbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var resp *http.Response
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(event))
		var err error
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the emulator did not answer: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Give the function's last line a moment to reach the pipe.
	time.Sleep(200 * time.Millisecond)
	var own []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l != "" && !rieLine.MatchString(l) {
			own = append(own, l)
		}
	}
	return resp.StatusCode, string(body), own
}

func TestUnderTheOfficialRIEAConfigurationErrorAnswersWithTheError(t *testing.T) {
	env := []string{"PATH=" + os.Getenv("PATH"), "DRAIN_RECEIVERS=many"}
	status, body, lines := invokeRIE(t, env, `{}`)
	want := `{"errorMessage":"DRAIN_RECEIVERS: \"many\" is not valid: expected a whole number from 1 to 64","errorType":"ConfigError"}`
	if status != http.StatusBadGateway || body != want {
		t.Fatalf("status %d body %s\nwant 502 %s", status, body, want)
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `"msg":"cannot start","error_type":"ConfigError"`) {
		t.Fatalf("function lines %q", lines)
	}
}

func TestUnderTheOfficialRIEABadEventIsAnEventError(t *testing.T) {
	srv := startEmulator(t, 0)
	env := baseEnv(srv, "ALICOM_ACCOUNT_UID="+uid, "ALIBABA_CLOUD_ACCESS_KEY_ID="+key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+secret)
	status, body, lines := invokeRIE(t, env, `{"foo":1}`)
	want := `{"errorMessage":"platform: unrecognised event: expected an FC timer event {\"triggerTime\",\"triggerName\",\"payload\"}, a Lambda scheduled event {\"detail-type\":\"Scheduled Event\",...} or {}","errorType":"EventError"}`
	if status != http.StatusOK || body != want {
		t.Fatalf("status %d body %s\nwant 200 %s", status, body, want)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("function line is not JSON: %q", l)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, `"msg":"invocation failed"`) || !strings.Contains(last, `"error_type":"EventError"`) {
		t.Errorf("last line %s", last)
	}
}

func TestUnderTheOfficialRIEOneFailingQueueKeepsTheOthersReport(t *testing.T) {
	srv := startEmulator(t, 3)
	env := baseEnv(srv, "ALICOM_ACCOUNT_UID="+uid, "ALIBABA_CLOUD_ACCESS_KEY_ID="+key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+secret,
		"ALICOM_QUEUE_NAMES=SmsUp=No-Such-Queue")
	status, body, lines := invokeRIE(t, env, `{}`)
	var doc lambdaError
	if err := json.Unmarshal([]byte(body), &doc); err != nil || status != http.StatusOK {
		t.Fatalf("status %d body %s", status, body)
	}
	var msg struct {
		Error  string `json:"error"`
		Result report `json:"result"`
	}
	if err := json.Unmarshal([]byte(doc.Message), &msg); err != nil {
		t.Fatalf("errorMessage %q", doc.Message)
	}
	if doc.Type != "TokenError" || len(msg.Result.Queues) != 2 || msg.Result.Queues[0].Handled != 3 || msg.Result.Queues[1].Stop != "error" {
		t.Fatalf("body %s", body)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("function line is not JSON: %q", l)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, `"msg":"invocation failed"`) || !strings.Contains(last, `"error_type":"TokenError"`) {
		t.Errorf("last line %s", last)
	}
}
