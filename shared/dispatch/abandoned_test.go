package dispatch

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// hungHandler is a handler that ignores its context: it runs until release is closed, then
// returns err. started counts its runs; running is true while one runs.
type hungHandler struct {
	release chan struct{}
	err     error
	started atomic.Int32
	running atomic.Int32
	twice   atomic.Bool // two runs overlapped
	ended   chan struct{}
}

func newHungHandler(err error) *hungHandler {
	return &hungHandler{release: make(chan struct{}), err: err, ended: make(chan struct{}, 16)}
}

func (h *hungHandler) handle(context.Context, *Message) error {
	h.started.Add(1)
	if h.running.Add(1) > 1 {
		h.twice.Store(true)
	}
	<-h.release
	h.running.Add(-1)
	defer func() { h.ended <- struct{}{} }()
	return h.err
}

// waitUntil polls cond until it holds or the bound passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(abandonBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", abandonBound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An abandoned handler keeps running (Go cannot stop it), so the in-flight mark of its
// message must last until it returns: the Router must never run it twice at once for one id.
func TestAMessageWhoseAbandonedHandlerStillRunsIsNotHandledAgainMeanwhile(t *testing.T) {
	tests := []struct {
		name       string
		handlerErr error
		wantAfter  Outcome // what the delivery after the abandoned handler returned gets
	}{
		{name: "an abandoned handler that then succeeds finishes its message: the next delivery is a duplicate",
			wantAfter: Duplicate},
		{name: "an abandoned handler that then fails leaves its message unfinished: the next delivery runs it again",
			handlerErr: errDatabaseDown, wantAfter: Handled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHungHandler(tt.handlerErr)
			r := mustRouter(t, Options{HandlerTimeout: 20 * time.Millisecond})
			r.Handle("SmsReport", func(ctx context.Context, m *Message) error {
				if h.started.Load() > 0 && h.running.Load() == 0 {
					return nil // a run after the hung one ended
				}
				return h.handle(ctx, m)
			})
			out, err := r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 1))
			if out != Retry || !errors.Is(err, ErrHandlerTimeout) {
				t.Fatalf("first delivery = %v, %v; want Retry with ErrHandlerTimeout", out, err)
			}
			for count := int64(2); count <= 3; count++ {
				out, err := r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, count))
				if out != Retry || !errors.Is(err, ErrInFlight) {
					t.Errorf("delivery %d while the abandoned handler runs = %v, %v; want Retry with ErrInFlight", count, out, err)
				}
			}
			if got := h.started.Load(); got != 1 {
				t.Errorf("handler started %d times while its first run hung, want 1", got)
			}
			if r.Dedup().Remembers("m1") {
				t.Error("the message is remembered as finished while its handler still runs")
			}
			close(h.release)
			<-h.ended
			// The mark is dropped just after the handler returns, on its own goroutine.
			var after Outcome
			waitUntil(t, "the delivery after the handler returned is still in flight", func() bool {
				after, err = r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 4))
				return !errors.Is(err, ErrInFlight)
			})
			if after != tt.wantAfter {
				t.Errorf("delivery after the abandoned handler returned = %v, %v; want %v", after, err, tt.wantAfter)
			}
			if h.twice.Load() {
				t.Error("two runs of the handler overlapped")
			}
		})
	}
}

// A handler that hangs for ever must not keep its message from being recorded: deliveries
// while it runs still count towards the attempt limit, and the last one is dead-lettered
// without the handler being run again.
func TestAMessageWhoseHandlerHangsForEverIsDeadLetteredAtTheAttemptLimit(t *testing.T) {
	h := newHungHandler(nil)
	defer close(h.release)
	var dl deadLetters
	r := mustRouter(t, Options{HandlerTimeout: 20 * time.Millisecond, MaxAttempts: 3, DeadLetter: dl.record})
	r.Handle("SmsReport", h.handle)
	var out Outcome
	var err error
	for count := int64(1); count <= 3; count++ {
		out, err = r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, count))
	}
	if out != DeadLettered || !errors.Is(err, ErrAttemptsExhausted) || !errors.Is(err, ErrInFlight) {
		t.Errorf("last allowed delivery = %v, %v; want DeadLettered, attempts exhausted while in flight", out, err)
	}
	if dl.count() != 1 {
		t.Errorf("dead-lettered %d times, want 1", dl.count())
	}
	if got := h.started.Load(); got != 1 {
		t.Errorf("handler started %d times, want 1", got)
	}
}

// A handler abandoned because the caller's context ended (the invocation's deadline) holds its
// message the same way as one abandoned at its own timeout.
func TestAHandlerAbandonedWhenTheCallerGivesUpHoldsItsMessageUntilItReturns(t *testing.T) {
	h := newHungHandler(nil)
	r := mustRouter(t, Options{HandlerTimeout: -1})
	r.Handle("SmsReport", h.handle)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if out, err := r.Dispatch(ctx, newMessage("m1", "SmsReport", smsReportJSON, 1)); out != Retry || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first delivery = %v, %v; want Retry with the caller's deadline", out, err)
	}
	if out, err := r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 2)); out != Retry || !errors.Is(err, ErrInFlight) {
		t.Errorf("delivery while the abandoned handler runs = %v, %v; want Retry with ErrInFlight", out, err)
	}
	close(h.release)
	<-h.ended
	waitUntil(t, "the handled message is not remembered as finished", func() bool { return r.Dedup().Remembers("m1") })
	if out, _ := r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 3)); out != Duplicate {
		t.Errorf("delivery after the handler succeeded = %v, want Duplicate", out)
	}
	if got := h.started.Load(); got != 1 {
		t.Errorf("handler started %d times, want 1", got)
	}
}

// An id held only by an abandoned handler is not forgotten when the memory wraps around.
func TestAnIdHeldByAnAbandonedHandlerIsNotForgottenWhenTheMemoryWrapsAround(t *testing.T) {
	h := newHungHandler(nil)
	r := mustRouter(t, Options{HandlerTimeout: 20 * time.Millisecond, DedupSize: 1})
	r.Handle("SmsReport", func(ctx context.Context, m *Message) error {
		if m.ID == "m1" {
			return h.handle(ctx, m)
		}
		return nil
	})
	r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 1))
	r.Dispatch(context.Background(), newMessage("m2", "SmsReport", smsReportJSON, 1)) // takes the only slot
	if out, err := r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 2)); out != Retry || !errors.Is(err, ErrInFlight) {
		t.Errorf("m1 while its abandoned handler runs = %v, %v; want Retry with ErrInFlight", out, err)
	}
	close(h.release)
	<-h.ended
	waitUntil(t, "m1 is not remembered as finished", func() bool { return r.Dedup().Remembers("m1") })
	if r.Dedup().Remembers("m2") {
		t.Error("m2 is still remembered; m1, finished last, should have taken its slot")
	}
}
