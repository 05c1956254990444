package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

// startEmulator runs an emulator on a free loopback port for one test.
func startEmulator(t *testing.T) *mnslocal.Server {
	t.Helper()
	srv, err := mnslocal.Start(mnslocal.Config{Addr: "127.0.0.1:0", MessageTypes: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// mnsctl runs one command in-process with an environment holding only vars.
func mnsctl(t *testing.T, vars map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return vars[k] },
	})
	return code, out.String(), errb.String()
}

func TestQueueCommandsAgainstTheEmulatorWithItsDefaultKeys(t *testing.T) {
	srv := startEmulator(t)
	vars := map[string]string{envEndpoint: srv.URL()}

	if code, out, errs := mnsctl(t, vars, "", "create-queue", "ops-queue"); code != 0 || !strings.Contains(out, "Create Queue Succeed") {
		t.Fatalf("create-queue: %d %q %q", code, out, errs)
	} else if !strings.Contains(errs, "emulator's default keys") {
		t.Errorf("the fallback to the emulator's keys is not announced: %q", errs)
	}
	receipt := `{"phone_number":"13000000000","success":true,"biz_id":"1234^0"}`
	code, out, errs := mnsctl(t, vars, receipt+"\n", "send", "-queue", "ops-queue", "-base64", "-")
	if code != 0 {
		t.Fatalf("send: %d %q", code, errs)
	}
	encoded := base64.StdEncoding.EncodeToString([]byte(receipt))
	sum := md5.Sum([]byte(encoded))
	if !strings.Contains(out, "MessageBodyMD5:"+strings.ToUpper(hex.EncodeToString(sum[:]))) {
		t.Errorf("send did not store base64 of the body as Alicom does: %q", out)
	}

	code, out, _ = mnsctl(t, vars, "", "peek", "-endpoint", srv.URL(), "-queue", "ops-queue", "-decode")
	if code != 0 || !strings.Contains(out, "Body:"+encoded) || !strings.Contains(out, "Decoded:"+receipt) || strings.Contains(out, "ReceiptHandle") {
		t.Fatalf("peek: %d %q", code, out)
	}

	code, out, _ = mnsctl(t, vars, "", "receive", "-queue", "ops-queue", "-n", "16")
	handle := regexp.MustCompile(`ReceiptHandle:(\S+)`).FindStringSubmatch(out)
	if code != 0 || handle == nil || !strings.Contains(out, "DequeueCount:1") {
		t.Fatalf("receive: %d %q", code, out)
	}
	if code, out, errs := mnsctl(t, vars, "", "delete", "-queue", "ops-queue", handle[1]); code != 0 {
		t.Fatalf("delete: %d %q %q", code, out, errs)
	}
	if code, out, _ := mnsctl(t, vars, "", "peek", "-queue", "ops-queue"); code != 0 || !strings.Contains(out, "No message.") {
		t.Fatalf("after delete, peek: %d %q", code, out)
	}
	if code, _, errs := mnsctl(t, vars, "", "send", "-queue", "missing-queue", "x"); code != 1 || !strings.Contains(errs, "QueueNotExist") {
		t.Errorf("send to a missing queue: %d %q", code, errs)
	}
	if code, out, _ := mnsctl(t, vars, "", "delete-queue", "ops-queue"); code != 0 || !strings.Contains(out, "Delete Queue Succeed") {
		t.Errorf("delete-queue: %d %q", code, out)
	}
}

func TestWrongKeysAreRefusedByTheEmulator(t *testing.T) {
	srv := startEmulator(t)
	vars := map[string]string{envEndpoint: srv.URL(), envAccessKeyID: "mnslocal", envAccessSecret: "wrong-secret"}
	code, _, errs := mnsctl(t, vars, "", "create-queue", "q")
	if code != 1 || !strings.Contains(errs, "SignatureDoesNotMatch") {
		t.Fatalf("got %d %q, want a SignatureDoesNotMatch failure", code, errs)
	}
	if strings.Contains(errs, "wrong-secret") {
		t.Error("the secret appears in the error output")
	}
}

func TestBadCommandLinesAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"send", "-queue", "q"},
		{"send", "-queue", "q", "-priority", "0", "x"},
		{"subscribe", "-topic", "t", "ftp://x"},
		{"subscribe", "-topic", "t", "-format", "YAML", "http://127.0.0.1:1/"},
		{"peek", "-queue", "q", "-n", "17"},
		{"create-topic"},
	} {
		if code, _, _ := mnsctl(t, nil, "", args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code, _, _ := mnsctl(t, nil, "", "-h"); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
}

func TestARealEndpointWithoutKeysIsRefusedBeforeAnyRequest(t *testing.T) {
	vars := map[string]string{envEndpoint: "https://1943695596114318.mns.cn-hangzhou.aliyuncs.com"}
	code, _, errs := mnsctl(t, vars, "", "create-topic", "t")
	if code != 1 || !strings.Contains(errs, envAccessKeyID) {
		t.Fatalf("got %d %q, want an error naming %s", code, errs, envAccessKeyID)
	}
}

func TestEndpointsAndCredentials(t *testing.T) {
	for _, s := range []string{"127.0.0.1:9911", "ftp://x", "http://u:p@h", "http://h/path", ""} {
		if _, err := parseEndpoint(s); err == nil {
			t.Errorf("parseEndpoint(%q) accepted", s)
		}
	}
	for _, s := range []string{
		"https://1943695596114318.mns.cn-hangzhou.aliyuncs.com",
		"http://1943695596114318.mns.cn-hangzhou-internal.aliyuncs.com/",
		"http://127.0.0.1:9911",
		"http://localhost:9911",
		"https://mns.example.com",
	} {
		u, err := parseEndpoint(s)
		if err != nil {
			t.Fatalf("parseEndpoint(%q): %v", s, err)
		}
		// Whatever the shape, building a client must not panic.
		if _, err := newMNSClient(u, credentials{KeyID: "id", Secret: "secret"}, 0); err != nil {
			t.Errorf("newMNSClient(%q): %v", s, err)
		}
	}
	u, _ := url.Parse("http://[::1]:9911")
	c, err := resolveCredentials(u, func(string) string { return "" })
	if err != nil || !c.Emulator || c.KeyID != emulatorAccessKeyID {
		t.Errorf("loopback without keys: %+v %v", c, err)
	}
	c, _ = resolveCredentials(u, func(k string) string {
		return map[string]string{envAccessKeyID: "AK", envAccessSecret: "TOPSECRET", envSecurityToken: "TOKEN"}[k]
	})
	if s := c.String(); strings.Contains(s, "TOPSECRET") || strings.Contains(s, "TOKEN") || !strings.Contains(s, "AK") {
		t.Errorf("credentials.String() = %q", s)
	}
	if _, err := resolveCredentials(u, func(k string) string {
		if k == envAccessKeyID {
			return "AK"
		}
		return ""
	}); err == nil {
		t.Error("a key id without a secret was accepted")
	}
}

func TestTopicCommandsDoWhatTheTopicPushGuidesScriptsDo(t *testing.T) {
	srv := startEmulator(t)
	var mu sync.Mutex
	var pushes []*http.Request
	var bodies []string
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		pushes, bodies = append(pushes, r), append(bodies, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(endpoint.Close)
	vars := map[string]string{envEndpoint: srv.URL()}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"create-topic", "MyTopic1"}, "Create Topic Succeed! TopicName:MyTopic1"},
		{[]string{"create-topic", "MyTopic1"}, "Topic already exists"},
		{[]string{"get-topic", "MyTopic1"}, "TopicName:MyTopic1"},
		{[]string{"subscribe", "-topic", "MyTopic1", "-name", "MyTopic1-Sub1", "-format", "simplified", "-strategy", "exponential_decay_retry", endpoint.URL + "/notifications"},
			"Create Subscription Succeed! TopicName:MyTopic1 SubName:MyTopic1-Sub1"},
		{[]string{"get-subscription", "-topic", "MyTopic1", "-name", "MyTopic1-Sub1"}, "Format:SIMPLIFIED Strategy:EXPONENTIAL_DECAY_RETRY"},
		{[]string{"publish", "-topic", "MyTopic1"}, "MessageCount:3"},
		{[]string{"publish", "-topic", "MyTopic1", "-tag", "SmsReport", "-base64", `{"phone_number":"13000000000"}`}, "Publish Message Succeed."},
	}
	for _, s := range steps {
		code, out, errs := mnsctl(t, vars, "", s.args...)
		if code != 0 || !strings.Contains(out, s.want) {
			t.Fatalf("%q: exit %d, stdout %q, stderr %q; want %q", s.args, code, out, errs, s.want)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(bodies)
		mu.Unlock()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pushes arrived, want 4", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	got := strings.Join(bodies, "|")
	mu.Unlock()
	for i := range 3 {
		if !strings.Contains(got, fmt.Sprintf("I am test message %d.", i)) {
			t.Errorf("the topic push guide's message %d was not pushed: %q", i, got)
		}
	}
	if !strings.Contains(got, base64.StdEncoding.EncodeToString([]byte(`{"phone_number":"13000000000"}`))) {
		t.Errorf("the -base64 message was not pushed base64-encoded: %q", got)
	}
	for _, args := range [][]string{
		{"unsubscribe", "-topic", "MyTopic1", "-name", "MyTopic1-Sub1"},
		{"delete-topic", "MyTopic1"},
	} {
		if code, out, errs := mnsctl(t, vars, "", args...); code != 0 || !strings.Contains(out, "Succeed") {
			t.Fatalf("%q: exit %d %q %q", args, code, out, errs)
		}
	}
	if code, _, errs := mnsctl(t, vars, "", "publish", "-topic", "MyTopic1", "x"); code != 1 || !strings.Contains(errs, "TopicNotExist") {
		t.Errorf("publish to a deleted topic: %d %q", code, errs)
	}
}

func TestDemoPushRunsTheWalkThroughEndToEnd(t *testing.T) {
	// Real keys in the environment must not leak into the demo: it talks to its own emulator.
	vars := map[string]string{envAccessKeyID: "LTAIreal", envAccessSecret: "real-secret"}
	code, out, errs := mnsctl(t, vars, "", "demo-push", "-format", "JSON")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{
		"Create Topic Succeed! TopicName:MyTopic1",
		"Create Subscription Succeed! TopicName:MyTopic1 SubName:MyTopic1-Sub1",
		"All 3 messages verified and handled",
		"Delete Topic Succeed! TopicName:MyTopic1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "Notify Message Succeed!"); n != 3 {
		t.Errorf("%d messages handled, want 3:\n%s", n, out)
	}
	if n := strings.Count(out, `"POST" "201" "/notifications"`); n != 3 {
		t.Errorf("%d access-log lines with 201, want 3:\n%s", n, out)
	}
}

func TestDemoAlicomPushRunsEndToEnd(t *testing.T) {
	// A generous answer timeout: a loaded test machine is not what is being tested.
	code, out, errs := mnsctl(t, nil, "", "demo-alicom-push", "-answer-timeout", "30s")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{
		"attempt 1: 500",
		"attempt 2: 200 {\"code\":0,\"msg\":\"接收成功\"}",
		"phone=6591234567 delivered=true",
		"Handler calls per receipt: map[13000000001:1 13000000002:2 6591234567:1]",
		`"message_type":"SmsUp"`,
		"answer: 403",
		"All Alicom pushes acknowledged: 3 batches, 4 POSTs.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestAlicomPushPostsAFileAndReportsEveryAttempt(t *testing.T) {
	var mu sync.Mutex
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			w.WriteHeader(500)
			return
		}
		io.WriteString(w, `{"code":0,"msg":"接收成功"}`)
	}))
	defer srv.Close()
	code, out, errs := mnsctl(t, nil, `[{"biz_id":"1"}]`, "alicom-push", "-schedule", "1ms", srv.URL+"/alicom/SmsReport?token=x")
	if code != 0 || !strings.Contains(out, "attempt 1: 500") || !strings.Contains(out, "attempt 2: 200") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if code, _, errs := mnsctl(t, nil, `{"not":"an array"}`, "alicom-push", srv.URL); code != 1 || !strings.Contains(errs, "not a JSON array") {
		t.Errorf("an object: exit %d, stderr %s", code, errs)
	}
}

func TestAlicomPushSaysWhyItDidNotDeliver(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	url := srv.URL + "/alicom/SmsReport?token=x"
	for _, c := range []struct {
		name, stdin string
		args        []string
		code        int
		want        string
	}{
		{"every attempt refused", `[{}]`, []string{"-schedule", "1ms,1ms", url}, 1, "not acknowledged after 3 attempts"},
		{"a schedule that is not durations", `[{}]`, []string{"-schedule", "1m,soon", url}, 2, `"soon" is not a duration`},
		{"an input over the bound", "[" + strings.Repeat(" ", maxAlicomPushInput) + "]", []string{url}, 1, "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := mnsctl(t, nil, c.stdin, append([]string{"alicom-push"}, c.args...)...)
			if code != c.code || !strings.Contains(errs, c.want) {
				t.Errorf("exit %d, stderr %q: want %d and %q", code, errs, c.code, c.want)
			}
		})
	}
}
