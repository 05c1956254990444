package dispatch

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestDeadLetter(t *testing.T) {
	storeDown := errors.New("log store unavailable")
	tests := []struct {
		name      string
		store     *deadLetters
		out       Outcome // what next answers
		wantOut   Outcome
		wantErr   []error
		wantPanic bool
		wantCalls int
	}{
		{name: "a message headed for the dead-letter path is recorded, then dead-lettered",
			store: &deadLetters{}, out: DeadLettered, wantOut: DeadLettered, wantErr: []error{errDatabaseDown}, wantCalls: 1},
		{name: "a record that fails keeps the message",
			store: &deadLetters{fail: storeDown}, out: DeadLettered, wantOut: Retry, wantErr: []error{ErrDeadLetterFailed, storeDown, errDatabaseDown}},
		{name: "a record that panics keeps the message",
			store: &deadLetters{panics: true}, out: DeadLettered, wantOut: Retry, wantErr: []error{ErrDeadLetterFailed, errDatabaseDown}, wantPanic: true},
		{name: "a kept message is not recorded",
			store: &deadLetters{}, out: Retry, wantOut: Retry, wantErr: []error{errDatabaseDown}},
		{name: "a handled message is not recorded",
			store: &deadLetters{}, out: Handled, wantOut: Handled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := func(context.Context, *Message) (Outcome, error) {
				if tt.out == Handled {
					return Handled, nil
				}
				return tt.out, errDatabaseDown
			}
			out, err := DeadLetter(tt.store.record)(next)(context.Background(), &Message{ID: "m1"})
			if out != tt.wantOut {
				t.Errorf("outcome = %v, want %v (err %v)", out, tt.wantOut, err)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to wrap %v", err, want)
				}
			}
			var pe *PanicError
			if got := errors.As(err, &pe); got != tt.wantPanic {
				t.Errorf("PanicError in err = %v, want %v (err %v)", got, tt.wantPanic, err)
			}
			if got := tt.store.count(); got != tt.wantCalls {
				t.Errorf("recorded %d times, want %d", got, tt.wantCalls)
			}
			if tt.wantCalls > 0 && tt.store.reasons[0] != err {
				t.Errorf("recorded reason %v differs from the returned error %v", tt.store.reasons[0], err)
			}
		})
	}
}

func TestADeadLetterFunctionThatNeverReturnsKeepsTheMessage(t *testing.T) {
	tests := []struct {
		name    string
		fn      DeadLetterFunc
		cancel  bool
		wantErr error
	}{
		{name: "a record that calls runtime.Goexit keeps the message",
			fn: func(context.Context, *Message, error) error { runtime.Goexit(); return nil }, wantErr: ErrHandlerExited},
		{name: "a record still running when the caller's context ends keeps the message",
			fn:     func(context.Context, *Message, error) error { time.Sleep(time.Minute); return nil },
			cancel: true, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			next := func(context.Context, *Message) (Outcome, error) {
				if tt.cancel {
					cancel()
				}
				return DeadLettered, errDatabaseDown
			}
			type result struct {
				out Outcome
				err error
			}
			done := make(chan result, 1)
			go func() {
				out, err := DeadLetter(tt.fn)(next)(ctx, &Message{ID: "m1"})
				done <- result{out, err}
			}()
			select {
			case r := <-done:
				if r.out != Retry || !errors.Is(r.err, ErrDeadLetterFailed) || !errors.Is(r.err, tt.wantErr) {
					t.Errorf("DeadLetter = %v, %v; want Retry with ErrDeadLetterFailed and %v", r.out, r.err, tt.wantErr)
				}
			case <-time.After(abandonBound):
				t.Fatalf("DeadLetter did not return within %v", abandonBound)
			}
		})
	}
}

func TestDeadLetterRefusesANilFunction(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("DeadLetter(nil) did not panic")
		}
	}()
	DeadLetter(nil)
}

// Inside a Router a dead-letter record abandoned when the caller's context ended holds its
// message like an abandoned handler does (see Timeout): it may still be written, and once it
// is, the message is recorded, so its next delivery is a Duplicate rather than a second record.
func TestADeadLetterRecordAbandonedInARouterSettlesItsMessageOnceWritten(t *testing.T) {
	release := make(chan struct{})
	var records atomic.Int32
	r := mustRouter(t, Options{MaxAttempts: 1, DeadLetter: func(context.Context, *Message, error) error {
		<-release // ignores its context, like a log store that hangs
		records.Add(1)
		return nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	r.Handle("SmsReport", func(context.Context, *Message) error {
		cancel() // the invocation ends while the record is being written
		return Permanent(errDatabaseDown)
	})
	out, err := r.Dispatch(ctx, newMessage("m1", "SmsReport", smsReportJSON, 1))
	if out != Retry || !errors.Is(err, ErrDeadLetterFailed) || !errors.Is(err, context.Canceled) {
		t.Fatalf("with the record abandoned = %v, %v; want Retry with ErrDeadLetterFailed", out, err)
	}
	if r.Dedup().Remembers("m1") {
		t.Fatal("the message counts as finished before its record was written")
	}
	close(release)
	waitUntil(t, "the written record finishes the message", func() bool { return r.Dedup().Remembers("m1") })
	if out, err := r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 2)); out != Duplicate || err != nil {
		t.Errorf("the next delivery = %v, %v; want Duplicate", out, err)
	}
	if n := records.Load(); n != 1 {
		t.Errorf("%d records written, want 1", n)
	}
}
