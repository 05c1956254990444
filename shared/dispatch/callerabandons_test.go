package dispatch

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// Under CallerAbandons the handler runs on the caller's goroutine: a handler that exits its
// goroutine ends the caller's, which is how the drain sees it (a Dispatch that never returns).
func TestUnderCallerAbandonsTheHandlerRunsOnTheCallersGoroutine(t *testing.T) {
	r := mustRouter(t, Options{HandlerTimeout: time.Second})
	r.Handle("SmsReport", func(context.Context, *Message) error {
		runtime.Goexit()
		return nil
	})
	returned := make(chan bool, 1)
	go func() {
		defer func() { returned <- false }()
		_, _ = r.Dispatch(CallerAbandons(context.Background()), newMessage("m1", "SmsReport", smsReportJSON, 1))
		returned <- true
	}()
	if <-returned {
		t.Fatal("Dispatch returned: the handler ran on a goroutine of its own")
	}
	// Without CallerAbandons the same handler's exit is caught on the Router's goroutine.
	out, err := r.Dispatch(context.Background(), newMessage("m2", "SmsReport", smsReportJSON, 1))
	if out != Retry || !errors.Is(err, ErrHandlerExited) {
		t.Errorf("without CallerAbandons = %v, %v; want Retry with ErrHandlerExited", out, err)
	}
}

func TestUnderCallerAbandonsAHandlerGetsTheSameDeadlineAndErrors(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr []error
	}{
		{name: "a handler that honours its context ends with ErrHandlerTimeout at the handler timeout",
			ctx:     func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			wantErr: []error{ErrHandlerTimeout, context.DeadlineExceeded}},
		{name: "a caller's context that ends first ends the handler's, with the caller's cause",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeoutCause(context.Background(), 10*time.Millisecond, ErrHandlerTimeout)
			},
			wantErr: []error{ErrHandlerTimeout, context.DeadlineExceeded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRouter(t, Options{HandlerTimeout: 50 * time.Millisecond})
			r.Handle("SmsReport", func(ctx context.Context, _ *Message) error {
				<-ctx.Done()
				return ctx.Err()
			})
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			out, err := r.Dispatch(CallerAbandons(ctx), newMessage("m1", "SmsReport", smsReportJSON, 1))
			if out != Retry {
				t.Errorf("outcome = %v, want Retry", out)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("error %v does not wrap %v", err, want)
				}
			}
			if took := time.Since(start); took > abandonBound {
				t.Errorf("took %v", took)
			}
		})
	}
}

// On a message's last delivery a hung handler is abandoned by the Router even under
// CallerAbandons, so the message is dead-lettered in time.
func TestUnderCallerAbandonsAHungHandlerOnTheLastDeliveryIsStillAbandonedAndDeadLettered(t *testing.T) {
	h := newHungHandler(nil)
	defer close(h.release)
	var dl deadLetters
	r := mustRouter(t, Options{HandlerTimeout: 20 * time.Millisecond, MaxAttempts: 3, DeadLetter: dl.record})
	r.Handle("SmsReport", h.handle)
	out, err := r.Dispatch(CallerAbandons(context.Background()), newMessage("m1", "SmsReport", smsReportJSON, 3))
	if out != DeadLettered || !errors.Is(err, ErrAttemptsExhausted) || !errors.Is(err, ErrHandlerTimeout) {
		t.Errorf("last delivery = %v, %v; want DeadLettered, attempts exhausted by a handler timeout", out, err)
	}
	if dl.count() != 1 {
		t.Errorf("dead-lettered %d times, want 1", dl.count())
	}
}

// A Dispatch the caller gave up on still holds its message; when the queue delivers it
// again (a higher DequeueCount: its visibility timeout passed), the handler is not run beside
// the hung one, and the last allowed delivery is dead-lettered.
func TestADeliveryWhileAnAbandonedDispatchStillRunsCountsTowardsTheAttemptLimit(t *testing.T) {
	h := newHungHandler(nil)
	var dl deadLetters
	r := mustRouter(t, Options{HandlerTimeout: time.Hour, MaxAttempts: 3, DeadLetter: dl.record})
	r.Handle("SmsReport", h.handle)
	ctx := CallerAbandons(context.Background())
	hung := make(chan struct{})
	go func() {
		defer close(hung)
		_, _ = r.Dispatch(ctx, newMessage("m1", "SmsReport", smsReportJSON, 1))
	}()
	waitUntil(t, "the handler did not start", func() bool { return h.started.Load() == 1 })
	if out, err := r.Dispatch(ctx, newMessage("m1", "SmsReport", smsReportJSON, 1)); out != Retry || !errors.Is(err, ErrInFlight) {
		t.Errorf("the same delivery again while it runs = %v, %v; want Retry with ErrInFlight", out, err)
	}
	if out, err := r.Dispatch(ctx, newMessage("m1", "SmsReport", smsReportJSON, 2)); out != Retry || !errors.Is(err, ErrInFlight) {
		t.Errorf("the next delivery = %v, %v; want Retry with ErrInFlight", out, err)
	}
	out, err := r.Dispatch(ctx, newMessage("m1", "SmsReport", smsReportJSON, 3))
	if out != DeadLettered || !errors.Is(err, ErrAttemptsExhausted) || !errors.Is(err, ErrInFlight) {
		t.Errorf("the last allowed delivery = %v, %v; want DeadLettered, attempts exhausted while in flight", out, err)
	}
	if got := h.started.Load(); got != 1 {
		t.Errorf("handler started %d times, want 1", got)
	}
	close(h.release)
	<-hung
	if dl.count() != 1 {
		t.Errorf("dead-lettered %d times, want 1", dl.count())
	}
}
