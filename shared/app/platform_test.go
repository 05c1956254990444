package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/drain"
	"github.com/alicom-drain/alicom-drain/internal/logbuf"
	"github.com/alicom-drain/alicom-drain/internal/mnspush"
	"github.com/alicom-drain/alicom-drain/internal/platform"
	"github.com/alicom-drain/alicom-drain/internal/queue"
	"github.com/alicom-drain/alicom-drain/internal/sink"
	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

func TestEveryLogLineOfAnInvocationCarriesItsRequestID(t *testing.T) {
	e := newEnv(t, "SmsReport")
	e.send("SmsReport", sample(t, "SmsReport"), 3)
	logSink := sink.Log(NewLogger(e.logs, slog.LevelDebug))
	var calls atomic.Int32
	d := e.function(e.config(nil), func(r *dispatch.Router) {
		// The first message is refused for good, so the dead-letter sink logs too; the others go to
		// the log sink, which logs with the invocation's context only.
		r.Handle("SmsReport", func(ctx context.Context, m *dispatch.Message) error {
			if calls.Add(1) == 1 {
				return dispatch.Permanent(errors.New("refused by the test"))
			}
			return logSink(ctx, m)
		})
	})
	if _, err := d.Invoke(context.Background(), platform.Invocation{Platform: platform.Local, RequestID: "req-42"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(e.logs.String()), "\n")
	if len(lines) < 5 || !strings.Contains(e.logs.String(), `"msg":"dead-lettered"`) || !strings.Contains(e.logs.String(), `"msg":"alicom message"`) {
		t.Fatalf("too few lines:\n%s", e.logs.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		if m["request_id"] != "req-42" {
			t.Errorf("line without the request id: %s", l)
		}
		if strings.Count(l, `"request_id"`) != 1 {
			t.Errorf("request id twice: %s", l)
		}
	}
}

func TestMetricsCarryTheOldestMessagesAge(t *testing.T) {
	e := newEnv(t, "SmsReport")
	e.clock.advance(-90 * time.Second) // the messages were enqueued a minute and a half ago
	e.send("SmsReport", sample(t, "SmsReport"), 2)
	e.clock.advance(90 * time.Second)
	d := e.function(e.config(nil), nil)
	var out logbuf.Buffer
	d.metrics = NewMetrics(&out, platform.FunctionCompute)
	res, err := d.Invoke(context.Background(), platform.Invocation{Platform: platform.FunctionCompute, RequestID: "fc-1", Function: "alicom-drain", RoleCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	rep := res.(Report)
	if age := rep.Queues[0].OldestAgeMS; age < 90_000-5_000 || age > 90_000+60_000 {
		t.Errorf("oldest_age_ms = %d, want about 90000", age)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(out.String()), &line); err != nil {
		t.Fatalf("metrics line %q: %v", out.String(), err)
	}
	if line["msg"] != MetricsMessage || line["_aws"] != nil || line["handled"] != 2.0 || line["function"] != "alicom-drain" ||
		line["request_id"] != "fc-1" || line["oldest_age_ms"].(float64) < 85_000 {
		t.Errorf("FC metrics line %v", line)
	}
}

func TestQueueFailuresAreClassified(t *testing.T) {
	refused := fmt.Errorf("queue X: receive: %w: %w", queue.ErrCredentials, token.ErrRefused)
	noKeys := fmt.Errorf("queue X: receive: %w: %w", queue.ErrCredentials, fmt.Errorf("%w: not set", token.ErrNoCredentials))
	tests := []struct {
		name   string
		errs   []error
		want   platform.ErrorType
		prefix string
	}{
		{"a refused token is a TokenError", []error{nil, refused}, platform.TokenError, "1 of 2 queues failed: q1: "},
		{"missing keys are a CredentialsError", []error{noKeys, queue.ErrAccessDenied}, platform.CredentialsError, "2 of 2 queues failed: q0: "},
		{"a missing queue is a QueueError", []error{queue.ErrQueueNotExist}, platform.QueueError, "1 of 1 queues failed: q0: "},
		{"an error is classified by its kind, not by its text", []error{errors.New("token: no credentials")}, platform.QueueError, "1 of 1 queues failed: q0: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var qs []QueueReport
			for i, e := range tt.errs {
				r := drain.Report{Queue: "q" + string(rune('0'+i)), Stop: drain.StopEmpty}
				if e != nil {
					r.Stop, r.Error, r.Err = drain.StopError, e.Error(), e
				}
				qs = append(qs, QueueReport{Report: r})
			}
			err := queueFailure(qs)
			if platform.TypeOf(err) != tt.want || !strings.HasPrefix(err.Error(), tt.prefix) {
				t.Fatalf("%v: type %s", err, platform.TypeOf(err))
			}
		})
	}
	if queueFailure([]QueueReport{{Report: drain.Report{Stop: drain.StopEmpty}}}) != nil {
		t.Error("no failed queue must be no error")
	}
}

func TestUnderFunctionComputeWithoutARoleTheInvocationSaysSo(t *testing.T) {
	e := newEnv(t, "SmsReport")
	d := e.function(e.config(nil), nil)
	_, err := d.Invoke(context.Background(), platform.Invocation{Platform: platform.FunctionCompute, RequestID: "fc-2", AccountID: uid})
	if platform.TypeOf(err) != platform.CredentialsError || !strings.Contains(err.Error(), "expected `role` in s.yaml") {
		t.Fatalf("err = %v (%s)", err, platform.TypeOf(err))
	}
}

func TestThePushRoutersHandlerTimeoutFitsMNSsFiveSeconds(t *testing.T) {
	e := newEnv(t, "SmsReport")
	cfg := e.config(map[string]string{"DRAIN_HANDLER_TIMEOUT": "30s"})
	r, err := NewPushRouter(cfg, NewLogger(e.logs, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	var left time.Duration
	r.Handle("SmsReport", func(ctx context.Context, m *dispatch.Message) error {
		dl, ok := ctx.Deadline()
		if !ok {
			t.Error("the handler has no deadline")
		}
		left = time.Until(dl)
		return nil
	})
	body := sample(t, "SmsReport")
	if _, err := r.Dispatch(context.Background(), &dispatch.Message{ID: "m1", Type: "SmsReport", Body: body}); err != nil {
		t.Fatal(err)
	}
	if left > PushHandlerTimeout || left < PushHandlerTimeout-2*time.Second || PushRequestTimeout >= 5*time.Second {
		t.Errorf("handler had %v, request budget %v: want both under MNS's 5 s", left, PushRequestTimeout)
	}
}

func TestAQueueWhoseTokenIsRefusedReportsNoRequestAndATokenError(t *testing.T) {
	e := newEnv(t, "SmsReport")
	// Dybaseapi refuses a token for a queue that is not the type's: no request reaches MNS.
	d := e.function(e.config(map[string]string{"ALICOM_QUEUE_NAMES": "SmsReport=No-Such-Queue"}), nil)
	before := e.srv.Stats().MNSRequests
	rep, err := e.invoke(context.Background(), d)
	if platform.TypeOf(err) != platform.TokenError {
		t.Fatalf("err = %v (%s), want a TokenError", err, platform.TypeOf(err))
	}
	q := rep.Queues[0]
	if q.Stop != drain.StopError || q.Requests != 0 || e.srv.Stats().MNSRequests != before || !errors.Is(q.Err, queue.ErrCredentials) {
		t.Fatalf("report %+v (Err %v), MNS saw %d requests; want stopped on the token with requests 0",
			q.Report, q.Err, e.srv.Stats().MNSRequests-before)
	}
}

// dispatchNothing answers every message Handled without looking at it.
type dispatchNothing struct{}

func (dispatchNothing) Dispatch(context.Context, *dispatch.Message) (dispatch.Outcome, error) {
	return dispatch.Handled, nil
}

func TestTheOldestAgeIsPerQueueAndTheEarliestEnqueueTime(t *testing.T) {
	now := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	a := newAgeTracker(dispatchNothing{})
	for _, m := range []dispatch.Message{
		{Source: "A", EnqueueTime: now.Add(-10 * time.Second)},
		{Source: "A", EnqueueTime: now.Add(-30 * time.Second)},
		{Source: "A", EnqueueTime: now.Add(-20 * time.Second)},
		{Source: "A"}, // enqueue time unknown: no age
		{Source: "B", EnqueueTime: now.Add(-5 * time.Second)},
		{Source: "B", EnqueueTime: now.Add(time.Second)},
		{Source: "D", EnqueueTime: now.Add(time.Second)}, // a clock ahead: never a negative age
	} {
		if out, err := a.Dispatch(context.Background(), &m); out != dispatch.Handled || err != nil {
			t.Fatalf("Dispatch = %v, %v; want the next dispatcher's answer", out, err)
		}
	}
	for queue, want := range map[string]int64{"A": 30_000, "B": 5_000, "C": 0, "D": 0} {
		if got := a.oldestAgeMS(queue, now); got != want {
			t.Errorf("oldestAgeMS(%s) = %d, want %d", queue, got, want)
		}
	}
}

// MNS delivers a topic push 4 times under its default strategy and says nothing of the count,
// so the push router must dead-letter a message whose handler keeps failing on the 4th delivery
// it sees, whatever DRAIN_MAX_ATTEMPTS says above that; otherwise MNS drops it unrecorded.
func TestThePushRouterDeadLettersOnMNSsLastDelivery(t *testing.T) {
	e := newEnv(t, "SmsReport")
	cfg := e.config(map[string]string{"DRAIN_MAX_ATTEMPTS": "10"})
	r, err := NewPushRouter(cfg, NewLogger(e.logs, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	r.Handle("SmsReport", func(context.Context, *dispatch.Message) error { return errors.New("database down") })
	body := base64.StdEncoding.EncodeToString([]byte(`{"phone_number":"13000000000","success":true,"biz_id":"1^0","err_code":"DELIVERED"}`))
	var outs []dispatch.Outcome
	for range mnspush.BackoffRetryDeliveries {
		out, _ := r.Dispatch(context.Background(), &dispatch.Message{ID: "TOPIC-PUSH-1", Type: "SmsReport", Body: body})
		outs = append(outs, out)
	}
	want := []dispatch.Outcome{dispatch.Retry, dispatch.Retry, dispatch.Retry, dispatch.DeadLettered}
	if !slices.Equal(outs, want) {
		t.Fatalf("outcomes %v, want %v", outs, want)
	}
	if !strings.Contains(e.logs.String(), `"dead-lettered"`) {
		t.Errorf("no dead-letter record in the log:\n%s", e.logs.String())
	}
}
