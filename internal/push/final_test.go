package push_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/alicompush"
	"github.com/alicom-drain/alicom-drain/internal/push"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

// These tests are about Alicom's last push of an item: Alicom does not push it again, so an
// item that is neither handled nor recorded on the dead-letter path by the answer is lost.

// finalBudget is the handlers' budget in these tests: short, so that a hanging handler costs
// little, and far from the record window and the pusher's patience.
const finalBudget = 100 * time.Millisecond

// newFinalFixture is newFixture with deadLetter as the Router's dead-letter function (nil: the
// log sink's), the budget finalBudget, and every delivery treated as Alicom's last.
func newFinalFixture(t *testing.T, deadLetter dispatch.DeadLetterFunc, mutate func(c *push.Config)) *fixture {
	t.Helper()
	return serveFixture(t, deadLetter, push.Config{Alicom: alicompush.Config{Token: token, Budget: finalBudget, FinalDelivery: 1}}, mutate)
}

// lastPush plays Alicom's last push of a batch: one POST, no retry after it.
func lastPush(t *testing.T, f *fixture, items ...string) mnslocal.AlicomAttempt {
	t.Helper()
	p := mnslocal.NewAlicomPusher(mnslocal.AlicomPushConfig{Schedule: []time.Duration{}, Timeout: 10 * time.Second})
	d, err := p.Push(context.Background(), f.url("SmsReport"), raw(items...)...)
	if err != nil || len(d.Attempts) != 1 {
		t.Fatalf("push: %v, %d attempts", err, len(d.Attempts))
	}
	return d.Attempts[0]
}

// hang returns a handler that ignores its context and returns only when the test ends, and
// counts its calls.
func hang(t *testing.T, calls *atomic.Int64) dispatch.HandlerFunc {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return func(context.Context, *dispatch.Message) error {
		calls.Add(1)
		<-release
		return nil
	}
}

// notRecordedLine returns the log line alicompush writes for an item of Alicom's last push
// that it could not settle, or "" when there is none.
func notRecordedLine(logs, item string) string {
	body := base64.StdEncoding.EncodeToString([]byte(item))
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"msg":"alicom push item not recorded"`) && strings.Contains(line, `"body":"`+body+`"`) {
			return line
		}
	}
	return ""
}

func TestAnItemOverTheBudgetOnAlicomsLastPushIsDeadLetteredBeforeTheAnswer(t *testing.T) {
	f := newFixture(t, func(c *push.Config) { c.Alicom.Budget = finalBudget })
	var calls atomic.Int64
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.router.Handle("SmsReport", func(context.Context, *dispatch.Message) error {
		if calls.Add(1) < alicompush.DefaultFinalDelivery {
			return errors.New("sink down")
		}
		<-release // the last push: the sink hangs, and the handler ignores its context
		return nil
	})
	d, _ := pusher().Push(context.Background(), f.url("SmsReport"), raw(report1)...)
	if len(d.Attempts) != alicompush.DefaultFinalDelivery || !d.Acknowledged {
		t.Fatalf("%d attempts, acknowledged %v (%+v): want Alicom's last push (the %dth) acknowledged",
			len(d.Attempts), d.Acknowledged, d.Attempts, alicompush.DefaultFinalDelivery)
	}
	if last := d.Attempts[len(d.Attempts)-1]; last.Status != 200 || last.Answer != `{"code":0,"msg":"接收成功"}` {
		t.Errorf("last push answered %d %s", last.Status, last.Answer)
	}
	// The pusher has its answer, so the record must be written by now. Its reason is the
	// handler still running at the last attempt (dispatch.ReasonCode "in-flight").
	logs := f.logs.String()
	if !strings.Contains(logs, `"msg":"dead-lettered"`) || !strings.Contains(logs, `"message_id":"SmsReport/12345^0:13000000001"`) ||
		!strings.Contains(logs, `"reason_code":"in-flight"`) || !strings.Contains(logs, "attempts exhausted") {
		t.Errorf("no dead-letter record of the item:\n%s", logs)
	}
	if calls.Load() != alicompush.DefaultFinalDelivery {
		t.Errorf("handler ran %d times, want %d: the record must not run it again", calls.Load(), alicompush.DefaultFinalDelivery)
	}
}

func TestAFailingDeadLetterWriteOnAlicomsLastPushFailsTheAnswerAndLogsTheItem(t *testing.T) {
	var records atomic.Int64
	f := newFinalFixture(t, func(context.Context, *dispatch.Message, error) error {
		records.Add(1)
		return errors.New("dead-letter store down")
	}, nil)
	var calls atomic.Int64
	f.router.Handle("SmsReport", hang(t, &calls))
	a := lastPush(t, f, report1)
	// 503 rather than 500: the failure names the handler still running from the budget (the
	// contract's "still running" row); either way Alicom retries the batch if it still would.
	if a.Status != 503 {
		t.Errorf("status %d (%s), want 503", a.Status, a.Answer)
	}
	if records.Load() == 0 {
		t.Error("the dead-letter function was never called")
	}
	line := notRecordedLine(f.logs.String(), report1)
	if line == "" || !strings.Contains(line, "dead-letter store down") || !strings.Contains(line, `"message_id":"SmsReport/12345^0:13000000001"`) {
		t.Errorf("no log line with the item, its id and why it was not recorded:\n%s", f.logs)
	}
}

func TestAHangingDeadLetterWriteOnAlicomsLastPushDoesNotHoldTheAnswer(t *testing.T) {
	var records atomic.Int64
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f := newFinalFixture(t, func(context.Context, *dispatch.Message, error) error {
		records.Add(1)
		<-release // ignores its context
		return nil
	}, nil)
	var calls atomic.Int64
	f.router.Handle("SmsReport", hang(t, &calls))
	a := lastPush(t, f, report1)
	if a.Status != 503 {
		t.Errorf("status %d (%s), want 503: the record did not finish in time", a.Status, a.Answer)
	}
	// Budget, record window, two graces of 20 ms: about 240 ms; generous for a loaded machine,
	// far below "never".
	if a.Duration > 2*time.Second {
		t.Errorf("answered after %s", a.Duration)
	}
	if records.Load() != 1 {
		t.Errorf("dead-letter function called %d times, want 1", records.Load())
	}
	if notRecordedLine(f.logs.String(), report1) == "" {
		t.Errorf("no log line with the item:\n%s", f.logs)
	}
}

// A handler that honours its context returns as its budget ends, and the Router's Timeout may
// or may not have abandoned it a moment before (they race on the same context). Abandoned, the
// item is still in flight and is dead-lettered without a second run; not abandoned, it runs
// once more within the record window. Either way the item is settled before the answer.
func TestAnItemThatHonoursItsContextOnAlicomsLastPushIsSettledWithinTheRecordWindow(t *testing.T) {
	f := newFinalFixture(t, nil, nil)
	var calls atomic.Int64
	f.router.Handle("SmsReport", func(ctx context.Context, m *dispatch.Message) error {
		if calls.Add(1) == 1 {
			<-ctx.Done() // a sink that times out with its context
			return context.Cause(ctx)
		}
		return errors.New("sink refused the item")
	})
	a := lastPush(t, f, report1)
	if a.Status != 200 {
		t.Fatalf("status %d (%s), want 200", a.Status, a.Answer)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"msg":"dead-lettered"`) || !strings.Contains(logs, `"message_id":"SmsReport/12345^0:13000000001"`) {
		t.Errorf("no dead-letter record of the item:\n%s", logs)
	}
	if n := calls.Load(); n != 1 && n != 2 {
		t.Errorf("handler ran %d times, want 1 (dead-lettered in flight) or 2 (one more run)", n)
	}
}

// A handler that honours its context and times out again in the record window cannot be
// recorded through the Router (a failure whose context is done is kept, see dispatch.Poison),
// unless the race above made it in flight. The item is then settled, or failed and logged:
// never acknowledged without a trace.
func TestAnItemThatHonoursItsContextAndTimesOutAgainOnAlicomsLastPushIsNeverDropped(t *testing.T) {
	for range 5 {
		f := newFinalFixture(t, nil, nil)
		var calls atomic.Int64
		f.router.Handle("SmsReport", func(ctx context.Context, m *dispatch.Message) error {
			calls.Add(1)
			<-ctx.Done()
			return context.Cause(ctx)
		})
		a := lastPush(t, f, report1)
		logs := f.logs.String()
		switch a.Status {
		case 200:
			if !strings.Contains(logs, `"msg":"dead-lettered"`) {
				t.Errorf("acknowledged without a dead-letter record:\n%s", logs)
			}
		case 503:
			if notRecordedLine(logs, report1) == "" {
				t.Errorf("failed without a log line with the item:\n%s", logs)
			}
		default:
			t.Errorf("status %d (%s), want 200 or 503", a.Status, a.Answer)
		}
		if n := calls.Load(); n != 1 && n != 2 {
			t.Errorf("handler ran %d times, want 1 or 2", n)
		}
	}
}

func TestAnItemNotStartedWithinTheBudgetOfAlicomsLastPushIsLogged(t *testing.T) {
	f := newFinalFixture(t, nil, func(c *push.Config) { c.Alicom.ItemConcurrency = 1 })
	var calls atomic.Int64
	f.router.Handle("SmsReport", hang(t, &calls))
	a := lastPush(t, f, report1, report2)
	if a.Status != 503 {
		t.Errorf("status %d (%s), want 503", a.Status, a.Answer)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"msg":"dead-lettered"`) || !strings.Contains(logs, `"message_id":"SmsReport/12345^0:13000000001"`) {
		t.Errorf("the item that ran past the budget is not dead-lettered:\n%s", logs)
	}
	if notRecordedLine(logs, report2) == "" {
		t.Errorf("no log line with the item that never started:\n%s", logs)
	}
	if calls.Load() != 1 {
		t.Errorf("handler ran %d times, want 1", calls.Load())
	}
}

func TestAFailedDeadLetterWriteWithinTheBudgetOfAlicomsLastPushFailsTheAnswerAndLogsTheItem(t *testing.T) {
	f := newFinalFixture(t, func(context.Context, *dispatch.Message, error) error {
		return errors.New("dead-letter store down")
	}, nil)
	var calls atomic.Int64
	f.router.Handle("SmsReport", func(context.Context, *dispatch.Message) error {
		calls.Add(1)
		return errors.New("sink refused the item")
	})
	a := lastPush(t, f, report1)
	if a.Status != 500 {
		t.Errorf("status %d (%s), want 500: a sink failed", a.Status, a.Answer)
	}
	line := notRecordedLine(f.logs.String(), report1)
	if line == "" || !strings.Contains(line, "dead-letter store down") || !strings.Contains(line, "sink refused the item") {
		t.Errorf("no log line with the item and both failures:\n%s", f.logs)
	}
	if calls.Load() != 1 {
		t.Errorf("handler ran %d times, want 1: its budget did not run out", calls.Load())
	}
}
