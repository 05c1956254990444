package drain

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/queue"
	"github.com/alicom-drain/alicom-drain/internal/queue/memqueue"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// observed is the in-memory queue, with its receives and deletes counted, recorded and
// hooked: what a test needs to see of how the drain drives a queue. Failures are injected
// through memqueue's fault hooks or the hooks here.
type observed struct {
	*memqueue.Queue
	mu          sync.Mutex
	receives    int
	waits       []time.Duration // the wait each receive asked for, in order
	alone       []bool          // whether each receive started with no other receive out
	inFlight    int
	maxInFlight int
	deletes     int
	onReceive   func()
	// cap, when above 0, makes every receive return at most cap messages, as the real MNS may
	// while more are available.
	cap int
	// onDelete, when set, replaces Delete; it may call q.Queue.Delete itself.
	onDelete func(ctx context.Context, handles []string) ([]queue.DeleteFailure, error)
}

func newQueue(t *testing.T, n int) (*observed, []string) {
	t.Helper()
	q := &observed{Queue: memqueue.New("test-queue", memqueue.Options{})}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = q.Send("b")
	}
	return q, ids
}

func (q *observed) Receive(ctx context.Context, n int, wait time.Duration) ([]queue.Message, error) {
	q.mu.Lock()
	q.receives++
	q.waits = append(q.waits, wait)
	q.alone = append(q.alone, q.inFlight == 0)
	q.inFlight++
	q.maxInFlight = max(q.maxInFlight, q.inFlight)
	hook, limit := q.onReceive, q.cap
	q.mu.Unlock()
	if hook != nil {
		hook()
	}
	time.Sleep(time.Millisecond) // lets parallel receivers overlap, as they would on a network
	if limit > 0 {
		n = min(n, limit)
	}
	msgs, err := q.Queue.Receive(ctx, n, wait)
	q.mu.Lock()
	q.inFlight--
	q.mu.Unlock()
	return msgs, err
}

func (q *observed) Delete(ctx context.Context, handles []string) ([]queue.DeleteFailure, error) {
	q.mu.Lock()
	q.deletes++
	hook := q.onDelete
	q.mu.Unlock()
	if hook != nil {
		return hook(ctx, handles)
	}
	return q.Queue.Delete(ctx, handles)
}

// stats reads the counters under the lock.
func (q *observed) stats() (receives, deletes int, waits []time.Duration, alone []bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.receives, q.deletes, append([]time.Duration(nil), q.waits...), append([]bool(nil), q.alone...)
}

// failEach makes the next calls of op fail with errs, in order, then succeed.
func (q *observed) failEach(op string, errs ...error) {
	var mu sync.Mutex
	q.SetFault(func(got string) error {
		mu.Lock()
		defer mu.Unlock()
		if got != op || len(errs) == 0 {
			return nil
		}
		err := errs[0]
		errs = errs[1:]
		return err
	})
}

// failDeletes makes the delete of message id fail with err, times times (forever when negative).
func (q *observed) failDeletes(id string, err error, times int) {
	var mu sync.Mutex
	q.SetDeleteFault(func(handle string) error {
		mu.Lock()
		defer mu.Unlock()
		if !strings.HasPrefix(handle, id+"-") || times == 0 {
			return nil
		}
		times--
		return err
	})
}

// dispatcherFunc adapts a function to Dispatcher.
type dispatcherFunc func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error)

func (f dispatcherFunc) Dispatch(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
	return f(ctx, m)
}

func handleAll(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
	return dispatch.Handled, nil
}

func testOptions() Options {
	o := DefaultOptions()
	o.RetryBackoff = time.Millisecond
	return o
}

// checkReport asserts the report's counters add up: every received message has one outcome,
// every message that may be deleted was either deleted or counted as a failed delete.
func checkReport(t *testing.T, rep Report) {
	t.Helper()
	if rep.Received != rep.Handled+rep.DeadLettered+rep.Duplicates+rep.Failed {
		t.Errorf("received %d != handled %d + dead-lettered %d + duplicates %d + failed %d",
			rep.Received, rep.Handled, rep.DeadLettered, rep.Duplicates, rep.Failed)
	}
	if rep.Deleted+rep.DeleteFailed != rep.Handled+rep.DeadLettered+rep.Duplicates {
		t.Errorf("deleted %d + delete failed %d != handled %d + dead-lettered %d + duplicates %d",
			rep.Deleted, rep.DeleteFailed, rep.Handled, rep.DeadLettered, rep.Duplicates)
	}
	if rep.Abandoned > rep.Failed {
		t.Errorf("abandoned %d > failed %d", rep.Abandoned, rep.Failed)
	}
}

func runOne(t *testing.T, ctx context.Context, q queue.Queue, d Dispatcher, o Options) Report {
	t.Helper()
	res, err := Run(ctx, []Source{{Queue: q, MessageType: "SmsReport"}}, d, o)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, res.Queues[0])
	return res.Queues[0]
}

// within fails the test when fn does not return within d: a generous bound, for "returns on
// time" properties on a loaded machine.
func within(t *testing.T, d time.Duration, fn func()) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %s", d)
	}
	return time.Since(start)
}

func TestAnIdleInvocationAtTheDefaultsCostsOneReceiveThatDoesNotWait(t *testing.T) {
	q, _ := newQueue(t, 0)
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), DefaultOptions())
	receives, deletes, waits, _ := q.stats()
	if receives != 1 || deletes != 0 || rep.Requests != 1 || rep.Stop != StopEmpty || rep.Received != 0 || waits[0] != 0 {
		t.Fatalf("receives = %d (waits %v), deletes = %d, report = %+v", receives, waits, deletes, rep)
	}
}

func TestABacklogIsHandledAndDeletedOnceEach(t *testing.T) {
	q, _ := newQueue(t, 203)
	var seen sync.Map
	var twice atomic.Int32
	d := dispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
		if _, dup := seen.LoadOrStore(m.ID, true); dup {
			twice.Add(1)
		}
		if m.Type != "SmsReport" || m.Source != "test-queue" || m.DequeueCount != 1 {
			t.Errorf("message = %+v", m)
		}
		return dispatch.Handled, nil
	})
	rep := runOne(t, context.Background(), q, d, testOptions())
	if rep.Received != 203 || rep.Handled != 203 || rep.Deleted != 203 || rep.Stop != StopEmpty || twice.Load() != 0 {
		t.Fatalf("report = %+v, handled twice: %d", rep, twice.Load())
	}
	if st := q.Stats(); st.Deleted != 203 || st.Visible+st.Invisible != 0 {
		t.Fatalf("queue after the drain %+v", st)
	}
}

func TestOnlyTheFirstReceiveWaitsSoADrainEndsWithoutATail(t *testing.T) {
	q, _ := newQueue(t, 20)
	o := testOptions()
	o.Receivers = 1
	o.Wait = 20 * time.Second // would show as a 20 s tail if a later receive waited
	var rep Report
	within(t, 10*time.Second, func() { rep = runOne(t, context.Background(), q, dispatcherFunc(handleAll), o) })
	receives, _, waits, _ := q.stats()
	// 16, then a short batch of 4, then one receive that answers empty: the short batch alone
	// does not prove the queue dry.
	if receives != 3 || rep.Deleted != 20 || rep.Stop != StopEmpty {
		t.Fatalf("receives = %d, report = %+v", receives, rep)
	}
	if waits[0] != 20*time.Second || waits[1] != 0 || waits[2] != 0 {
		t.Fatalf("waits = %v, want only the first to wait", waits)
	}
}

func TestShortBatchesWhileMessagesRemainDoNotEndTheDrain(t *testing.T) {
	tests := []struct {
		name      string
		receivers int
		cap       int
	}{
		{"one receiver given 5 of 16", 1, 5},
		{"four receivers given 1 of 16", 4, 1},
		{"four receivers given 15 of 16", 4, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := newQueue(t, 60)
			q.cap = tt.cap
			o := testOptions()
			o.Receivers = tt.receivers
			rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), o)
			if rep.Received != 60 || rep.Deleted != 60 || rep.Stop != StopEmpty || q.Len() != 0 {
				t.Fatalf("report = %+v, %d left in the queue", rep, q.Len())
			}
			receives, _, _, _ := q.stats()
			if want := (60+tt.cap-1)/tt.cap + tt.receivers; receives > want {
				t.Fatalf("receives = %d, want at most %d: one empty answer per receiver ends it", receives, want)
			}
		})
	}
}

func TestReceiversRampUpButNeverPassTheLimit(t *testing.T) {
	q, _ := newQueue(t, 16*40)
	o := testOptions()
	o.Receivers = 3
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), o)
	if rep.Deleted != 640 {
		t.Fatalf("report = %+v", rep)
	}
	if q.maxInFlight > 3 || q.maxInFlight < 2 {
		t.Fatalf("at most %d receives ran at once, want 2..3", q.maxInFlight)
	}
	// A full backlog of quick handlers: deletes fill their batches as receives do.
	if perMessage := float64(rep.Requests) / 640; perMessage > 0.15 {
		t.Fatalf("%d requests for 640 messages: %.3f per message", rep.Requests, perMessage)
	}
}

func TestEachOutcomeIsCountedAndOnlyRetriesAreKept(t *testing.T) {
	q, ids := newQueue(t, 4)
	outcomes := map[string]dispatch.Outcome{ids[0]: dispatch.Handled, ids[1]: dispatch.Retry, ids[2]: dispatch.DeadLettered, ids[3]: dispatch.Duplicate}
	d := dispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
		if outcomes[m.ID] == dispatch.Retry {
			return dispatch.Retry, errors.New("handler said no")
		}
		return outcomes[m.ID], nil
	})
	rep := runOne(t, context.Background(), q, d, testOptions())
	if rep.Handled != 1 || rep.Failed != 1 || rep.DeadLettered != 1 || rep.Duplicates != 1 || rep.Deleted != 3 {
		t.Fatalf("report = %+v", rep)
	}
	if st := q.Stats(); st.Deleted != 3 || st.Invisible != 1 {
		t.Fatalf("queue %+v: want all but the retried message deleted, that one kept", st)
	}
}

func TestADispatcherThatDoesNotReturnNormallyKeepsItsMessage(t *testing.T) {
	tests := []struct {
		name string
		d    dispatcherFunc
	}{
		{"one that exits its goroutine", func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
			runtime.Goexit()
			return dispatch.Handled, nil
		}},
		{"one that panics", func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
			panic("boom")
		}},
		{"one that returns an outcome the drain does not know", func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
			return dispatch.Outcome(99), nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := newQueue(t, 3)
			rep := runOne(t, context.Background(), q, tt.d, testOptions())
			if rep.Failed != 3 || rep.Deleted != 0 || q.Len() != 3 {
				t.Fatalf("report = %+v, %d in the queue", rep, q.Len())
			}
		})
	}
}

func TestTheBudgetBoundsTheMessagesReceived(t *testing.T) {
	q, _ := newQueue(t, 100)
	o := testOptions()
	o.MaxMessages = 20
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), o)
	if rep.Received != 20 || rep.Deleted != 20 || rep.Stop != StopBudget {
		t.Fatalf("report = %+v", rep)
	}
}

func TestMaxDurationStopsTheDrainAndFinishesTheBatchInHand(t *testing.T) {
	q, _ := newQueue(t, 1000)
	var now atomic.Int64
	o := testOptions()
	o.Receivers = 1
	o.MaxDuration = 10 * time.Second
	o.Now = func() time.Time { return time.Unix(0, now.Load()) }
	// Every receive takes four seconds of the fake clock: the third one ends past the limit.
	q.onReceive = func() { now.Add(int64(4 * time.Second)) }
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), o)
	if rep.Stop != StopMaxDuration || rep.Received != 48 || rep.Deleted != 48 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestTheDeadlineMargin(t *testing.T) {
	t.Run("an explicit margin longer than the time left is an error, not an empty success", func(t *testing.T) {
		q, _ := newQueue(t, 10)
		o := testOptions()
		o.DeadlineMargin = time.Hour
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := Run(ctx, []Source{{Queue: q, MessageType: "SmsReport"}}, dispatcherFunc(handleAll), o)
		if err == nil || !strings.Contains(err.Error(), "DeadlineMargin 1h0m0s is not less than") || q.receives != 0 {
			t.Fatalf("err = %v, receives = %d", err, q.receives)
		}
	})
	t.Run("a deadline that already passed is an error", func(t *testing.T) {
		q, _ := newQueue(t, 10)
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		_, err := Run(ctx, []Source{{Queue: q, MessageType: "SmsReport"}}, dispatcherFunc(handleAll), testOptions())
		if err == nil || !strings.Contains(err.Error(), "deadline passed") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("the automatic margin shrinks to half of a short deadline, and the drain drains", func(t *testing.T) {
		q, _ := newQueue(t, 50)
		o := testOptions() // automatic margin: 10s + 1s + 3s, far more than the deadline
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		rep := runOne(t, ctx, q, dispatcherFunc(handleAll), o)
		if rep.Received != 50 || rep.Deleted != 50 || rep.Stop != StopEmpty {
			t.Fatalf("report = %+v", rep)
		}
	})
	t.Run("no receive starts inside the margin", func(t *testing.T) {
		q, _ := newQueue(t, 10)
		var now atomic.Int64
		now.Store(time.Now().UnixNano())
		o := testOptions()
		o.Now = func() time.Time { return time.Unix(0, now.Load()) }
		q.onReceive = func() { now.Add(int64(time.Minute)) } // the first receive takes a minute
		q.cap = 1
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		o.DeadlineMargin = time.Hour - 30*time.Second
		rep := runOne(t, ctx, q, dispatcherFunc(handleAll), o)
		if q.receives != 1 || rep.Stop != StopDeadline || rep.Deleted != 1 {
			t.Fatalf("receives = %d, report = %+v", q.receives, rep)
		}
	})
}

func TestAutoMarginCoversAHandlerAndADelete(t *testing.T) {
	o := DefaultOptions()
	if got := o.AutoMargin(); got != o.HandlerTimeout+time.Second+o.DeleteTimeout || got != 14*time.Second {
		t.Fatalf("AutoMargin() = %s", got)
	}
}

func TestHandledMessagesAreDeletedEvenWhenTheInvocationIsCancelled(t *testing.T) {
	q, _ := newQueue(t, 5)
	ctx, cancel := context.WithCancel(context.Background())
	d := dispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
		cancel() // the platform tears the invocation down while handlers run
		return dispatch.Handled, nil
	})
	var receives atomic.Int32
	q.onReceive = func() {
		if receives.Add(1) > 1 {
			<-ctx.Done() // a later receive must not find the queue empty before the handlers ran
		}
	}
	rep := runOne(t, ctx, q, d, testOptions())
	if rep.Deleted != 5 || rep.Stop != StopCanceled {
		t.Fatalf("report = %+v", rep)
	}
}

func TestNoDeleteIsRetriedAfterTheInvocationWasCancelled(t *testing.T) {
	q, _ := newQueue(t, 5)
	q.failEach("delete", queue.ErrTransport, queue.ErrTransport)
	ctx, cancel := context.WithCancel(context.Background())
	d := dispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
		cancel()
		return dispatch.Handled, nil
	})
	o := testOptions()
	o.Receivers = 1
	rep := runOne(t, ctx, q, d, o)
	if _, deletes, _, _ := q.stats(); deletes != 1 || rep.DeleteFailed != 5 || rep.Deleted != 0 {
		t.Fatalf("deletes = %d, report = %+v: want one attempt, its messages counted as possibly still queued", deletes, rep)
	}
}

func TestAHungHandler(t *testing.T) {
	// hang ignores its context until the test ends, as a handler stuck in a call without a
	// timeout would.
	hang := func(t *testing.T, hungID string) dispatcherFunc {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		return func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
			if m.ID == hungID {
				<-release
			}
			return dispatch.Handled, nil
		}
	}
	t.Run("does not hold back its siblings' deletes", func(t *testing.T) {
		q, ids := newQueue(t, 5)
		o := testOptions()
		o.HandlerTimeout = time.Minute
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan Report, 1)
		go func() { done <- runOne(t, ctx, q, hang(t, ids[2]), o) }()
		deadline := time.Now().Add(20 * time.Second)
		for q.Stats().Deleted != 4 {
			if time.Now().After(deadline) {
				t.Fatalf("siblings not deleted while one handler hangs: %+v", q.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		rep := <-done
		if rep.Deleted != 4 || rep.Abandoned != 1 || rep.Failed != 1 || rep.Stop != StopEmpty {
			t.Fatalf("report = %+v", rep)
		}
	})
	t.Run("is abandoned at its timeout and its message kept", func(t *testing.T) {
		q, ids := newQueue(t, 3)
		o := testOptions()
		o.HandlerTimeout = 100 * time.Millisecond
		var rep Report
		within(t, 20*time.Second, func() { rep = runOne(t, context.Background(), q, hang(t, ids[0]), o) })
		if rep.Abandoned != 1 || rep.Failed != 1 || rep.Deleted != 2 || q.Len() != 1 {
			t.Fatalf("report = %+v, %d in the queue", rep, q.Len())
		}
	})
	t.Run("is abandoned soon after the deadline", func(t *testing.T) {
		q, ids := newQueue(t, 3)
		o := testOptions()
		o.HandlerTimeout = time.Hour
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var rep Report
		within(t, 20*time.Second, func() { rep = runOne(t, ctx, q, hang(t, ids[1]), o) })
		if rep.Abandoned != 1 || rep.Deleted != 2 {
			t.Fatalf("report = %+v", rep)
		}
	})
	t.Run("does not keep a cancelled invocation beyond about a second", func(t *testing.T) {
		q, ids := newQueue(t, 3)
		o := testOptions()
		o.HandlerTimeout = time.Hour
		ctx, cancel := context.WithCancel(context.Background())
		q.onReceive = func() { time.AfterFunc(100*time.Millisecond, cancel) }
		var rep Report
		took := within(t, 20*time.Second, func() { rep = runOne(t, ctx, q, hang(t, ids[0]), o) })
		if rep.Abandoned != 1 || rep.Deleted != 2 || took > 10*time.Second {
			t.Fatalf("took %s, report = %+v", took, rep)
		}
	})
}

func TestPassingReceiveFailuresAreRetried(t *testing.T) {
	q, _ := newQueue(t, 3)
	tokenServiceDown := fmt.Errorf("%w: %w: token service unreachable", queue.ErrCredentials, queue.ErrTransport)
	q.failEach("receive", queue.ErrTransport, tokenServiceDown, queue.ErrThrottled)
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if receives, _, _, _ := q.stats(); receives != 5 || rep.Deleted != 3 || rep.Stop != StopEmpty || rep.Requests != 5 {
		t.Fatalf("receives = %d, report = %+v (want 2 failed + 1 good + 1 empty receive requests and 1 delete; the credentials failure sent none)", receives, rep)
	}
}

func TestRequestsCountOnlyWhatReachedTheQueue(t *testing.T) {
	q, _ := newQueue(t, 3)
	q.failEach("receive", fmt.Errorf("%w: token: QueryTokenForMnsQueue refused", queue.ErrCredentials))
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if rep.Requests != 0 || rep.Stop != StopError || !errors.Is(rep.Err, queue.ErrCredentials) || rep.Error != rep.Err.Error() {
		t.Fatalf("report = %+v, Err = %v (want no request, stopped on the credentials error)", rep, rep.Err)
	}
}

func TestRetryBudgetsEndWithTheDeadline(t *testing.T) {
	o := testOptions()
	o.ReceiveAttempts, o.DeleteAttempts = 1000, 1000
	o.RetryBackoff = 300 * time.Millisecond
	o.DeadlineMargin = time.Second
	t.Run("receive", func(t *testing.T) {
		q, _ := newQueue(t, 3)
		q.SetFault(func(op string) error { return queue.ErrTransport })
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var rep Report
		within(t, 15*time.Second, func() { rep = runOne(t, ctx, q, dispatcherFunc(handleAll), o) })
		if rep.Received != 0 || rep.Requests > 20 {
			t.Fatalf("report = %+v", rep)
		}
	})
	t.Run("delete", func(t *testing.T) {
		q, _ := newQueue(t, 3)
		q.failEach("delete", slices.Repeat([]error{queue.ErrTransport}, 1000)...)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var rep Report
		within(t, 15*time.Second, func() { rep = runOne(t, ctx, q, dispatcherFunc(handleAll), o) })
		if rep.Deleted != 0 || rep.DeleteFailed != 3 {
			t.Fatalf("report = %+v", rep)
		}
	})
}

func TestAHungDeleteIsBoundedByDeleteTimeout(t *testing.T) {
	q, _ := newQueue(t, 2)
	o := testOptions()
	o.DeleteTimeout = 200 * time.Millisecond
	o.DeleteAttempts = 2
	q.onDelete = func(ctx context.Context, handles []string) ([]queue.DeleteFailure, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	var rep Report
	within(t, 15*time.Second, func() { rep = runOne(t, context.Background(), q, dispatcherFunc(handleAll), o) })
	if _, deletes, _, _ := q.stats(); deletes != 2 || rep.DeleteFailed != 2 {
		t.Fatalf("deletes = %d, report = %+v", deletes, rep)
	}
}

func TestAFailureThatDoesNotPassStopsTheQueueWithItsError(t *testing.T) {
	tests := []struct {
		name string
		errs []error
	}{
		{"access denied is not retried", []error{fmt.Errorf("%w: AccessDenied", queue.ErrAccessDenied)}},
		{"a rejected token is not retried (the driver replaced it once already)", []error{queue.ErrTokenRejected}},
		{"an expired token is not retried (the driver replaced it once already)", []error{queue.ErrTokenExpired}},
		{"a refused token fetch is not retried", []error{fmt.Errorf("%w: refused", queue.ErrCredentials)}},
		{"a missing queue is not retried", []error{queue.ErrQueueNotExist}},
		{"transport failures are retried only so often", []error{queue.ErrTransport, queue.ErrTransport, queue.ErrTransport, queue.ErrTransport}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := newQueue(t, 3)
			q.failEach("receive", tt.errs...)
			res, err := Run(context.Background(), []Source{{Queue: q, MessageType: "SmsUp"}}, dispatcherFunc(handleAll), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			rep := res.Queues[0]
			if rep.Stop != StopError || rep.Received != 0 || q.receives != len(tt.errs) {
				t.Fatalf("receives = %d, report = %+v", q.receives, rep)
			}
			if last := tt.errs[len(tt.errs)-1]; !errors.Is(rep.Err, last) {
				t.Fatalf("report.Err = %v, want it to wrap %v", rep.Err, last)
			}
			if res.Err() == nil || !strings.Contains(res.Err().Error(), "test-queue: ") {
				t.Fatalf("Result.Err() = %v", res.Err())
			}
		})
	}
}

func TestDeletesThatFailForAPassingReasonAreRetried(t *testing.T) {
	q, ids := newQueue(t, 3)
	q.failEach("delete", queue.ErrTransport)
	q.failDeletes(ids[1], queue.ErrThrottled, 1)
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if rep.Deleted != 3 || rep.DeleteFailed != 0 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestDeleteFailedCountsOnlyMessagesThatMayStillBeInTheQueue(t *testing.T) {
	t.Run("a stale handle on the first attempt may come back", func(t *testing.T) {
		q, ids := newQueue(t, 3)
		q.failDeletes(ids[2], queue.ErrStaleHandle, -1)
		rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
		if _, deletes, _, _ := q.stats(); rep.Deleted != 2 || rep.DeleteFailed != 1 || deletes != 1 {
			t.Fatalf("deletes = %d, report = %+v (want one delete request, not retried)", deletes, rep)
		}
	})
	t.Run("a lost answer whose retry finds the handle gone within the visibility timeout was a delete", func(t *testing.T) {
		q, _ := newQueue(t, 3)
		var lostOnce atomic.Bool
		q.onDelete = func(ctx context.Context, handles []string) ([]queue.DeleteFailure, error) {
			failed, err := q.Queue.Delete(ctx, handles)
			if err == nil && lostOnce.CompareAndSwap(false, true) {
				return nil, fmt.Errorf("connection reset after the server acted: %w", queue.ErrTransport)
			}
			return failed, err
		}
		rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
		if rep.Deleted != 3 || rep.DeleteFailed != 0 || q.Len() != 0 {
			t.Fatalf("report = %+v", rep)
		}
	})
	t.Run("a lost answer whose retry finds the handle gone after the visibility may have run out may come back", func(t *testing.T) {
		q := &observed{Queue: memqueue.New("test-queue", memqueue.Options{VisibilityTimeout: time.Second})}
		q.Send("b")
		var lostOnce atomic.Bool
		q.onDelete = func(ctx context.Context, handles []string) ([]queue.DeleteFailure, error) {
			failed, err := q.Queue.Delete(ctx, handles)
			if err == nil && lostOnce.CompareAndSwap(false, true) {
				return nil, queue.ErrTransport
			}
			return failed, err
		}
		rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
		if rep.Deleted != 0 || rep.DeleteFailed != 1 {
			t.Fatalf("report = %+v: a one-second visibility leaves no certainty", rep)
		}
	})
}

func TestDeletesGiveUpAfterTheirAttempts(t *testing.T) {
	q, _ := newQueue(t, 2)
	q.failEach("delete", queue.ErrTransport, queue.ErrTransport, queue.ErrTransport, queue.ErrTransport)
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if rep.Deleted != 0 || rep.DeleteFailed != 2 || rep.Handled != 2 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestADestinationThatIsDownStopsReceivingAndFinishesWhatIsInHand(t *testing.T) {
	q, _ := newQueue(t, 16*20)
	var calls atomic.Int32
	d := dispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
		if calls.Add(1) == 20 {
			return dispatch.Retry, dispatch.Unavailable(errors.New("webhook: 503"))
		}
		return dispatch.Handled, nil
	})
	res, err := Run(context.Background(), []Source{{Queue: q, MessageType: "SmsReport"}}, d, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	rep := res.Queues[0]
	checkReport(t, rep)
	if rep.Stop != StopDestinationDown || !strings.Contains(rep.Error, "503") || rep.Failed != 1 || rep.Received >= 16*20 ||
		rep.Deleted != rep.Handled || res.Err() != nil {
		t.Fatalf("report = %+v, Err() = %v", rep, res.Err())
	}
	if q.Len() != 16*20-int(rep.Deleted) {
		t.Fatalf("%d in the queue, %d deleted", q.Len(), rep.Deleted)
	}
}

func TestFollowMode(t *testing.T) {
	follow := func() Options {
		o := testOptions()
		o.Mode = ModeFollow
		o.FollowWait = 5 * time.Second
		return o
	}
	t.Run("handles each message as it arrives until MaxDuration", func(t *testing.T) {
		q, _ := newQueue(t, 0)
		o := follow()
		o.MaxDuration = 3 * time.Second
		var mu sync.Mutex
		sent := map[string]time.Time{}
		var late atomic.Int32
		d := dispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
			mu.Lock()
			at := sent[m.Body]
			mu.Unlock()
			if time.Since(at) > 2*time.Second { // far below the 5 s long poll
				late.Add(1)
			}
			return dispatch.Handled, nil
		})
		go func() {
			for i := range 5 {
				time.Sleep(300 * time.Millisecond)
				body := fmt.Sprint(i)
				mu.Lock()
				sent[body] = time.Now()
				mu.Unlock()
				q.Send(body)
			}
		}()
		rep := runOne(t, context.Background(), q, d, o)
		_, _, waits, _ := q.stats()
		if rep.Received != 5 || rep.Deleted != 5 || rep.Stop != StopMaxDuration || late.Load() != 0 {
			t.Fatalf("report = %+v, handled late: %d", rep, late.Load())
		}
		for _, w := range waits {
			if w > 3*time.Second || w < time.Second {
				t.Fatalf("waits = %v: want 1s..3s, cut to the stop time", waits)
			}
		}
	})
	t.Run("an idle queue costs one long poll per wait", func(t *testing.T) {
		q, _ := newQueue(t, 0)
		o := follow()
		o.FollowWait = time.Second
		o.MaxDuration = 3 * time.Second
		rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), o)
		if rep.Requests < 2 || rep.Requests > 4 || rep.Stop != StopMaxDuration {
			t.Fatalf("report = %+v", rep)
		}
	})
	t.Run("long polls answered empty at once do not spin", func(t *testing.T) {
		q, _ := newQueue(t, 0)
		q.failEach("receive", slices.Repeat([]error{queue.ErrEmpty}, 1000)...)
		o := follow()
		o.FollowWait = 2 * time.Second
		o.MaxDuration = 3 * time.Second
		rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), o)
		if rep.Requests > 5 {
			t.Fatalf("report = %+v: one request a second at most", rep)
		}
	})
	t.Run("receivers scale up on a backlog and back down to one", func(t *testing.T) {
		q, _ := newQueue(t, 16*30)
		o := follow()
		o.FollowWait = time.Second
		o.MaxDuration = 3 * time.Second
		rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), o)
		_, _, _, alone := q.stats()
		if rep.Deleted != 16*30 || q.maxInFlight < 2 || q.maxInFlight > o.Receivers {
			t.Fatalf("report = %+v, at most %d receives at once", rep, q.maxInFlight)
		}
		if !alone[len(alone)-1] {
			t.Fatalf("the last receives did not run alone: %v", alone[max(0, len(alone)-6):])
		}
	})
	t.Run("stops at the deadline margin with every handled message deleted", func(t *testing.T) {
		q, _ := newQueue(t, 40)
		o := follow()
		o.DeadlineMargin = time.Second
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var rep Report
		within(t, 15*time.Second, func() { rep = runOne(t, ctx, q, dispatcherFunc(handleAll), o) })
		if rep.Deleted != 40 || rep.Stop != StopDeadline {
			t.Fatalf("report = %+v", rep)
		}
	})
	t.Run("consecutive invocations hand over: every message handled once, none left", func(t *testing.T) {
		q, _ := newQueue(t, 0)
		var mu sync.Mutex
		handled := map[string]int{}
		d := dispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
			mu.Lock()
			handled[m.ID]++
			mu.Unlock()
			return dispatch.Handled, nil
		})
		o := follow()
		o.FollowWait = time.Second
		o.MaxDuration = 3 * time.Second
		stopSending := make(chan struct{})
		sent := make(chan int, 1)
		go func() {
			n := 0
			for {
				select {
				case <-stopSending:
					sent <- n
					return
				case <-time.After(20 * time.Millisecond):
					q.Send("b")
					n++
				}
			}
		}()
		var wg sync.WaitGroup
		reps := make([]Report, 2)
		for i := range reps {
			wg.Go(func() {
				// Receiving ends within the last second before MaxDuration: the second tick starts
				// while the first still receives.
				time.Sleep(time.Duration(i) * 1500 * time.Millisecond)
				reps[i] = runOne(t, context.Background(), q, d, o)
			})
		}
		time.Sleep(3 * time.Second)
		close(stopSending)
		n := <-sent
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for id, times := range handled {
			if times != 1 {
				t.Errorf("message %s handled %d times", id, times)
			}
		}
		if len(handled) != n || q.Len() != 0 || reps[0].Deleted+reps[1].Deleted != int64(n) {
			t.Fatalf("sent %d, handled %d, %d left in the queue; reports %+v", n, len(handled), q.Len(), reps)
		}
	})
	t.Run("a destination that is down ends the long polls too", func(t *testing.T) {
		q, _ := newQueue(t, 3)
		o := follow()
		o.FollowWait = 30 * time.Second
		d := dispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
			return dispatch.Retry, dispatch.Unavailable(errors.New("connection refused"))
		})
		var rep Report
		within(t, 15*time.Second, func() { rep = runOne(t, context.Background(), q, d, o) })
		if rep.Stop != StopDestinationDown || rep.Failed != 3 || q.Len() != 3 {
			t.Fatalf("report = %+v", rep)
		}
	})
	t.Run("a cancelled invocation returns at once", func(t *testing.T) {
		q, _ := newQueue(t, 0)
		o := follow()
		o.FollowWait = 30 * time.Second
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		var rep Report
		within(t, 15*time.Second, func() { rep = runOne(t, ctx, q, dispatcherFunc(handleAll), o) })
		if rep.Stop != StopCanceled {
			t.Fatalf("report = %+v", rep)
		}
	})
}

func TestSeveralQueuesAreDrainedInParallelAndReportedInOrder(t *testing.T) {
	a, _ := newQueue(t, 30)
	b, _ := newQueue(t, 0)
	res, err := Run(context.Background(), []Source{{Queue: a, MessageType: "SmsReport"}, {Queue: b, MessageType: "SmsUp"}},
		dispatcherFunc(handleAll), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if res.Queues[0].MessageType != "SmsReport" || res.Queues[0].Deleted != 30 || res.Queues[1].MessageType != "SmsUp" || res.Queues[1].Received != 0 {
		t.Fatalf("result = %+v", res)
	}
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
}

func TestOptionsValidateNamesTheWrongOption(t *testing.T) {
	o := DefaultOptions()
	o.BatchSize = 17
	o.Receivers = 0
	o.Mode = "tail"
	o.FollowWait = 0
	_, err := Run(context.Background(), nil, dispatcherFunc(handleAll), o)
	for _, want := range []string{"BatchSize is 17", "Receivers is 0", `Mode is "tail": expected "drain" or "follow"`, "FollowWait is 0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %q", err, want)
		}
	}
}

func TestDefaultOptionsAreValid(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
}

// overfull is a queue that answers more messages than it was asked for, as a broken or hostile
// server may: the drain must not take them as its own.
type overfull struct{ *observed }

func (q overfull) Receive(ctx context.Context, n int, wait time.Duration) ([]queue.Message, error) {
	return q.observed.Receive(ctx, queue.MaxBatch, wait)
}

func TestAnswersWithMoreMessagesThanAskedForAreCutToTheRequest(t *testing.T) {
	q, _ := newQueue(t, 20)
	o := testOptions()
	o.Receivers, o.BatchSize = 1, 4
	var rep Report
	within(t, 20*time.Second, func() { rep = runOne(t, context.Background(), overfull{q}, dispatcherFunc(handleAll), o) })
	st := q.Stats()
	// Each receive took 16 and the drain handled 4 of them: the other 12 stay invisible until
	// their visibility timeout, and are delivered again.
	if rep.Received == 0 || rep.Received%4 != 0 || rep.Deleted != rep.Received || st.Deleted != rep.Received ||
		st.Invisible+st.Visible+int(st.Deleted) != 20 || rep.Stop != StopEmpty {
		t.Fatalf("report = %+v, queue = %+v", rep, st)
	}
}
