package drain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/dispatch"
	"github.com/alicom-drain/alicom-drain/shared/queue"
)

// scriptedQueue is a queue whose every call can be made to fail, and which records what the
// drain asked of it. Messages are never redelivered: each test looks at one invocation.
type scriptedQueue struct {
	mu          sync.Mutex
	pending     []queue.Message
	receiveErrs []error // returned by successive receives before any message
	deleteErrs  []error // whole-request errors of successive deletes
	staleHandle string  // a handle whose delete always fails as stale
	transient   map[string]int
	deleted     []string
	receives    int
	inFlight    int
	maxInFlight int
	onReceive   func()
}

func newScriptedQueue(n int) *scriptedQueue {
	q := &scriptedQueue{transient: map[string]int{}}
	for i := range n {
		id := fmt.Sprintf("M%03d", i)
		q.pending = append(q.pending, queue.Message{ID: id, ReceiptHandle: "h-" + id, Body: "b", DequeueCount: 1})
	}
	return q
}

func (q *scriptedQueue) Name() string { return "test-queue" }

func (q *scriptedQueue) Receive(ctx context.Context, n int, wait time.Duration) ([]queue.Message, error) {
	q.mu.Lock()
	q.receives++
	q.inFlight++
	q.maxInFlight = max(q.maxInFlight, q.inFlight)
	hook := q.onReceive
	q.mu.Unlock()
	if hook != nil {
		hook()
	}
	time.Sleep(time.Millisecond) // lets parallel receivers overlap, as they would on a network
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inFlight--
	if len(q.receiveErrs) > 0 {
		err := q.receiveErrs[0]
		q.receiveErrs = q.receiveErrs[1:]
		return nil, err
	}
	if len(q.pending) == 0 {
		return nil, queue.ErrEmpty
	}
	n = min(n, len(q.pending))
	out := append([]queue.Message(nil), q.pending[:n]...)
	q.pending = q.pending[n:]
	return out, nil
}

func (q *scriptedQueue) Delete(ctx context.Context, handles []string) ([]queue.DeleteFailure, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.deleteErrs) > 0 {
		err := q.deleteErrs[0]
		q.deleteErrs = q.deleteErrs[1:]
		return nil, err
	}
	var failed []queue.DeleteFailure
	for _, h := range handles {
		switch {
		case h == q.staleHandle:
			failed = append(failed, queue.DeleteFailure{ReceiptHandle: h, Err: queue.ErrStaleHandle})
		case q.transient[h] > 0:
			q.transient[h]--
			failed = append(failed, queue.DeleteFailure{ReceiptHandle: h, Err: queue.ErrTransport})
		default:
			q.deleted = append(q.deleted, h)
		}
	}
	return failed, nil
}

func (q *scriptedQueue) ChangeVisibility(context.Context, string, time.Duration) (string, error) {
	return "", errors.New("not used by the drain")
}

func (q *scriptedQueue) deletedSet() map[string]bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string]bool{}
	for _, h := range q.deleted {
		out[h] = true
	}
	return out
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
	o.DeadlineMargin = 0
	return o
}

func runOne(t *testing.T, ctx context.Context, q queue.Queue, d Dispatcher, o Options) Report {
	t.Helper()
	res, err := Run(ctx, []Source{{Queue: q, MessageType: "SmsReport"}}, d, o)
	if err != nil {
		t.Fatal(err)
	}
	return res.Queues[0]
}

func TestAnEmptyQueueCostsOneReceive(t *testing.T) {
	q := newScriptedQueue(0)
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if q.receives != 1 || rep.Requests != 1 || rep.Stop != StopEmpty || rep.Received != 0 {
		t.Fatalf("receives = %d, report = %+v", q.receives, rep)
	}
}

func TestABacklogIsHandledAndDeletedOnceEach(t *testing.T) {
	q := newScriptedQueue(203)
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
	if got := len(q.deletedSet()); got != 203 {
		t.Fatalf("deleted %d distinct handles, want 203", got)
	}
}

func TestAShortBatchEndsTheDrainWithoutAnotherReceive(t *testing.T) {
	q := newScriptedQueue(20)
	o := testOptions()
	o.Receivers = 1
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), o)
	if q.receives != 2 || rep.Requests != 4 || rep.Deleted != 20 || rep.Stop != StopEmpty {
		t.Fatalf("receives = %d, report = %+v: want 16 + 4 received and deleted, and no empty receive", q.receives, rep)
	}
}

func TestReceiversRampUpButNeverPassTheLimit(t *testing.T) {
	q := newScriptedQueue(16 * 40)
	o := testOptions()
	o.Receivers = 3
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), o)
	if rep.Deleted != 640 {
		t.Fatalf("report = %+v", rep)
	}
	if q.maxInFlight > 3 || q.maxInFlight < 2 {
		t.Fatalf("at most %d receives ran at once, want 2..3", q.maxInFlight)
	}
}

func TestEachOutcomeIsCountedAndOnlyRetriesAreKept(t *testing.T) {
	q := newScriptedQueue(4)
	outcomes := map[string]dispatch.Outcome{"M000": dispatch.Handled, "M001": dispatch.Retry, "M002": dispatch.DeadLettered, "M003": dispatch.Duplicate}
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
	if del := q.deletedSet(); del["h-M001"] || !del["h-M000"] || !del["h-M002"] || !del["h-M003"] {
		t.Fatalf("deleted = %v: want all but the retried message", del)
	}
}

func TestTheBudgetBoundsTheMessagesReceived(t *testing.T) {
	q := newScriptedQueue(100)
	o := testOptions()
	o.MaxMessages = 20
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), o)
	if rep.Received != 20 || rep.Deleted != 20 || rep.Stop != StopBudget {
		t.Fatalf("report = %+v", rep)
	}
}

func TestNoReceiveStartsInsideTheDeadlineMargin(t *testing.T) {
	q := newScriptedQueue(10)
	o := testOptions()
	o.DeadlineMargin = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := runOne(t, ctx, q, dispatcherFunc(handleAll), o)
	if q.receives != 0 || rep.Stop != StopDeadline {
		t.Fatalf("receives = %d, report = %+v", q.receives, rep)
	}
}

func TestMaxDurationStopsTheDrainAndFinishesTheBatchInHand(t *testing.T) {
	q := newScriptedQueue(1000)
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

func TestHandledMessagesAreDeletedEvenWhenTheInvocationIsCancelled(t *testing.T) {
	q := newScriptedQueue(5)
	ctx, cancel := context.WithCancel(context.Background())
	d := dispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
		cancel() // the platform tears the invocation down while handlers run
		return dispatch.Handled, nil
	})
	rep := runOne(t, ctx, q, d, testOptions())
	if rep.Deleted != 5 || rep.Stop != StopCanceled {
		t.Fatalf("report = %+v", rep)
	}
}

func TestPassingReceiveFailuresAreRetried(t *testing.T) {
	q := newScriptedQueue(3)
	q.receiveErrs = []error{queue.ErrTransport, queue.ErrTokenExpired, queue.ErrThrottled}
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if rep.Deleted != 3 || rep.Stop != StopEmpty || rep.Requests != 5 {
		t.Fatalf("report = %+v (want 3 failed + 1 good receives and 1 delete)", rep)
	}
}

func TestAFailureThatDoesNotPassStopsTheQueueWithItsError(t *testing.T) {
	tests := []struct {
		name string
		errs []error
	}{
		{"access denied is not retried", []error{fmt.Errorf("%w: AccessDenied", queue.ErrAccessDenied)}},
		{"a missing queue is not retried", []error{queue.ErrQueueNotExist}},
		{"transport failures are retried only so often", []error{queue.ErrTransport, queue.ErrTransport, queue.ErrTransport, queue.ErrTransport}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newScriptedQueue(3)
			q.receiveErrs = tt.errs
			res, err := Run(context.Background(), []Source{{Queue: q, MessageType: "SmsUp"}}, dispatcherFunc(handleAll), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			rep := res.Queues[0]
			if rep.Stop != StopError || rep.Received != 0 || q.receives != len(tt.errs) {
				t.Fatalf("receives = %d, report = %+v", q.receives, rep)
			}
			if res.Err() == nil || !strings.Contains(res.Err().Error(), "test-queue: ") {
				t.Fatalf("Result.Err() = %v", res.Err())
			}
		})
	}
}

func TestDeletesThatFailForAPassingReasonAreRetried(t *testing.T) {
	q := newScriptedQueue(3)
	q.deleteErrs = []error{queue.ErrTransport}
	q.transient["h-M001"] = 1
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if rep.Deleted != 3 || rep.DeleteFailed != 0 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestAStaleHandleIsNotRetriedAndIsReported(t *testing.T) {
	q := newScriptedQueue(3)
	q.staleHandle = "h-M002"
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if rep.Deleted != 2 || rep.DeleteFailed != 1 || rep.Requests != 2 {
		t.Fatalf("report = %+v (want one delete request, not retried)", rep)
	}
}

func TestDeletesGiveUpAfterTheirAttempts(t *testing.T) {
	q := newScriptedQueue(2)
	q.deleteErrs = []error{queue.ErrTransport, queue.ErrTransport, queue.ErrTransport, queue.ErrTransport}
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if rep.Deleted != 0 || rep.DeleteFailed != 2 || rep.Handled != 2 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestSeveralQueuesAreDrainedInParallelAndReportedInOrder(t *testing.T) {
	a, b := newScriptedQueue(30), newScriptedQueue(0)
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
	_, err := Run(context.Background(), nil, dispatcherFunc(handleAll), o)
	if err == nil || !strings.Contains(err.Error(), "BatchSize is 17") || !strings.Contains(err.Error(), "Receivers is 0") {
		t.Fatalf("err = %v", err)
	}
}
