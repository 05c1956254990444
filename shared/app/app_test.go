package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/events"
	"github.com/alicom-drain/alicom-drain/internal/logbuf"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/drain"
	"github.com/alicom-drain/alicom-drain/internal/platform"
	"github.com/alicom-drain/alicom-drain/internal/queue"
	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

// These tests run the drain function's handler in-process, through the real aliyun-mns-go-sdk
// and the real dybaseapi client, over HTTP, against the emulator.

const (
	customerKey    = "test-key-id"
	customerSecret = "test-key-secret-3f9a1c"
	uid            = "1234567890123456"
)

// clock lets a test move the emulator's time forward, so that visibility timeouts pass without
// the test sleeping.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

type env struct {
	t     *testing.T
	srv   *mnslocal.Server
	clock *clock
	logs  *logbuf.Buffer
}

func newEnv(t *testing.T, types ...string) *env {
	t.Helper()
	c := &clock{}
	srv, err := mnslocal.Start(mnslocal.Config{
		Addr: "127.0.0.1:0", AccessKeyID: customerKey, AccessKeySecret: customerSecret,
		AlicomUID: uid, MessageTypes: types, VisibilityTimeout: 30 * time.Second, Now: c.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &env{t: t, srv: srv, clock: c, logs: &logbuf.Buffer{}}
}

// config returns the function's configuration for the emulator, as the environment would give it.
func (e *env) config(extra map[string]string) config.Config {
	e.t.Helper()
	vars := map[string]string{
		"ALICOM_MESSAGE_TYPES":      "SmsReport",
		"ALICOM_ACCOUNT_UID":        uid,
		"ALICOM_MNS_ENDPOINT":       e.srv.URL(),
		"ALICOM_DYBASEAPI_ENDPOINT": e.srv.URL(),
		"DRAIN_WAIT_SECONDS":        "0",
		"LOG_LEVEL":                 "debug",
	}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg
}

// function builds the handler as Main would, with router customised by register.
func (e *env) function(cfg config.Config, register func(r *dispatch.Router)) *Drain {
	e.t.Helper()
	logger := NewLogger(e.logs, cfg.LogLevel)
	r, err := NewRouter(cfg, logger)
	if err != nil {
		e.t.Fatal(err)
	}
	if register != nil {
		register(r)
	}
	d, err := New(cfg, r, logger, token.StaticSource(token.Credentials{AccessKeyID: customerKey, AccessKeySecret: customerSecret}))
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) invoke(ctx context.Context, d *Drain) (Report, error) {
	e.t.Helper()
	res, err := d.Invoke(ctx, platform.Invocation{Platform: platform.Local, RequestID: "test"})
	rep, _ := res.(Report)
	return rep, err
}

// sample returns the body of a sample message (package events), as Alicom enqueues it.
func sample(t *testing.T, name string) string {
	t.Helper()
	for _, m := range events.Messages() {
		if m.Name == name {
			return m.Body
		}
	}
	t.Fatalf("no sample %q in package events", name)
	return ""
}

func (e *env) send(msgType, body string, n int) []string {
	e.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := e.srv.SendMessage(e.srv.AlicomQueueName(msgType), body)
		if err != nil {
			e.t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

func (e *env) queueStats(msgType string) mnslocal.QueueStats {
	return e.srv.Stats().Queues[e.srv.AlicomQueueName(msgType)]
}

// recorder is a handler that counts the messages it saw by id.
type recorder struct {
	mu   sync.Mutex
	seen map[string]int
	last map[string]*dispatch.Message
}

func newRecorder() *recorder {
	return &recorder{seen: map[string]int{}, last: map[string]*dispatch.Message{}}
}

func (r *recorder) handle(ctx context.Context, m *dispatch.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[m.ID]++
	r.last[m.ID] = m
	return nil
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

func TestAMixedBacklogIsHandledOnceAndDeleted(t *testing.T) {
	types := []string{"SmsReport", "SmsUp", "VoiceReport", "VoiceCallReport", "DypnsSmsVerifyReport", "MnsCardTemplate"}
	e := newEnv(t, types...)
	want := map[string][]string{}
	for _, typ := range types {
		want[typ] = e.send(typ, sample(t, typ), 37)
	}
	want["SmsUp"] = append(want["SmsUp"], e.send("SmsUp", sample(t, "SmsUp-compact-time"), 5)...)
	want["SmsUp"] = append(want["SmsUp"], e.send("SmsUp", sample(t, "SmsUp-sequence-string"), 5)...)

	rec := newRecorder()
	cfg := e.config(map[string]string{"ALICOM_MESSAGE_TYPES": strings.Join(types, ",")})
	d := e.function(cfg, func(r *dispatch.Router) {
		for _, typ := range types {
			r.Handle(typ, rec.handle)
		}
	})
	rep, err := e.invoke(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	for i, typ := range types {
		q := rep.Queues[i]
		n := int64(len(want[typ]))
		if q.MessageType != typ || q.Received != n || q.Handled != n || q.Deleted != n || q.Failed != 0 || q.Stop != drain.StopEmpty {
			t.Errorf("%s: report %+v, want %d handled and deleted", typ, q, n)
		}
		for _, id := range want[typ] {
			if got := rec.count(id); got != 1 {
				t.Errorf("%s message %s handled %d times", typ, id, got)
			}
		}
		if st := e.queueStats(typ); st.Active+st.Inactive+st.Delayed != 0 || st.Deleted != n {
			t.Errorf("%s: queue after the drain %+v", typ, st)
		}
	}
	if rep.TokenFetches != int64(len(types)) {
		t.Errorf("token fetches = %d, want one per type", rep.TokenFetches)
	}
	// Decoded payloads reached the handler typed.
	for _, id := range want["SmsReport"][:1] {
		if _, ok := rec.last[id].Payload.(interface{ Delivered() bool }); !ok {
			t.Errorf("SmsReport payload is %T", rec.last[id].Payload)
		}
	}
}

func TestTheDefaultHandlerLogsEachMessageAsOneJSONLine(t *testing.T) {
	e := newEnv(t, "SmsReport")
	ids := e.send("SmsReport", sample(t, "SmsReport"), 2)
	d := e.function(e.config(nil), nil)
	if _, err := e.invoke(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, line := range strings.Split(e.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["message_id"] == nil || rec["receipt"] == nil {
			continue
		}
		receipt, _ := rec["receipt"].(map[string]any)
		if rec["message_type"] != "SmsReport" || rec["dequeue_count"] != float64(1) || receipt["biz_id"] == nil {
			t.Errorf("log line %s", line)
		}
		if rec["message_id"] == ids[0] || rec["message_id"] == ids[1] {
			found++
		}
	}
	if found != 2 {
		t.Fatalf("found %d message lines in\n%s", found, e.logs.String())
	}
}

func TestFailingHandlersKeepMessagesUntilThePoisonThreshold(t *testing.T) {
	e := newEnv(t, "SmsReport")
	ids := e.send("SmsReport", sample(t, "SmsReport"), 3)
	var calls sync.Map
	d := e.function(e.config(map[string]string{"DRAIN_MAX_ATTEMPTS": "3"}), func(r *dispatch.Router) {
		r.Handle("SmsReport", func(ctx context.Context, m *dispatch.Message) error {
			n, _ := calls.LoadOrStore(m.ID, new(atomic.Int64))
			if got := n.(*atomic.Int64).Add(1); got != m.DequeueCount {
				t.Errorf("call %d of %s arrived with DequeueCount %d", got, m.ID, m.DequeueCount)
			}
			return errors.New("downstream unavailable")
		})
	})
	for attempt := 1; attempt <= 3; attempt++ {
		rep, err := e.invoke(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		q := rep.Queues[0]
		if attempt < 3 && (q.Failed != 3 || q.Deleted != 0 || q.DeadLettered != 0) {
			t.Fatalf("attempt %d: %+v, want all three kept", attempt, q)
		}
		if attempt == 3 && (q.DeadLettered != 3 || q.Deleted != 3) {
			t.Fatalf("attempt %d: %+v, want all three dead-lettered and deleted", attempt, q)
		}
		e.clock.advance(31 * time.Second) // past the visibility timeout: the kept messages come back
	}
	if st := e.queueStats("SmsReport"); st.Active+st.Inactive != 0 || st.Deleted != 3 {
		t.Fatalf("queue %+v", st)
	}
	for _, id := range ids {
		if !strings.Contains(e.logs.String(), id) {
			t.Errorf("dead-letter line for %s missing", id)
		}
	}
	if !strings.Contains(e.logs.String(), "downstream unavailable") {
		t.Error("the dead-letter reason does not carry the handler's error")
	}
}

// corrupting wraps the real queue and changes one message's body after receipt, as a
// corrupted transfer would.
type corrupting struct {
	queue.Queue
	id string
}

func (c corrupting) Receive(ctx context.Context, max int, wait time.Duration) ([]queue.Message, error) {
	msgs, err := c.Queue.Receive(ctx, max, wait)
	for i := range msgs {
		if msgs[i].ID == c.id {
			msgs[i].Body = "A" + msgs[i].Body[1:]
		}
	}
	return msgs, err
}

func TestUndecodableBodiesAreDeadLetteredWithTheirReason(t *testing.T) {
	e := newEnv(t, "SmsReport")
	notBase64 := e.send("SmsReport", "this is not base64!", 1)[0]
	notJSON := e.send("SmsReport", base64.StdEncoding.EncodeToString([]byte("<xml/>")), 1)[0]
	corrupted := e.send("SmsReport", sample(t, "SmsReport"), 1)[0]
	good := e.send("SmsReport", sample(t, "SmsReport"), 1)[0]

	rec := newRecorder()
	d := e.function(e.config(nil), func(r *dispatch.Router) { r.Handle("SmsReport", rec.handle) })
	q, err := d.queue("SmsReport", e.srv.AlicomQueueName("SmsReport"))
	if err != nil {
		t.Fatal(err)
	}
	d.queues[e.srv.AlicomQueueName("SmsReport")] = corrupting{Queue: q, id: corrupted}

	rep, err := e.invoke(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	// An MD5 mismatch is a transport fault: the intact original stays in the queue (issue 8).
	if q := rep.Queues[0]; q.Handled != 1 || q.DeadLettered != 2 || q.Failed != 1 || q.Deleted != 3 {
		t.Fatalf("report %+v", q)
	}
	if rec.count(good) != 1 || rec.count(notBase64)+rec.count(notJSON)+rec.count(corrupted) != 0 {
		t.Fatal("the handler saw a message it should not have")
	}
	logs := e.logs.String()
	for id, reason := range map[string]string{notBase64: "base64", notJSON: "json"} {
		line := lineWith(logs, id, "dead-lettered")
		if line == "" || !strings.Contains(strings.ToLower(line), reason) {
			t.Errorf("dead-letter line for %s should name %q: %s", id, reason, line)
		}
	}
}

func lineWith(logs string, parts ...string) string {
	for _, line := range strings.Split(logs, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return line
		}
	}
	return ""
}

func TestATokenThatExpiresMidDrainIsRefreshedWithoutLosingAMessage(t *testing.T) {
	e := newEnv(t, "SmsReport")
	ids := e.send("SmsReport", sample(t, "SmsReport"), 100)
	rec := newRecorder()
	var expired atomic.Bool
	d := e.function(e.config(map[string]string{"DRAIN_RECEIVERS": "1"}), func(r *dispatch.Router) {
		r.Handle("SmsReport", func(ctx context.Context, m *dispatch.Message) error {
			if expired.CompareAndSwap(false, true) {
				e.srv.ExpireTokens() // between two receives of one drain
			}
			return rec.handle(ctx, m)
		})
	})
	rep, err := e.invoke(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	q := rep.Queues[0]
	if q.Handled != 100 || q.Deleted != 100 || q.Stop != drain.StopEmpty {
		t.Fatalf("report %+v", q)
	}
	if rep.TokenFetches != 2 {
		t.Fatalf("token fetches = %d, want the first and one refresh", rep.TokenFetches)
	}
	for _, id := range ids {
		if rec.count(id) != 1 {
			t.Fatalf("message %s handled %d times", id, rec.count(id))
		}
	}
}

func TestTheDeadlineStopsTheDrainWithNothingHalfHandled(t *testing.T) {
	e := newEnv(t, "SmsReport")
	const total = 1000 // 63 batches of handlers that take 50 ms: 3 s of work against a 0.8 s deadline
	e.send("SmsReport", sample(t, "SmsReport"), total)
	d := e.function(e.config(map[string]string{"DRAIN_DEADLINE_MARGIN": "300ms", "DRAIN_RECEIVERS": "1"}), func(r *dispatch.Router) {
		r.Handle("SmsReport", func(ctx context.Context, m *dispatch.Message) error {
			time.Sleep(50 * time.Millisecond)
			return nil
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	rep, err := e.invoke(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	q := rep.Queues[0]
	if q.Stop != drain.StopDeadline || q.Received == 0 || q.Received == total {
		t.Fatalf("report %+v: want a deadline stop part-way", q)
	}
	st := e.queueStats("SmsReport")
	if q.Handled != q.Received || q.Deleted != q.Received || st.Inactive != 0 || st.Deleted != q.Deleted || st.Active != total-q.Deleted {
		t.Fatalf("report %+v, queue %+v: every received message must be handled and deleted, the rest untouched", q, st)
	}
}

func TestAnEmptyQueueCostsOneRequestAndNoTokenWhenWarm(t *testing.T) {
	e := newEnv(t, "SmsReport")
	d := e.function(e.config(nil), nil)
	if _, err := e.invoke(context.Background(), d); err != nil { // cold: fetches the token
		t.Fatal(err)
	}
	before := e.srv.Stats()
	rep, err := e.invoke(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	after := e.srv.Stats()
	if mns := after.MNSRequests - before.MNSRequests; mns != 1 {
		t.Errorf("warm invocation on an empty queue made %d MNS requests, want 1", mns)
	}
	if tok := after.TokenRequests - before.TokenRequests; tok != 0 || rep.TokenFetches != 0 {
		t.Errorf("warm invocation made %d token requests (report: %d), want 0", tok, rep.TokenFetches)
	}
	if rep.Queues[0].Stop != drain.StopEmpty || rep.Queues[0].Requests != 1 {
		t.Errorf("report %+v", rep.Queues[0])
	}
}

func TestTwoOverlappingInvocationsLoseNothing(t *testing.T) {
	e := newEnv(t, "SmsReport")
	ids := e.send("SmsReport", sample(t, "SmsReport"), 300)
	rec := newRecorder()
	register := func(r *dispatch.Router) { r.Handle("SmsReport", rec.handle) }
	// Two instances, as two overlapping timer invocations would get: separate caches and clients.
	a, b := e.function(e.config(nil), register), e.function(e.config(nil), register)
	var wg sync.WaitGroup
	reps := make([]Report, 2)
	for i, d := range []*Drain{a, b} {
		wg.Go(func() {
			rep, err := e.invoke(context.Background(), d)
			if err != nil {
				t.Error(err)
			}
			reps[i] = rep
		})
	}
	wg.Wait()
	if got := reps[0].Queues[0].Deleted + reps[1].Queues[0].Deleted; got != 300 {
		t.Errorf("deleted %d in all, want 300 (%+v, %+v)", got, reps[0].Queues[0], reps[1].Queues[0])
	}
	for _, id := range ids {
		if rec.count(id) < 1 {
			t.Fatalf("message %s was never handled", id)
		}
	}
	if st := e.queueStats("SmsReport"); st.Active+st.Inactive != 0 || st.Deleted != 300 {
		t.Fatalf("queue %+v", st)
	}
}

func TestAQueueThatCannotBeReadFailsTheInvocationAndSaysWhich(t *testing.T) {
	tests := []struct {
		name  string
		extra map[string]string
		want  string
	}{
		{"a queue that does not exist", map[string]string{"ALICOM_QUEUE_NAMES": "SmsReport=No-Such-Queue"}, "No-Such-Queue"},
		{"a type Alicom has no queue for", map[string]string{"ALICOM_MESSAGE_TYPES": "FlowReport"}, "FlowReport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "SmsReport")
			d := e.function(e.config(tt.extra), nil)
			_, err := e.invoke(context.Background(), d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s", err, tt.want)
			}
		})
	}
}

func TestNoSecretAppearsInTheLogs(t *testing.T) {
	e := newEnv(t, "SmsReport", "SmsUp")
	e.send("SmsReport", sample(t, "SmsReport"), 20)
	e.send("SmsUp", "broken body", 1)
	d := e.function(e.config(map[string]string{"ALICOM_MESSAGE_TYPES": "SmsReport,SmsUp"}), func(r *dispatch.Router) {
		r.Handle("SmsReport", func(ctx context.Context, m *dispatch.Message) error { return errors.New("try later") })
	})
	if _, err := e.invoke(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	e.srv.ExpireTokens()
	e.send("SmsUp", sample(t, "SmsUp"), 1)
	if _, err := e.invoke(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	secrets := []string{customerSecret}
	for _, typ := range []string{"SmsReport", "SmsUp"} {
		tok, err := d.tokens.Token(context.Background(), typ, e.srv.AlicomQueueName(typ))
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, tok.AccessKeySecret, tok.SecurityToken)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "token") {
		t.Fatalf("expected token activity in the logs:\n%s", logs)
	}
	for _, s := range secrets {
		if s == "" || strings.Contains(logs, s) {
			t.Fatalf("secret %q… found in the logs (or empty)", s[:min(4, len(s))])
		}
	}
}

func TestABriefTokenServiceOutageIsRetriedWithinTheInvocation(t *testing.T) {
	e := newEnv(t, "SmsReport")
	e.send("SmsReport", sample(t, "SmsReport"), 10)
	e.srv.SetFault("QueryTokenForMnsQueue", mnslocal.Fault{Rate: 1, Kind: mnslocal.FaultInternalError})
	go func() { // the outage ends right after the first token request failed
		for e.srv.Stats().TokenRequests == 0 {
			time.Sleep(time.Millisecond)
		}
		e.srv.SetFault("QueryTokenForMnsQueue", mnslocal.Fault{})
	}()
	d := e.function(e.config(nil), nil)
	rep, err := e.invoke(context.Background(), d)
	if err != nil {
		t.Fatalf("the invocation failed instead of retrying: %v", err)
	}
	if got := e.srv.Stats().TokenRequests; got < 2 {
		t.Fatalf("%d token requests: want a failed one and a retry", got)
	}
	if st := e.queueStats("SmsReport"); st.Deleted != 10 || rep.Queues[0].Handled != 10 {
		t.Fatalf("queue %+v, report %+v", st, rep.Queues[0])
	}
}
