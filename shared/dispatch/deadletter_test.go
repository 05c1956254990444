package dispatch

import (
	"context"
	"errors"
	"testing"
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

func TestDeadLetterRefusesANilFunction(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("DeadLetter(nil) did not panic")
		}
	}()
	DeadLetter(nil)
}
