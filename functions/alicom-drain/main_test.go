package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/platform/platformtest"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

// These tests build the function binary and run it the three ways it is deployed: under the
// Function Compute and Lambda runtime APIs (a stand-in speaking each protocol to the platforms'
// real SDKs) and locally, against the emulator.

var fn = &platformtest.Binary{Name: "alicom-drain"}

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

const (
	key    = "fn-test-key"
	secret = "fn-test-secret-77aa"
	uid    = "1234567890123456"
)

func startEmulator(t *testing.T, messages int) *mnslocal.Server {
	t.Helper()
	srv, err := mnslocal.Start(mnslocal.Config{Addr: "127.0.0.1:0", AccessKeyID: key, AccessKeySecret: secret, AlicomUID: uid, MessageTypes: []string{"SmsReport", "SmsUp"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	body, err := os.ReadFile("../../events/messages/SmsReport.json")
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		t.Fatal(err)
	}
	for range messages {
		if _, err := srv.SendMessage(srv.AlicomQueueName("SmsReport"), base64.StdEncoding.EncodeToString(compact.Bytes())); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// baseEnv is the environment of the function process: the emulator's endpoints and nothing of
// the test process's own environment but PATH and HOME.
func baseEnv(srv *mnslocal.Server, extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"ALICOM_MNS_ENDPOINT=" + srv.URL(), "ALICOM_DYBASEAPI_ENDPOINT=" + srv.URL(),
		"ALICOM_MESSAGE_TYPES=SmsReport,SmsUp", "DRAIN_WAIT_SECONDS=0",
	}, extra...)
}

type report struct {
	Platform     string `json:"platform"`
	RequestID    string `json:"request_id"`
	TokenFetches int    `json:"token_fetches"`
	Trigger      struct {
		Kind string `json:"kind"`
	} `json:"trigger"`
	Queues []struct {
		Queue       string `json:"queue"`
		OldestAgeMS int64  `json:"oldest_age_ms"`
		Handled     int    `json:"handled"`
		Deleted     int    `json:"deleted"`
		Stop        string `json:"stop_reason"`
	} `json:"queues"`
}

func runUnder(t *testing.T, platform platformtest.Platform, env []string, event string, inv platformtest.Invocation) (platformtest.Result, string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", event))
	if err != nil {
		t.Fatal(err)
	}
	return runUnderRaw(t, platform, env, raw, inv)
}

func runUnderRaw(t *testing.T, platform platformtest.Platform, env []string, raw []byte, inv platformtest.Invocation) (platformtest.Result, string) {
	t.Helper()
	rt := platformtest.New(platform)
	defer rt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, stderr, err := rt.Run(ctx, functionBinary(t), env, raw, inv)
	if err != nil {
		t.Fatalf("%v; function stderr:\n%s", err, stderr)
	}
	return res, stderr
}

func TestUnderFunctionComputeTheRoleCredentialsAndAccountOfTheInvocationAreUsed(t *testing.T) {
	srv := startEmulator(t, 40)
	// No keys and no UID in the environment: both come from the invocation, as on FC.
	res, logs := runUnder(t, platformtest.FC, baseEnv(srv), "fc-timer.json", platformtest.Invocation{
		RequestID: "fc-req-1", AccountID: uid, Region: "cn-hangzhou",
		AccessKeyID: key, AccessKeySecret: secret, SecurityToken: "",
	})
	if res.Failed {
		t.Fatalf("invocation failed: %s\nlogs:\n%s", res.Body, logs)
	}
	var rep report
	if err := json.Unmarshal(res.Body, &rep); err != nil {
		t.Fatalf("%v: %s", err, res.Body)
	}
	if rep.Platform != "fc" || rep.RequestID != "fc-req-1" || rep.Trigger.Kind != "fc-timer" || len(rep.Queues) != 2 ||
		rep.Queues[0].Handled != 40 || rep.Queues[0].Deleted != 40 || rep.Queues[1].Stop != "empty" {
		t.Fatalf("report %s", res.Body)
	}
	if strings.Contains(logs, secret) {
		t.Fatal("the role's secret reached the logs")
	}
}

func TestUnderLambdaTheKeysComeFromTheEnvironment(t *testing.T) {
	srv := startEmulator(t, 5)
	env := baseEnv(srv, "ALICOM_ACCOUNT_UID="+uid, "ALIBABA_CLOUD_ACCESS_KEY_ID="+key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+secret)
	res, logs := runUnder(t, platformtest.Lambda, env, "lambda-schedule.json", platformtest.Invocation{RequestID: "aws-req-1"})
	if res.Failed {
		t.Fatalf("invocation failed: %s\nlogs:\n%s", res.Body, logs)
	}
	var rep report
	if err := json.Unmarshal(res.Body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Platform != "lambda" || rep.RequestID != "aws-req-1" || rep.Trigger.Kind != "lambda-schedule" || rep.Queues[0].Deleted != 5 {
		t.Fatalf("report %s", res.Body)
	}
}

func TestUnderFunctionComputeAFailedDrainFailsTheInvocation(t *testing.T) {
	srv := startEmulator(t, 0)
	res, _ := runUnder(t, platformtest.FC, baseEnv(srv, "ALICOM_ACCOUNT_UID="+uid), "fc-timer.json", platformtest.Invocation{
		AccessKeyID: key, AccessKeySecret: "wrong-secret",
	})
	if !res.Failed || !strings.Contains(string(res.Body), "SignatureDoesNotMatch") {
		t.Fatalf("result %+v %s: want a failed invocation that names the refusal", res, res.Body)
	}
}

func TestLocallyTheReportGoesToStdoutAndLogsToStderr(t *testing.T) {
	srv := startEmulator(t, 3)
	cmd := exec.Command(functionBinary(t), "-event", "../../events/fc-timer.json")
	cmd.Env = baseEnv(srv, "ALICOM_ACCOUNT_UID="+uid, "ALIBABA_CLOUD_ACCESS_KEY_ID="+key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+secret)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not the report: %v\n%s", err, stdout.String())
	}
	if rep.Platform != "local" || rep.Queues[0].Handled != 3 {
		t.Fatalf("report %s", stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("stderr line is not JSON: %s", l)
		}
	}
	if len(lines) < 4 {
		t.Fatalf("want a line per message and a summary, got:\n%s", stderr.String())
	}
}

func TestBadConfigurationExitsWithTheVariableAndWhatItExpects(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"a receiver count that is not a number", []string{"DRAIN_RECEIVERS=many"}, `DRAIN_RECEIVERS: \"many\" is not valid: expected a whole number from 1 to 64`},
		{"an endpoint without a scheme", []string{"ALICOM_MNS_ENDPOINT=localhost:9911"}, `ALICOM_MNS_ENDPOINT: \"localhost:9911\" is not an endpoint URL`},
		{"an unknown log level", []string{"LOG_LEVEL=verbose"}, `LOG_LEVEL: \"verbose\" is not a log level`},
		{"a message type in the wrong case", []string{"ALICOM_MESSAGE_TYPES=smsreport"}, `ALICOM_MESSAGE_TYPES: \"smsreport\" is not a message type: did you mean SmsReport?`},
		{"no account UID locally", []string{"ALICOM_ACCOUNT_UID="}, `"variable":"ALICOM_ACCOUNT_UID","problem":"not set, and ALICOM_QUEUE_NAMES names no queue for SmsReport: expected your account UID (digits)"`},
		{"no keys locally", []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=", "ALIBABA_CLOUD_ACCESS_KEY_SECRET="}, `"variable":"ALIBABA_CLOUD_ACCESS_KEY_ID"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(functionBinary(t))
			// Everything else is right, so each case shows its own problem.
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "ALICOM_ACCOUNT_UID=" + uid,
				"ALIBABA_CLOUD_ACCESS_KEY_ID=" + key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + secret}, tt.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
				t.Fatalf("err = %v, want exit status 2", err)
			}
			lines := logLines(t, stderr.String())
			if len(lines) != 1 || lines[0]["error_type"] != "ConfigError" || stdout.Len() != 0 {
				t.Fatalf("want one ConfigError line on stderr and nothing on stdout, got:\n%s%s", stderr.String(), stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr = %s\nwant it to contain %s", stderr.String(), tt.want)
			}
		})
	}
}

// logLines returns the function's stderr as JSON objects, failing the test on any line that is
// not one: logs are JSON on every path, the failure paths included.
func logLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q\nall logs:\n%s", l, stderr)
		}
		out = append(out, m)
	}
	return out
}

type lambdaError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

func TestUnderLambdaOneFailingQueueKeepsTheOthersReport(t *testing.T) {
	srv := startEmulator(t, 3)
	// The SmsUp queue is named explicitly and does not exist: that queue fails, SmsReport drains.
	env := baseEnv(srv, "ALICOM_ACCOUNT_UID="+uid, "ALIBABA_CLOUD_ACCESS_KEY_ID="+key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+secret,
		"ALICOM_QUEUE_NAMES=SmsUp=No-Such-Queue")
	res, logs := runUnder(t, platformtest.Lambda, env, "lambda-schedule.json", platformtest.Invocation{RequestID: "aws-req-2"})
	if !res.Failed {
		t.Fatalf("want a failed invocation, got %s", res.Body)
	}
	var doc lambdaError
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Error  string `json:"error"`
		Result report `json:"result"`
	}
	if err := json.Unmarshal([]byte(doc.Message), &msg); err != nil {
		t.Fatalf("errorMessage is not the error with the report: %q", doc.Message)
	}
	// Dybaseapi refuses a token for a queue that is not the type's: the failure is the token's.
	if doc.Type != "TokenError" || !strings.HasPrefix(msg.Error, "1 of 2 queues failed: No-Such-Queue: ") ||
		len(msg.Result.Queues) != 2 || msg.Result.Queues[0].Handled != 3 || msg.Result.Queues[0].Deleted != 3 ||
		msg.Result.Queues[1].Stop != "error" || msg.Result.RequestID != "aws-req-2" {
		t.Fatalf("response %s", res.Body)
	}
	lines := logLines(t, logs)
	last := lines[len(lines)-1]
	if last["msg"] != "invocation failed" || last["level"] != "ERROR" || last["error_type"] != "TokenError" ||
		last["request_id"] != "aws-req-2" || last["error"] != msg.Error || last["result"] == nil {
		t.Errorf("last log line %v", last)
	}
	for _, l := range lines {
		if _, ok := l["errorType"]; ok || strings.Contains(fmt.Sprint(l["line"]), "errorType") {
			t.Errorf("the runtime SDK's copy of the error document reached the logs: %v", l)
		}
	}
}

func TestUnderLambdaABadEventFailsWithEventError(t *testing.T) {
	srv := startEmulator(t, 0)
	env := baseEnv(srv, "ALICOM_ACCOUNT_UID="+uid, "ALIBABA_CLOUD_ACCESS_KEY_ID="+key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+secret)
	res, logs := runUnderRaw(t, platformtest.Lambda, env, []byte(`{"foo":1}`), platformtest.Invocation{RequestID: "aws-req-3"})
	want := `{"errorMessage":"platform: unrecognised event: expected an FC timer event {\"triggerTime\",\"triggerName\",\"payload\"}, a Lambda scheduled event {\"detail-type\":\"Scheduled Event\",...} or {}","errorType":"EventError"}`
	if !res.Failed || string(res.Body) != want {
		t.Fatalf("response %s\nwant     %s", res.Body, want)
	}
	lines := logLines(t, logs)
	last := lines[len(lines)-1]
	if last["msg"] != "invocation failed" || last["error_type"] != "EventError" || last["request_id"] != "aws-req-3" {
		t.Errorf("last log line %v", last)
	}
}

func TestUnderLambdaAConfigurationErrorIsTheInitError(t *testing.T) {
	srv := startEmulator(t, 0)
	env := baseEnv(srv, "ALICOM_ACCOUNT_UID="+uid, "ALIBABA_CLOUD_ACCESS_KEY_ID="+key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+secret,
		"DRAIN_RECEIVERS=many")
	res, logs := runUnder(t, platformtest.Lambda, env, "lambda-schedule.json", platformtest.Invocation{RequestID: "aws-req-4"})
	want := `{"errorMessage":"DRAIN_RECEIVERS: \"many\" is not valid: expected a whole number from 1 to 64","errorType":"ConfigError"}`
	if !res.Init || res.ErrorType != "ConfigError" || string(res.Body) != want {
		t.Fatalf("result %+v %s\nwant init error %s", res, res.Body, want)
	}
	lines := logLines(t, logs)
	if len(lines) != 1 || lines[0]["msg"] != "cannot start" || lines[0]["error_type"] != "ConfigError" {
		t.Fatalf("logs %v", lines)
	}
	details, _ := json.Marshal(lines[0]["details"])
	if string(details) != `[{"problem":"\"many\" is not valid: expected a whole number from 1 to 64","variable":"DRAIN_RECEIVERS"}]` {
		t.Errorf("details %s", details)
	}
}

func TestMetricsLinesArePublishedPerQueue(t *testing.T) {
	srv := startEmulator(t, 4)
	env := baseEnv(srv, "ALICOM_ACCOUNT_UID="+uid, "ALIBABA_CLOUD_ACCESS_KEY_ID="+key, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+secret, "LOG_LEVEL=error")
	res, logs := runUnder(t, platformtest.Lambda, env, "lambda-schedule.json", platformtest.Invocation{RequestID: "aws-req-5"})
	if res.Failed {
		t.Fatalf("failed: %s\n%s", res.Body, logs)
	}
	var metrics []map[string]any
	for _, l := range logLines(t, logs) {
		if l["msg"] == "alicom-drain metrics" {
			metrics = append(metrics, l)
		}
	}
	if len(metrics) != 2 {
		t.Fatalf("want a metrics line per queue even at LOG_LEVEL=error, got %d:\n%s", len(metrics), logs)
	}
	m := metrics[0]
	// The line as written, where the EMF member comes first.
	first := logs[strings.Index(logs, `{"_aws":`):]
	aws := first[:strings.IndexByte(first, '\n')]
	if m["message_type"] != "SmsReport" || m["function"] != "alicom-drain" || m["received"] != 4.0 || m["handled"] != 4.0 || m["request_id"] != "aws-req-5" ||
		!strings.Contains(aws, `"CloudWatchMetrics":[{"Namespace":"AlicomDrain","Dimensions":[["function","message_type"]],"Metrics":[{"Name":"received","Unit":"Count"}`) {
		t.Errorf("metrics line %v", m)
	}
	if age, _ := m["oldest_age_ms"].(float64); age < 0 {
		t.Errorf("oldest_age_ms = %v", m["oldest_age_ms"])
	}
}

func TestHelpPrintsAProperUsageAndExits0(t *testing.T) {
	out, err := exec.Command(functionBinary(t), "-h").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "usage: alicom-drain [-event FILE] [-timeout DURATION]") ||
		!strings.Contains(string(out), "ALIBABA_CLOUD_ACCESS_KEY_ID") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}

func TestUnderFunctionComputeAConfigurationErrorFailsEveryInvocation(t *testing.T) {
	srv := startEmulator(t, 0)
	res, logs := runUnder(t, platformtest.FC, baseEnv(srv, "DRAIN_BATCH_SIZE=17"), "fc-timer.json", platformtest.Invocation{RequestID: "fc-req-9"})
	want := `{"errorMessage":"DRAIN_BATCH_SIZE: \"17\" is not valid: expected a whole number from 1 to 16","errorType":"ConfigError"}`
	if !res.Failed || string(res.Body) != want {
		t.Fatalf("result %s\nwant %s", res.Body, want)
	}
	lines := logLines(t, logs)
	last := lines[len(lines)-1]
	if lines[0]["msg"] != "cannot start" || last["msg"] != "invocation failed" || last["request_id"] != "fc-req-9" || last["error_type"] != "ConfigError" {
		t.Fatalf("logs %v", lines)
	}
}
