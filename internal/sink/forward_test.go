package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"

	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

// The user's own MNS account, emulated: its keys are the function's keys.
const (
	userKeyID     = "user-key-id"
	userKeySecret = "user-key-secret-7d41e2"
)

func startMNS(t testing.TB, queues ...string) *mnslocal.Server {
	t.Helper()
	srv, err := mnslocal.Start(mnslocal.Config{
		Addr: "127.0.0.1:0", AccessKeyID: userKeyID, AccessKeySecret: userKeySecret,
		MessageTypes: []string{}, Queues: queues, PushRetryScale: 0.001,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func newTestForward(t testing.TB, endpoint string, mod ...func(*ForwardConfig)) *Forward {
	t.Helper()
	cfg := ForwardConfig{
		Endpoint:    endpoint,
		Credentials: token.StaticSource(token.Credentials{AccessKeyID: userKeyID, AccessKeySecret: userKeySecret}),
		Timeout:     5 * time.Second, Linger: time.Second,
	}
	for _, f := range mod {
		f(&cfg)
	}
	f, err := NewForward(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.CloseIdleConnections)
	return f
}

// drainQueue receives everything in a queue of the emulator through the SDK and returns the
// bodies.
func drainQueue(t testing.TB, f *Forward, name string) []string {
	t.Helper()
	if _, err := f.prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	q := ali_mns.NewMNSQueue(name, f.client)
	var bodies []string
	for {
		resp, errc := make(chan ali_mns.BatchMessageReceiveResponse, 1), make(chan error, 1)
		q.BatchReceiveMessage(resp, errc, 16) // no waitseconds: a 0 there makes the SDK send nothing at all
		select {
		case r := <-resp:
			for _, m := range r.Messages {
				bodies = append(bodies, m.MessageBody)
			}
		case err := <-errc:
			if ali_mns.ERR_MNS_MESSAGE_NOT_EXIST.IsEqual(err) {
				return bodies
			}
			t.Fatalf("receive from %s: %v", name, err)
		}
	}
}

func TestForwardedBodiesArriveUnchangedInTheTypesQueue(t *testing.T) {
	srv := startMNS(t, "fwd-SmsReport", "fwd-SmsUp")
	f := newTestForward(t, srv.URL())
	h := f.Queue("fwd-{type}")
	want := map[string][]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, fx := range fixtures(t) {
		if fx.typ != "SmsReport" && fx.typ != "SmsUp" {
			continue
		}
		for i := range 5 {
			m := queued(fmt.Sprintf("%s-%d", name, i), fx.typ, fx.body)
			mu.Lock()
			want[fx.typ] = append(want[fx.typ], m.Body)
			mu.Unlock()
			wg.Go(func() {
				if err := h(context.Background(), m); err != nil {
					t.Errorf("%s: %v", m.ID, err)
				}
			})
		}
	}
	wg.Wait()
	for typ, bodies := range want {
		got := drainQueue(t, f, "fwd-"+typ)
		if !sameMultiset(got, bodies) {
			t.Errorf("%s: the target queue holds %d bodies, want the %d sent, unchanged", typ, len(got), len(bodies))
		}
	}
	st := srv.Stats()
	sent := st.Requests["BatchSendMessage"]
	if st.Requests["SendMessage"] != 0 || sent == 0 || sent > 8 {
		t.Errorf("requests %v: want a few BatchSendMessage for %d messages", st.Requests, len(want["SmsReport"])+len(want["SmsUp"]))
	}
}

func sameMultiset(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[string]int{}
	for _, s := range a {
		n[s]++
	}
	for _, s := range b {
		n[s]--
	}
	for _, v := range n {
		if v != 0 {
			return false
		}
	}
	return true
}

func TestForwardedBodiesArriveUnchangedOnTheTopicTaggedWithTheType(t *testing.T) {
	srv := startMNS(t)
	type push struct{ tag, body string }
	var mu sync.Mutex
	var pushes []push
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		pushes = append(pushes, push{r.Header.Get("x-mns-message-tag"), string(b)})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(endpoint.Close)
	f := newTestForward(t, srv.URL())
	if _, err := f.prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := ali_mns.NewMNSTopicManager(f.client).CreateSimpleTopic("receipts"); err != nil {
		t.Fatal(err)
	}
	if err := ali_mns.NewMNSTopic("receipts", f.client).Subscribe("all", ali_mns.MessageSubsribeRequest{
		Endpoint: endpoint.URL + "/push", NotifyContentFormat: ali_mns.SIMPLIFIED,
	}); err != nil {
		t.Fatal(err)
	}
	h := f.Topic("receipts")
	want := map[string]string{}
	for name, fx := range fixtures(t) {
		m := queued("id-"+name, fx.typ, fx.body)
		if err := h(context.Background(), m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want[m.Body] = fx.typ
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(pushes)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pushes) != len(want) {
		t.Fatalf("%d pushes, want %d", len(pushes), len(want))
	}
	for _, p := range pushes {
		if typ, ok := want[p.body]; !ok || p.tag != TopicTag(typ) || !strings.HasPrefix(typ, p.tag) {
			t.Errorf("push with tag %q and a body that was not sent unchanged (%q)", p.tag, p.body)
		}
	}
}

func TestAFailedForwardKeepsTheMessage(t *testing.T) {
	tests := []struct {
		name   string
		fault  *mnslocal.Fault
		queue  string
		topic  string
		outage bool
	}{
		{name: "a target queue that does not exist", queue: "missing-{type}", outage: true},
		{name: "a target topic that does not exist", topic: "missing", outage: true},
		{name: "an MNS answering 500", queue: "fwd-{type}", fault: &mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultInternalError}, outage: true},
		{name: "an MNS dropping the connection", queue: "fwd-{type}", fault: &mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultDrop}, outage: true},
		{name: "an MNS slower than the timeout", queue: "fwd-{type}", fault: &mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultStall, Stall: 5 * time.Second}, outage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startMNS(t, "fwd-SmsReport")
			if tt.fault != nil {
				srv.SetFault("BatchSendMessage", *tt.fault)
			}
			f := newTestForward(t, srv.URL(), func(c *ForwardConfig) { c.Timeout = time.Second; c.Linger = 10 * time.Millisecond })
			h := f.Queue(tt.queue)
			if tt.topic != "" {
				h = f.Topic(tt.topic)
			}
			r, err := dispatch.NewRouter(dispatch.Options{DeadLetter: noDeadLetter, Fallback: h, MaxAttempts: 1000})
			if err != nil {
				t.Fatal(err)
			}
			out, err := r.Dispatch(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport")))
			if out != dispatch.Retry || err == nil || dispatch.IsUnavailable(err) != tt.outage {
				t.Fatalf("Dispatch = %v, %v (unavailable %v); want Retry, unavailable %v", out, err, dispatch.IsUnavailable(err), tt.outage)
			}
			if strings.Contains(err.Error(), userKeySecret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestAnOversizedMessageIsRefusedAloneInItsBatch(t *testing.T) {
	srv := startMNS(t, "fwd-SmsReport")
	f := newTestForward(t, srv.URL(), func(c *ForwardConfig) { c.Linger = time.Second })
	h := f.Queue("fwd-{type}")
	ok := queued("ok", "SmsReport", fixture(t, "SmsReport"))
	big := queued("big", "SmsReport", fixture(t, "SmsReport"))
	big.Body = strings.Repeat("A", 65537) // larger than the queue's MaximumMessageSize
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, m := range []*dispatch.Message{ok, big} {
		wg.Go(func() { errs[i] = h(context.Background(), m) })
	}
	wg.Wait()
	if errs[0] != nil {
		t.Errorf("the valid message: %v", errs[0])
	}
	if errs[1] == nil {
		t.Errorf("the oversized message was accepted")
	}
	if got := drainQueue(t, f, "fwd-SmsReport"); len(got) != 1 || got[0] != ok.Body {
		t.Errorf("target queue holds %d messages", len(got))
	}
}

func TestDeadLettersGoToTheDeadLetterQueueAsEvents(t *testing.T) {
	srv := startMNS(t, "dead-letters")
	f := newTestForward(t, srv.URL())
	r, err := dispatch.NewRouter(dispatch.Options{DeadLetter: f.DeadLetterQueue("dead-letters")})
	if err != nil {
		t.Fatal(err)
	}
	r.Handle("SmsReport", func(context.Context, *dispatch.Message) error {
		return dispatch.Permanent(errors.New("unknown biz id"))
	})
	m := queued("m1", "SmsReport", fixture(t, "SmsReport"))
	if out, err := r.Dispatch(context.Background(), m); out != dispatch.DeadLettered {
		t.Fatalf("Dispatch = %v, %v", out, err)
	}
	got := drainQueue(t, f, "dead-letters")
	if len(got) != 1 {
		t.Fatalf("%d dead letters in the queue, want 1", len(got))
	}
	var e Event
	if err := json.Unmarshal([]byte(got[0]), &e); err != nil {
		t.Fatal(err)
	}
	if e.MessageID != "m1" || e.Body != m.Body || e.DeadLetter == nil || e.DeadLetter.ReasonCode != dispatch.ReasonPermanent {
		t.Errorf("dead-letter event = %+v", e)
	}
}

func TestALargeDeadLetterFitsInOneMNSMessage(t *testing.T) {
	srv := startMNS(t, "dead-letters")
	f := newTestForward(t, srv.URL(), func(c *ForwardConfig) { c.Linger = 10 * time.Millisecond })
	big := queued("big", "SmsReport", []byte(`{"phone_number":"13000000000","err_msg":"`+strings.Repeat("x", 30000)+`"}`))
	dl := f.DeadLetterQueue("dead-letters")
	if err := dl(context.Background(), big, dispatch.Permanent(errors.New("no"))); err != nil {
		t.Fatal(err)
	}
	got := drainQueue(t, f, "dead-letters")
	var e Event
	if len(got) != 1 || json.Unmarshal([]byte(got[0]), &e) != nil || e.Body != big.Body {
		t.Fatalf("dead letter not recorded with its body")
	}
}

func TestAFailedDeadLetterSendKeepsTheOriginal(t *testing.T) {
	srv := startMNS(t)
	f := newTestForward(t, srv.URL(), func(c *ForwardConfig) { c.Linger = 10 * time.Millisecond })
	r, err := dispatch.NewRouter(dispatch.Options{DeadLetter: f.DeadLetterQueue("no-such-queue")})
	if err != nil {
		t.Fatal(err)
	}
	r.Handle("SmsReport", func(context.Context, *dispatch.Message) error { return dispatch.Permanent(errors.New("no")) })
	out, err := r.Dispatch(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport")))
	if out != dispatch.Retry || !errors.Is(err, dispatch.ErrDeadLetterFailed) {
		t.Fatalf("Dispatch = %v, %v; want Retry with ErrDeadLetterFailed", out, err)
	}
}

func TestForwardWithoutCredentialsKeepsTheMessage(t *testing.T) {
	srv := startMNS(t, "fwd-SmsReport")
	f := newTestForward(t, srv.URL(), func(c *ForwardConfig) {
		c.Credentials = token.DefaultChain(func(string) string { return "" })
		c.Linger = 10 * time.Millisecond
	})
	if err := f.Queue("fwd-{type}")(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport"))); err == nil {
		t.Fatal("forwarded without credentials")
	}
}

func TestNewForwardRefusesWhatCannotWork(t *testing.T) {
	creds := token.StaticSource(token.Credentials{AccessKeyID: "a", AccessKeySecret: "b"})
	for _, cfg := range []ForwardConfig{
		{Endpoint: "http://127.0.0.1:1"},
		{Endpoint: "ftp://x", Credentials: creds},
		{Endpoint: "https://1.mns.cn-hangzhou.aliyuncs.com/queues", Credentials: creds},
	} {
		if _, err := NewForward(cfg); err == nil {
			t.Errorf("NewForward(%+v) accepted", cfg)
		}
	}
}

// An MNS (or a proxy) whose error answer quotes the request's secret and token, as a
// signature error's string-to-sign would: the forward's error must not repeat them.
func TestAForwardErrorNeverShowsTheKeys(t *testing.T) {
	const stsToken = "sts-token-5be0c7a1"
	quoting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error xmlns="http://mns.aliyuncs.com/doc/v1/">`+
			`<Code>SignatureDoesNotMatch</Code><Message>signed with %s and %s</Message>`+
			`<RequestId>5F0C</RequestId><HostId>%s</HostId></Error>`, userKeySecret, stsToken, r.Host)
	}))
	t.Cleanup(quoting.Close)
	f := newTestForward(t, quoting.URL, func(c *ForwardConfig) {
		c.Credentials = token.StaticSource(token.Credentials{AccessKeyID: userKeyID, AccessKeySecret: userKeySecret, SecurityToken: stsToken})
		c.Linger = 10 * time.Millisecond
	})
	m := queued("m1", "SmsReport", fixture(t, "SmsReport"))
	for name, h := range map[string]dispatch.HandlerFunc{"queue": f.Queue("fwd-{type}"), "topic": f.Topic("receipts")} {
		err := h(context.Background(), m)
		if err == nil {
			t.Fatalf("%s: a 403 was taken as sent", name)
		}
		if s := err.Error(); strings.Contains(s, userKeySecret) || strings.Contains(s, stsToken) {
			t.Errorf("%s: the error shows a key: %s", name, s)
		}
	}
}
