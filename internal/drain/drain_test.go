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

	"github.com/alicom-drain/alicom-drain/internal/queue"
	"github.com/alicom-drain/alicom-drain/internal/queue/memqueue"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// observed is the in-memory queue, with its receives counted, timed and hooked: what a test
// needs to see of how the drain drives a queue. Failures are injected through memqueue's
// fault hooks.
type observed struct {
	*memqueue.Queue
	mu          sync.Mutex
	receives    int
	inFlight    int
	maxInFlight int
	onReceive   func()
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
	q.inFlight++
	q.maxInFlight = max(q.maxInFlight, q.inFlight)
	hook := q.onReceive
	q.mu.Unlock()
	if hook != nil {
		hook()
	}
	time.Sleep(time.Millisecond) // lets parallel receivers overlap, as they would on a network
	msgs, err := q.Queue.Receive(ctx, n, wait)
	q.mu.Lock()
	q.inFlight--
	q.mu.Unlock()
	return msgs, err
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
	o.DeadlineMargin = 0
	o.Wait = 0
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
	q, _ := newQueue(t, 0)
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if q.receives != 1 || rep.Requests != 1 || rep.Stop != StopEmpty || rep.Received != 0 {
		t.Fatalf("receives = %d, report = %+v", q.receives, rep)
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

func TestAShortBatchEndsTheDrainWithoutAnotherReceive(t *testing.T) {
	q, _ := newQueue(t, 20)
	o := testOptions()
	o.Receivers = 1
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), o)
	if q.receives != 2 || rep.Requests != 4 || rep.Deleted != 20 || rep.Stop != StopEmpty {
		t.Fatalf("receives = %d, report = %+v: want 16 + 4 received and deleted, and no empty receive", q.receives, rep)
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

func TestTheBudgetBoundsTheMessagesReceived(t *testing.T) {
	q, _ := newQueue(t, 100)
	o := testOptions()
	o.MaxMessages = 20
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), o)
	if rep.Received != 20 || rep.Deleted != 20 || rep.Stop != StopBudget {
		t.Fatalf("report = %+v", rep)
	}
}

func TestNoReceiveStartsInsideTheDeadlineMargin(t *testing.T) {
	q, _ := newQueue(t, 10)
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

func TestHandledMessagesAreDeletedEvenWhenTheInvocationIsCancelled(t *testing.T) {
	q, _ := newQueue(t, 5)
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
	q, _ := newQueue(t, 3)
	q.failEach("receive", queue.ErrTransport, queue.ErrTokenExpired, queue.ErrThrottled)
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
			if res.Err() == nil || !strings.Contains(res.Err().Error(), "test-queue: ") {
				t.Fatalf("Result.Err() = %v", res.Err())
			}
		})
	}
}

func TestDeletesThatFailForAPassingReasonAreRetried(t *testing.T) {
	q, ids := newQueue(t, 3)
	q.failEach("delete", queue.ErrTransport)
	q.failDeletes(ids[1], queue.ErrTransport, 1)
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if rep.Deleted != 3 || rep.DeleteFailed != 0 {
		t.Fatalf("report = %+v", rep)
	}
}

func TestAStaleHandleIsNotRetriedAndIsReported(t *testing.T) {
	q, ids := newQueue(t, 3)
	q.failDeletes(ids[2], queue.ErrStaleHandle, -1)
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if rep.Deleted != 2 || rep.DeleteFailed != 1 || rep.Requests != 2 {
		t.Fatalf("report = %+v (want one delete request, not retried)", rep)
	}
}

func TestDeletesGiveUpAfterTheirAttempts(t *testing.T) {
	q, _ := newQueue(t, 2)
	q.failEach("delete", queue.ErrTransport, queue.ErrTransport, queue.ErrTransport, queue.ErrTransport)
	rep := runOne(t, context.Background(), q, dispatcherFunc(handleAll), testOptions())
	if rep.Deleted != 0 || rep.DeleteFailed != 2 || rep.Handled != 2 {
		t.Fatalf("report = %+v", rep)
	}
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
	_, err := Run(context.Background(), nil, dispatcherFunc(handleAll), o)
	if err == nil || !strings.Contains(err.Error(), "BatchSize is 17") || !strings.Contains(err.Error(), "Receivers is 0") {
		t.Fatalf("err = %v", err)
	}
}
