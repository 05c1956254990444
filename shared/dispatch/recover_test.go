package dispatch

import (
	"context"
	"errors"
	"testing"
)

func TestRecover(t *testing.T) {
	carried := &PanicError{Value: "carried", Stack: "\tsomewhere (x.go:1)"}
	tests := []struct {
		name      string
		handler   HandlerFunc
		wantValue any
		wantIs    error
		wantSame  *PanicError
	}{
		{name: "a handler that returns is left alone",
			handler: func(context.Context, *Message) error { return errDatabaseDown }, wantIs: errDatabaseDown},
		{name: "a panic with a string becomes a PanicError holding it",
			handler: func(context.Context, *Message) error { panic("boom") }, wantValue: "boom"},
		{name: "a panic with an error can still be matched with errors.Is",
			handler: func(context.Context, *Message) error { panic(errDatabaseDown) }, wantValue: errDatabaseDown, wantIs: errDatabaseDown},
		{name: "a panic with a PanicError is returned as it is",
			handler: func(context.Context, *Message) error { panic(carried) }, wantValue: "carried", wantSame: carried},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Recover()(tt.handler)(context.Background(), &Message{})
			var pe *PanicError
			isPanic := errors.As(err, &pe)
			if isPanic != (tt.wantValue != nil) {
				t.Fatalf("err = %v; PanicError %v, want %v", err, isPanic, tt.wantValue != nil)
			}
			if isPanic && pe.Value != tt.wantValue {
				t.Errorf("Value = %v, want %v", pe.Value, tt.wantValue)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.wantIs)
			}
			if tt.wantSame != nil && pe != tt.wantSame {
				t.Errorf("got a new PanicError %p, want the carried one %p", pe, tt.wantSame)
			}
		})
	}
}
