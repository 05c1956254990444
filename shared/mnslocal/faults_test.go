package mnslocal

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

func TestFaultInternalError(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}, Faults: map[string]Fault{"SendMessage": {Rate: 1, Kind: FaultInternalError}}})
	q := ali_mns.NewMNSQueue("q", customerClient(t, srv))
	send := func() error {
		_, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x", Priority: 8})
		return err
	}
	wantCode(t, send(), "InternalError")
	srv.SetFault("SendMessage", Fault{}) // Rate 0 clears
	mustNoErr(t, send(), "SendMessage after clearing the fault")

	srv.SetFault("QueryTokenForMnsQueue", Fault{Rate: 1, Kind: FaultInternalError})
	_, err := newTokenClient(t, srv, DefaultAccessKeyID, DefaultAccessKeySecret).QueryTokenForMnsQueue(tokenRequest("SmsReport"))
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) || se.HttpStatus() != 500 || se.ErrorCode() != "InternalError" {
		t.Fatalf("token call under a 500 fault: %v", err)
	}
	if err := srv.ConfigureFault("NoSuchOp", Fault{Rate: 1, Kind: FaultDrop}); err == nil {
		t.Fatal("ConfigureFault accepted an unknown operation")
	}
	if err := srv.ConfigureFault("SendMessage", Fault{Rate: 1, Kind: "boom"}); err == nil {
		t.Fatal("ConfigureFault accepted an unknown kind")
	}
}

// dropPattern issues n sequential GetQueueAttributes and records which were dropped.
func dropPattern(t *testing.T, seed int64, n int) string {
	srv := newTestServer(t, Config{Queues: []string{"q"}, Seed: seed,
		Faults: map[string]Fault{"GetQueueAttributes": {Rate: 0.5, Kind: FaultDrop}}})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	var b strings.Builder
	for range n {
		resp, err := rawRequest{method: "GET", target: "/queues/q"}.try(t, srv, client)
		switch {
		case err != nil:
			b.WriteByte('x')
		case resp.status == 200:
			b.WriteByte('.')
		default:
			t.Fatalf("unexpected answer %d %s", resp.status, resp.body)
		}
	}
	if got := srv.Stats().Requests["GetQueueAttributes"]; got != int64(n) {
		t.Fatalf("counted %d requests, want %d (dropped ones included)", got, n)
	}
	return b.String()
}

func TestFaultDropIsReproducibleWithASeed(t *testing.T) {
	a, b := dropPattern(t, 42, 32), dropPattern(t, 42, 32)
	if a != b {
		t.Fatalf("same seed, different drops:\n%s\n%s", a, b)
	}
	if !strings.Contains(a, "x") || !strings.Contains(a, ".") {
		t.Fatalf("rate 0.5 gave %s: want some dropped and some answered", a)
	}
	if c := dropPattern(t, 7, 32); c == a {
		t.Fatalf("seeds 42 and 7 gave the same pattern %s", a)
	}

	// Through the SDK a drop is a transport error, not an MNS error.
	srv := newTestServer(t, Config{Queues: []string{"q"}, Faults: map[string]Fault{"SendMessage": {Rate: 1, Kind: FaultDrop}}})
	_, err := ali_mns.NewMNSQueue("q", customerClient(t, srv)).SendMessage(ali_mns.MessageSendRequest{MessageBody: "x", Priority: 8})
	if err == nil || strings.Contains(err.Error(), "InternalError") {
		t.Fatalf("SDK send under a drop fault: %v", err)
	}
}

func TestFaultStallOutlastsTheClientTimeout(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}, Faults: map[string]Fault{"BatchReceiveMessage": {Rate: 1, Kind: FaultStall, Stall: 5 * time.Second}}})
	if _, err := srv.SendMessage("q", "m"); err != nil {
		t.Fatal(err)
	}
	q := ali_mns.NewMNSQueue("q", newSDKClientTimeout(t, srv, DefaultAccessKeyID, DefaultAccessKeySecret, "", time.Second))
	_, err := receive(q, 16, 0)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "timeout") {
		t.Fatalf("receive under a 5 s stall with a 1 s client timeout: %v", err)
	}
	srv.SetFault("BatchReceiveMessage", Fault{})
	_, err = receive(q, 16, 0)
	mustNoErr(t, err, "receive after clearing the stall")
}

func TestLatencyDelaysEveryRequestWithoutSerializing(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	const latency, n = 400 * time.Millisecond, 10
	srv.SetLatency(latency, 0)
	var wg sync.WaitGroup
	took := make([]time.Duration, n)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			resp := rawRequest{method: "GET", target: "/queues/q"}.do(t, srv)
			took[i] = time.Since(t0)
			if resp.status != 200 {
				t.Errorf("got %d", resp.status)
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	for i, d := range took {
		if d < latency {
			t.Fatalf("request %d took %v, less than the latency %v", i, d, latency)
		}
	}
	if total >= n*latency {
		t.Fatalf("%d concurrent requests took %v: latency serialized them", n, total)
	}
}

func TestStatsCountAndServeJSON(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	c := customerClient(t, srv)
	q := ali_mns.NewMNSQueue("q", c)
	for range 3 {
		_, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "s", Priority: 8})
		mustNoErr(t, err, "send")
	}
	_, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "d", Priority: 8, DelaySeconds: 600})
	mustNoErr(t, err, "send delayed")
	got, err := receive(q, 2, 0)
	mustNoErr(t, err, "receive")
	mustNoErr(t, q.DeleteMessage(got.Messages[0].ReceiptHandle), "delete")
	wantCode(t, q.DeleteMessage(got.Messages[0].ReceiptHandle), "MessageNotExist") // failed ones count too
	_ = issueToken(t, srv, "SmsReport")

	resp, err := http.Get(srv.URL() + "/_mnslocal/stats") // no auth
	mustNoErr(t, err, "GET stats")
	defer resp.Body.Close()
	var st Stats
	mustNoErr(t, json.NewDecoder(resp.Body).Decode(&st), "decode stats")
	want := map[string]int64{"SendMessage": 4, "BatchReceiveMessage": 1, "DeleteMessage": 2, "QueryTokenForMnsQueue": 1}
	for op, n := range want {
		if st.Requests[op] != n {
			t.Errorf("requests[%s] = %d, want %d (all: %v)", op, st.Requests[op], n, st.Requests)
		}
	}
	if st.MNSRequests != 7 || st.TokenRequests != 1 || st.TokensIssued != 1 {
		t.Errorf("mns %d tokens %d issued %d, want 7, 1, 1", st.MNSRequests, st.TokenRequests, st.TokensIssued)
	}
	if qs := st.Queues["q"]; qs != (QueueStats{Active: 1, Inactive: 1, Delayed: 1, Deleted: 1}) {
		t.Errorf("queue stats %+v", qs)
	}
	if _, ok := st.Queues[srv.AlicomQueueName("VoiceReport")]; !ok {
		t.Errorf("the default Alicom queues are missing: %v", st.Queues)
	}

	req, _ := http.NewRequest(http.MethodDelete, srv.URL()+"/_mnslocal/stats", nil)
	r2, err := http.DefaultClient.Do(req)
	mustNoErr(t, err, "DELETE stats")
	r2.Body.Close()
	if st := srv.Stats(); len(st.Requests) != 0 || st.MNSRequests != 0 || st.Queues["q"].Deleted != 0 || st.Queues["q"].Active != 1 {
		t.Fatalf("after reset: %+v", st)
	}
}

func TestLogsNeverCarrySecrets(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := newTestServer(t, Config{AccessKeyID: "custom", AccessKeySecret: "custom-secret-value", Logger: logger})
	tok, err := newTokenClient(t, srv, "custom", "custom-secret-value").QueryTokenForMnsQueue(tokenRequest("SmsReport"))
	mustNoErr(t, err, "token")
	dto := tok.MessageTokenDTO
	_, _ = receive(ali_mns.NewMNSQueue(srv.AlicomQueueName("SmsReport"),
		newSDKClient(t, srv, dto.AccessKeyId, dto.AccessKeySecret, dto.SecurityToken)), 1, 0)
	_, _ = newTokenClient(t, srv, "custom", "wrong").QueryTokenForMnsQueue(tokenRequest("SmsReport"))

	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	if !strings.Contains(logs, "op=BatchReceiveMessage") || !strings.Contains(logs, "op=QueryTokenForMnsQueue") {
		t.Fatalf("no per-request debug lines:\n%s", logs)
	}
	for _, secret := range []string{"custom-secret-value", dto.AccessKeySecret, dto.SecurityToken, "Signature"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log carries %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "access_key_id=custom") || !strings.Contains(logs, "not shown") {
		t.Fatalf("the start summary should name the key id and hide a custom secret:\n%s", logs)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestCloseEndsLongPollsPromptly(t *testing.T) {
	srv, err := Start(Config{Addr: "127.0.0.1:0", Queues: []string{"q"}})
	mustNoErr(t, err, "Start")
	q := ali_mns.NewMNSQueue("q", customerClient(t, srv))
	done := make(chan error, 1)
	go func() { _, err := receive(q, 16, 30); done <- err }()
	waitFor(t, "the long poll", func() bool { return srv.Stats().Requests["BatchReceiveMessage"] == 1 })
	start := time.Now()
	mustNoErr(t, srv.Close(), "Close")
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Close took %v with a 30 s long poll open", took)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll did not end with the server")
	}
	mustNoErr(t, srv.Close(), "second Close")
}

func TestHandlerServesInAnotherServer(t *testing.T) {
	srv := newTestServer(t, Config{})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/_mnslocal/stats")
	mustNoErr(t, err, "GET")
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"the zero config is valid", Config{}, ""},
		{"an address without a port is refused", Config{Addr: "127.0.0.1"}, "Config.Addr"},
		{"a key id without a secret is refused", Config{AccessKeyID: "k"}, "Config.AccessKeyID"},
		{"a key id in the STS namespace is refused", Config{AccessKeyID: "STS.x", AccessKeySecret: "s"}, "Config.AccessKeyID"},
		{"a non-numeric uid is refused", Config{AlicomUID: "12ab"}, "Config.AlicomUID"},
		{"an invalid queue name is refused", Config{Queues: []string{"9lives"}}, "Config.Queues"},
		{"an empty message type is refused", Config{MessageTypes: []string{""}}, "Config.MessageTypes"},
		{"a sub-second visibility is refused", Config{VisibilityTimeout: 500 * time.Millisecond}, "Config.VisibilityTimeout"},
		{"polling wait 31 is refused", Config{PollingWaitSeconds: 31}, "Config.PollingWaitSeconds"},
		{"a negative latency is refused", Config{Latency: -time.Second}, "Config.Latency"},
		{"a fault on an unknown operation is refused", Config{Faults: map[string]Fault{"Nope": {Rate: 1, Kind: FaultDrop}}}, "Nope"},
		{"a fault rate over 1 is refused", Config{Faults: map[string]Fault{"SendMessage": {Rate: 2, Kind: FaultDrop}}}, "rate"},
		{"a fault without a kind is refused", Config{Faults: map[string]Fault{"SendMessage": {Rate: 0.5}}}, "kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestParseFault(t *testing.T) {
	tests := []struct {
		in      string
		op      string
		fault   Fault
		wantErr bool
	}{
		{"BatchReceiveMessage=0.1:500", "BatchReceiveMessage", Fault{Rate: 0.1, Kind: FaultInternalError}, false},
		{"DeleteMessage=1:drop", "DeleteMessage", Fault{Rate: 1, Kind: FaultDrop}, false},
		{"ReceiveMessage=0.5:stall:40s", "ReceiveMessage", Fault{Rate: 0.5, Kind: FaultStall, Stall: 40 * time.Second}, false},
		{"ReceiveMessage=0.5:500:40s", "", Fault{}, true},
		{"ReceiveMessage=half:500", "", Fault{}, true},
		{"Nope=0.5:500", "", Fault{}, true},
		{"SendMessage", "", Fault{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			op, f, err := ParseFault(tt.in)
			if (err != nil) != tt.wantErr || op != tt.op || f != tt.fault {
				t.Fatalf("got %q %+v %v", op, f, err)
			}
		})
	}
}
