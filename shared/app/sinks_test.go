package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/alicom-drain/alicom-drain/events"
	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/sink"
	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// These tests run the drain function with its built-in sinks, through the real MNS SDK against
// the emulator, and a local webhook receiver that verifies every request with the Standard
// Webhooks library.

const (
	hookKey    = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo="
	hookSecret = "whsec_" + hookKey
)

// hookReceiver verifies and records webhook requests; answer decides what it answers.
type hookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	wh     *standardwebhooks.Webhook
	answer atomic.Pointer[func(events []sink.Event) (int, string)]

	mu        sync.Mutex
	requests  int
	delivered map[string]int        // message id -> times accepted
	events    map[string]sink.Event // message id -> last event accepted
	dead      map[string]sink.Event // dead-letter events accepted
}

func newHookReceiver(t *testing.T) *hookReceiver {
	wh, err := standardwebhooks.NewWebhook(hookSecret)
	if err != nil {
		t.Fatal(err)
	}
	h := &hookReceiver{t: t, wh: wh, delivered: map[string]int{}, events: map[string]sink.Event{}, dead: map[string]sink.Event{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.requests++
	h.mu.Unlock()
	if err := h.wh.Verify(body, r.Header); err != nil {
		h.t.Errorf("receiver: signature not valid: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var events []sink.Event
	if bytes.HasPrefix(body, []byte(`{"messages":`)) {
		var b sink.Batch
		if err := json.Unmarshal(body, &b); err != nil {
			h.t.Errorf("receiver: %v", err)
		}
		events = b.Messages
	} else {
		var e sink.Event
		if err := json.Unmarshal(body, &e); err != nil {
			h.t.Errorf("receiver: %v", err)
		}
		events = []sink.Event{e}
	}
	status, answer := http.StatusNoContent, ""
	if f := h.answer.Load(); f != nil {
		status, answer = (*f)(events)
	}
	if status/100 == 2 {
		var a sink.BatchAnswer
		_ = json.Unmarshal([]byte(answer), &a)
		failed := map[string]bool{}
		for _, f := range a.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		h.mu.Lock()
		for _, e := range events {
			switch {
			case failed[e.MessageID]:
			case e.DeadLetter != nil:
				h.dead[e.MessageID] = e
			default:
				h.delivered[e.MessageID]++
				h.events[e.MessageID] = e
			}
		}
		h.mu.Unlock()
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

func (h *hookReceiver) setAnswer(f func(events []sink.Event) (int, string)) { h.answer.Store(&f) }

func (h *hookReceiver) snapshot() (requests int, delivered map[string]int, events, dead map[string]sink.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delivered = map[string]int{}
	for k, v := range h.delivered {
		delivered[k] = v
	}
	events, dead = map[string]sink.Event{}, map[string]sink.Event{}
	for k, v := range h.events {
		events[k] = v
	}
	for k, v := range h.dead {
		dead[k] = v
	}
	return h.requests, delivered, events, dead
}

// sinkFunction builds the function as Main would, with the sink variables in sinkVars.
func (e *env) sinkFunction(cfg config.Config, sinkVars map[string]string, register func(*dispatch.Router)) *Drain {
	e.t.Helper()
	sc, err := config.LoadSink(func(k string) string { return sinkVars[k] })
	if err != nil {
		e.t.Fatal(err)
	}
	logger := NewLogger(e.logs, cfg.LogLevel)
	creds := token.StaticSource(token.Credentials{AccessKeyID: customerKey, AccessKeySecret: customerSecret})
	r, closeFn, err := newSinkRouter(cfg, sc, logger, creds)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(closeFn)
	if register != nil {
		register(r)
	}
	d, err := New(cfg, r, logger, creds)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// samples returns every sample body: name -> type.
func samples(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, m := range events.Messages() {
		out[m.Name] = m.Type
	}
	if len(out) == 0 {
		t.Fatal("no samples in package events")
	}
	return out
}

func TestEveryMessageReachesTheWebhookSignedAndNormalized(t *testing.T) {
	for _, batch := range []string{"1", "16"} {
		t.Run("batch size "+batch, func(t *testing.T) {
			all := samples(t)
			typeSet := map[string]bool{}
			for _, typ := range all {
				typeSet[typ] = true
			}
			var types []string
			for typ := range typeSet {
				types = append(types, typ)
			}
			e := newEnv(t, types...)
			rc := newHookReceiver(t)
			sent := map[string]string{} // message id -> sample name
			for name, typ := range all {
				for _, id := range e.send(typ, sample(t, name), 3) {
					sent[id] = name
				}
			}
			d := e.sinkFunction(e.config(map[string]string{"ALICOM_MESSAGE_TYPES": strings.Join(types, ",")}),
				map[string]string{"ALICOM_SINK": "webhook", "WEBHOOK_URL": rc.srv.URL + "/hook", "WEBHOOK_SECRET": hookSecret, "WEBHOOK_BATCH_SIZE": batch}, nil)
			rep, err := e.invoke(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range rep.Queues {
				if q.Received != q.Handled || q.Deleted != q.Handled || q.DeadLettered != 0 {
					t.Errorf("%s: %+v", q.MessageType, q)
				}
			}
			requests, delivered, events, _ := rc.snapshot()
			for id, name := range sent {
				if delivered[id] != 1 {
					t.Errorf("%s (%s) delivered %d times", id, name, delivered[id])
					continue
				}
				ev := events[id]
				raw, _ := base64.StdEncoding.DecodeString(sample(t, name))
				if ev.Raw != string(raw) || ev.Type != all[name] || ev.Source != e.srv.AlicomQueueName(all[name]) || ev.DequeueCount != 1 ||
					ev.EnqueueTime == nil || ev.Key == "" || len(ev.Data) < 2 || ev.Data[0] != '{' {
					t.Errorf("%s: event %+v", name, ev)
				}
			}
			if batch == "16" && requests >= len(sent) {
				t.Errorf("%d requests for %d messages at batch size 16", requests, len(sent))
			}
			for _, typ := range types {
				if st := e.queueStats(typ); st.Active+st.Inactive != 0 {
					t.Errorf("%s: queue %+v after the drain", typ, st)
				}
			}
		})
	}
}

func TestAReceiverAnswering500KeepsMessagesUntilItRecovers(t *testing.T) {
	for _, failure := range []string{"500", "timeout"} {
		t.Run(failure, func(t *testing.T) {
			e := newEnv(t, "SmsReport")
			rc := newHookReceiver(t)
			down := atomic.Bool{}
			down.Store(true)
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			rc.setAnswer(func([]sink.Event) (int, string) {
				if !down.Load() {
					return 204, ""
				}
				if failure == "timeout" {
					select {
					case <-release:
					case <-time.After(3 * time.Second):
					}
				}
				return 500, ""
			})
			ids := e.send("SmsReport", sample(t, "SmsReport"), 5)
			d := e.sinkFunction(e.config(nil), map[string]string{
				"ALICOM_SINK": "webhook", "WEBHOOK_URL": rc.srv.URL, "WEBHOOK_SECRET": hookSecret, "WEBHOOK_TIMEOUT": "300ms",
			}, nil)
			for range 2 {
				rep, _ := e.invoke(context.Background(), d)
				if q := rep.Queues[0]; q.Deleted != 0 || q.DeadLettered != 0 || q.Handled != 0 {
					t.Fatalf("during the outage: %+v", q)
				}
				e.clock.advance(31 * time.Second)
			}
			down.Store(false)
			rep, err := e.invoke(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			if q := rep.Queues[0]; q.Handled != 5 || q.Deleted != 5 {
				t.Fatalf("after the recovery: %+v", q)
			}
			_, delivered, _, _ := rc.snapshot()
			for _, id := range ids {
				if delivered[id] != 1 {
					t.Errorf("%s delivered %d times", id, delivered[id])
				}
			}
			if strings.Contains(e.logs.String(), hookKey) || strings.Contains(e.logs.String(), customerSecret) {
				t.Error("a secret appears in the function's log")
			}
		})
	}
}

// The dead-letter path is the log, which works throughout: with it on the webhook too, a
// message the Router wrongly dead-lettered would be kept anyway by the failed record, and the
// test would pass without the Router's outage rule.
func TestAnOutageOfManyDeliveriesDeadLettersNothing(t *testing.T) {
	e := newEnv(t, "SmsReport")
	rc := newHookReceiver(t)
	down := atomic.Bool{}
	down.Store(true)
	rc.setAnswer(func([]sink.Event) (int, string) {
		if down.Load() {
			return 503, ""
		}
		return 204, ""
	})
	e.send("SmsReport", sample(t, "SmsReport"), 8)
	d := e.sinkFunction(e.config(map[string]string{"DRAIN_MAX_ATTEMPTS": "2"}), map[string]string{
		"ALICOM_SINK": "webhook", "WEBHOOK_URL": rc.srv.URL, "WEBHOOK_SECRET": hookSecret,
	}, nil)
	for range 6 { // three times the poison threshold
		rep, _ := e.invoke(context.Background(), d)
		if q := rep.Queues[0]; q.DeadLettered != 0 || q.Deleted != 0 {
			t.Fatalf("during the outage: %+v", q)
		}
		e.clock.advance(31 * time.Second)
	}
	down.Store(false)
	rep, err := e.invoke(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	_, delivered, _, _ := rc.snapshot()
	if q := rep.Queues[0]; q.Handled != 8 || q.Deleted != 8 || len(delivered) != 8 {
		t.Fatalf("after the recovery: %+v, %d delivered", q, len(delivered))
	}
}

func TestBatchItemFailuresThroughTheDrainKeepOnlyTheFailedItems(t *testing.T) {
	e := newEnv(t, "SmsReport")
	rc := newHookReceiver(t)
	ids := e.send("SmsReport", sample(t, "SmsReport"), 16)
	failOnce := map[string]bool{ids[3]: true, ids[7]: true, ids[11]: true}
	var mu sync.Mutex
	rc.setAnswer(func(events []sink.Event) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		var a sink.BatchAnswer
		for _, ev := range events {
			if failOnce[ev.MessageID] {
				delete(failOnce, ev.MessageID)
				a.BatchItemFailures = append(a.BatchItemFailures, sink.BatchItemFailure{ItemIdentifier: ev.MessageID})
			}
		}
		b, _ := json.Marshal(a)
		return 200, string(b)
	})
	d := e.sinkFunction(e.config(nil), map[string]string{
		"ALICOM_SINK": "webhook", "WEBHOOK_URL": rc.srv.URL, "WEBHOOK_SECRET": hookSecret, "WEBHOOK_BATCH_SIZE": "16",
	}, nil)
	rep, err := e.invoke(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if q := rep.Queues[0]; q.Handled != 13 || q.Deleted != 13 || q.Failed != 3 {
		t.Fatalf("first invocation: %+v, want 13 handled and 3 kept", q)
	}
	e.clock.advance(31 * time.Second)
	rep, err = e.invoke(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if q := rep.Queues[0]; q.Handled != 3 || q.Deleted != 3 {
		t.Fatalf("second invocation: %+v, want the 3 failed ones handled", q)
	}
	_, delivered, _, _ := rc.snapshot()
	for _, id := range ids {
		if delivered[id] != 1 {
			t.Errorf("%s accepted %d times", id, delivered[id])
		}
	}
}

func TestDeadLettersGoToTheWebhookAndAFailedOneKeepsTheOriginal(t *testing.T) {
	e := newEnv(t, "SmsReport")
	rc := newHookReceiver(t)
	broken := e.send("SmsReport", "this is not base64!", 1)[0]
	up := atomic.Bool{}
	rc.setAnswer(func([]sink.Event) (int, string) {
		if up.Load() {
			return 204, ""
		}
		return 500, ""
	})
	d := e.sinkFunction(e.config(nil), map[string]string{
		"ALICOM_DEADLETTER": "webhook", "WEBHOOK_URL": rc.srv.URL, "WEBHOOK_SECRET": hookSecret,
	}, nil)
	rep, _ := e.invoke(context.Background(), d)
	if q := rep.Queues[0]; q.DeadLettered != 0 || q.Deleted != 0 || q.Failed != 1 {
		t.Fatalf("with the receiver down: %+v, want the original kept", q)
	}
	e.clock.advance(31 * time.Second)
	up.Store(true)
	rep, err := e.invoke(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if q := rep.Queues[0]; q.DeadLettered != 1 || q.Deleted != 1 {
		t.Fatalf("with the receiver up: %+v", q)
	}
	_, _, _, dead := rc.snapshot()
	if ev, ok := dead[broken]; !ok || ev.Body != "this is not base64!" || ev.DeadLetter.ReasonCode != dispatch.ReasonBase64 {
		t.Errorf("dead-letter event %+v", ev)
	}
}

func TestMessagesAreForwardedIntoTheUsersMNS(t *testing.T) {
	e := newEnv(t, "SmsReport", "SmsUp")
	for _, q := range []string{"fwd-SmsReport", "fwd-SmsUp"} {
		if err := e.srv.CreateQueue(q, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	e.send("SmsReport", sample(t, "SmsReport"), 20)
	e.send("SmsUp", sample(t, "SmsUp"), 20)
	d := e.sinkFunction(e.config(map[string]string{"ALICOM_MESSAGE_TYPES": "SmsReport,SmsUp"}), map[string]string{
		"ALICOM_SINK": "mns", "FORWARD_MNS_ENDPOINT": e.srv.URL(), "FORWARD_MNS_QUEUE": "fwd-{type}",
	}, nil)
	rep, err := e.invoke(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range rep.Queues {
		if q.Handled != 20 || q.Deleted != 20 {
			t.Errorf("%s: %+v", q.MessageType, q)
		}
	}
	st := e.srv.Stats()
	for _, q := range []string{"fwd-SmsReport", "fwd-SmsUp"} {
		if got := st.Queues[q].Active; got != 20 {
			t.Errorf("%s holds %d messages, want 20", q, got)
		}
	}
	if n := st.Requests["BatchSendMessage"]; n == 0 || n >= 40 {
		t.Errorf("%d BatchSendMessage requests for 40 messages", n)
	}
}

func TestAFailedForwardKeepsTheMessage(t *testing.T) {
	e := newEnv(t, "SmsReport")
	e.send("SmsReport", sample(t, "SmsReport"), 4)
	d := e.sinkFunction(e.config(nil), map[string]string{
		"ALICOM_SINK": "mns", "FORWARD_MNS_ENDPOINT": e.srv.URL(), "FORWARD_MNS_QUEUE": "missing-{type}",
	}, nil)
	rep, _ := e.invoke(context.Background(), d)
	if q := rep.Queues[0]; q.Deleted != 0 || q.Handled != 0 || q.DeadLettered != 0 {
		t.Fatalf("%+v, want every message kept", q)
	}
	e.clock.advance(31 * time.Second)
	if st := e.queueStats("SmsReport"); st.Active+st.Inactive != 4 {
		t.Errorf("queue %+v, want the 4 messages still there", st)
	}
	if strings.Contains(e.logs.String(), customerSecret) {
		t.Error("the AccessKey secret appears in the log")
	}
}

func TestGoHandlersKeepWorkingBesideTheSinks(t *testing.T) {
	e := newEnv(t, "SmsReport", "SmsUp")
	rc := newHookReceiver(t)
	e.send("SmsReport", sample(t, "SmsReport"), 3)
	e.send("SmsUp", sample(t, "SmsUp"), 3)
	rec := newRecorder()
	d := e.sinkFunction(e.config(map[string]string{"ALICOM_MESSAGE_TYPES": "SmsReport,SmsUp"}), map[string]string{
		"ALICOM_SINK": "webhook", "WEBHOOK_URL": rc.srv.URL, "WEBHOOK_SECRET": hookSecret,
	}, func(r *dispatch.Router) { r.Handle("SmsUp", rec.handle) })
	if _, err := e.invoke(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	_, delivered, _, _ := rc.snapshot()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(delivered) != 3 || len(rec.seen) != 3 {
		t.Errorf("%d messages at the webhook, %d at the Go handler; want 3 and 3", len(delivered), len(rec.seen))
	}
}

func TestAGoHandlerTakesPrecedenceOverItsTypesOwnSink(t *testing.T) {
	e := newEnv(t, "SmsReport", "SmsUp")
	rc := newHookReceiver(t)
	e.send("SmsReport", sample(t, "SmsReport"), 2)
	ups := e.send("SmsUp", sample(t, "SmsUp"), 2)
	rec := newRecorder()
	d := e.sinkFunction(e.config(map[string]string{"ALICOM_MESSAGE_TYPES": "SmsReport,SmsUp", "LOG_LEVEL": "error"}), map[string]string{
		"ALICOM_SINK": "SmsReport=webhook,*=log", "WEBHOOK_URL": rc.srv.URL, "WEBHOOK_SECRET": hookSecret,
	}, func(r *dispatch.Router) { r.Handle("SmsReport", rec.handle) })
	if _, err := e.invoke(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	_, delivered, _, _ := rc.snapshot()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(delivered) != 0 || len(rec.seen) != 2 {
		t.Errorf("%d messages at the webhook, %d at the Go handler; want 0 and 2", len(delivered), len(rec.seen))
	}
	for _, id := range ups {
		if !strings.Contains(e.logs.String(), id) {
			t.Errorf("no log record of SmsUp message %s", id)
		}
	}
}

func TestRecordsAreWrittenUnderAnyLogLevelAndAFailedWriteKeepsTheMessage(t *testing.T) {
	e := newEnv(t, "SmsReport")
	ids := e.send("SmsReport", sample(t, "SmsReport"), 2)
	d := e.function(e.config(map[string]string{"LOG_LEVEL": "error"}), nil)
	if _, err := e.invoke(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !strings.Contains(e.logs.String(), id) {
			t.Errorf("no record of %s under LOG_LEVEL=error", id)
		}
	}

	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	e2 := newEnv(t, "SmsReport")
	e2.send("SmsReport", sample(t, "SmsReport"), 3)
	cfg := e2.config(nil)
	logger := NewLogger(full, cfg.LogLevel)
	r, err := NewRouter(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := New(cfg, r, logger, token.StaticSource(token.Credentials{AccessKeyID: customerKey, AccessKeySecret: customerSecret}))
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := e2.invoke(context.Background(), d2)
	if q := rep.Queues[0]; q.Deleted != 0 || q.Handled != 0 {
		t.Fatalf("with the log on a full device: %+v, want every message kept", q)
	}
}

func TestEachTypeGoesToItsConfiguredSink(t *testing.T) {
	e := newEnv(t, "SmsReport", "SmsUp", "VoiceReport")
	for _, q := range []string{"fwd-SmsUp"} {
		if err := e.srv.CreateQueue(q, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	rc := newHookReceiver(t)
	reports := e.send("SmsReport", sample(t, "SmsReport"), 2)
	e.send("SmsUp", sample(t, "SmsUp"), 3)
	voice := e.send("VoiceReport", sample(t, "VoiceReport"), 1)
	d := e.sinkFunction(e.config(map[string]string{"ALICOM_MESSAGE_TYPES": "SmsReport,SmsUp,VoiceReport", "LOG_LEVEL": "error"}), map[string]string{
		"ALICOM_SINK": "SmsReport=webhook,SmsUp=mns,*=log", "WEBHOOK_URL": rc.srv.URL, "WEBHOOK_SECRET": hookSecret,
		"FORWARD_MNS_ENDPOINT": e.srv.URL(), "FORWARD_MNS_QUEUE": "fwd-{type}",
	}, nil)
	if _, err := e.invoke(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	_, delivered, _, _ := rc.snapshot()
	if len(delivered) != 2 || delivered[reports[0]] != 1 || delivered[reports[1]] != 1 {
		t.Errorf("webhook got %v, want the 2 SmsReport messages", delivered)
	}
	if got := e.srv.Stats().Queues["fwd-SmsUp"].Active; got != 3 {
		t.Errorf("fwd-SmsUp holds %d, want the 3 SmsUp messages", got)
	}
	if !strings.Contains(e.logs.String(), voice[0]) {
		t.Errorf("no log record of the VoiceReport message")
	}
}

func TestTheForwardSinkSignsWithTheFunctionsCredentialSource(t *testing.T) {
	for _, k := range []string{config.EnvAccessKeyID, config.EnvAccessKeySecret, config.EnvSecurityToken} {
		t.Setenv(k, "") // the default chain finds nothing: only the source given can sign
	}
	e := newEnv(t, "SmsReport")
	if err := e.srv.CreateQueue("fwd-SmsReport", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	e.send("SmsReport", sample(t, "SmsReport"), 3)
	var calls atomic.Int64
	creds := func(context.Context) (token.Credentials, error) {
		calls.Add(1)
		return token.Credentials{AccessKeyID: customerKey, AccessKeySecret: customerSecret}, nil
	}
	cfg := e.config(map[string]string{"ALICOM_SINK": "mns", "FORWARD_MNS_ENDPOINT": e.srv.URL(), "FORWARD_MNS_QUEUE": "fwd-{type}"})
	logger := NewLogger(e.logs, cfg.LogLevel)
	forwarded := func() int64 { return e.srv.Stats().Queues["fwd-SmsReport"].Active }
	msg := func(id string) *dispatch.Message {
		return &dispatch.Message{ID: id, Type: "SmsReport", Body: sample(t, "SmsReport"), DequeueCount: 1, EnqueueTime: time.Now()}
	}

	// The premise: the default chain cannot sign here.
	def, err := NewRouter(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := def.Dispatch(context.Background(), msg("premise")); out != dispatch.Retry || err == nil {
		t.Fatalf("with the default chain and no keys: %v, %v; want Retry with an error", out, err)
	}

	d, err := newDrain(cfg, logger, creds, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.invoke(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if q := rep.Queues[0]; q.Handled != 3 || q.Deleted != 3 || forwarded() != 3 {
		t.Fatalf("drain: %+v, %d forwarded; want all 3 forwarded with the function's source", q, forwarded())
	}
	push, err := newPushRouter(cfg, logger, creds)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := push.Dispatch(context.Background(), msg("pushed")); out != dispatch.Handled || err != nil || forwarded() != 4 {
		t.Fatalf("push: %v, %v, %d forwarded; want it forwarded with the function's source", out, err, forwarded())
	}
	if calls.Load() < 3 { // a token fetch, a forward from the drain, one from the push path
		t.Errorf("the source was asked %d times", calls.Load())
	}
}
