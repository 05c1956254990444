package dispatch

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// abandonBound is how long a test waits for an abandoned handler's caller: far above the
// handler timeouts used (tens of milliseconds), far below the minute the handlers sleep.
const abandonBound = 20 * time.Second

func TestTimeoutEndsEveryWayAHandlerCanEnd(t *testing.T) {
	tests := []struct {
		name      string
		timeout   time.Duration
		cancel    bool // cancel the caller's context right away
		handler   HandlerFunc
		wantErr   []error
		wantNoErr []error
		wantNil   bool
	}{
		{name: "a handler that returns in time gives its own result",
			timeout: time.Minute, handler: func(context.Context, *Message) error { return nil }, wantNil: true},
		{name: "a handler that fails in time gives its own error unchanged",
			timeout: time.Minute, handler: func(context.Context, *Message) error { return errDatabaseDown },
			wantErr: []error{errDatabaseDown}, wantNoErr: []error{ErrHandlerTimeout}},
		{name: "a handler that ignores its context is abandoned at its timeout",
			timeout: 20 * time.Millisecond,
			handler: func(context.Context, *Message) error { time.Sleep(time.Minute); return nil },
			wantErr: []error{ErrHandlerTimeout, context.DeadlineExceeded}},
		{name: "a handler that ignores its context is abandoned when the caller's context ends",
			timeout: time.Minute, cancel: true,
			handler: func(context.Context, *Message) error { time.Sleep(time.Minute); return nil },
			wantErr: []error{context.Canceled}, wantNoErr: []error{ErrHandlerTimeout}},
		{name: "without a timeout of its own a hung handler is abandoned when the caller's context ends",
			timeout: -1, cancel: true,
			handler: func(context.Context, *Message) error { time.Sleep(time.Minute); return nil },
			wantErr: []error{context.Canceled}},
		{name: "a handler that calls runtime.Goexit gives ErrHandlerExited",
			timeout: time.Minute, handler: func(context.Context, *Message) error { runtime.Goexit(); return nil },
			wantErr: []error{ErrHandlerExited}},
		{name: "a handler that calls runtime.Goexit without a timeout gives ErrHandlerExited",
			timeout: 0, handler: func(context.Context, *Message) error { runtime.Goexit(); return nil },
			wantErr: []error{ErrHandlerExited}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			errc := make(chan error, 1)
			go func() { errc <- Timeout(tt.timeout)(tt.handler)(ctx, &Message{}) }()
			var err error
			select {
			case err = <-errc:
			case <-time.After(abandonBound):
				t.Fatalf("Timeout did not return within %v", abandonBound)
			}
			if tt.wantNil && err != nil {
				t.Errorf("err = %v, want nil", err)
			}
			if !tt.wantNil && err == nil {
				t.Error("err = nil, want an error")
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to wrap %v", err, want)
				}
			}
			for _, not := range tt.wantNoErr {
				if errors.Is(err, not) {
					t.Errorf("err = %v, want it not to wrap %v", err, not)
				}
			}
		})
	}
}

func TestAPanicOnTimeoutsGoroutineIsRaisedAgainOnTheCallers(t *testing.T) {
	h := Timeout(time.Minute)(panickingHandler)
	defer func() {
		v := recover()
		pe, ok := v.(*PanicError)
		if !ok {
			t.Fatalf("recovered %#v, want a *PanicError", v)
		}
		if pe.Value != "index out of range in test" || !strings.Contains(pe.Stack, "panickingHandler") {
			t.Errorf("panic %v with stack %q, want the handler's value and frame", pe.Value, pe.Stack)
		}
	}()
	h(context.Background(), &Message{})
	t.Fatal("the panic did not reach the caller")
}

func TestRecoverOutsideTimeoutStillTurnsAPanicIntoAnError(t *testing.T) {
	err := Chain(panickingHandler, Recover(), Timeout(time.Minute))(context.Background(), &Message{})
	var pe *PanicError
	if !errors.As(err, &pe) || !strings.Contains(pe.Stack, "panickingHandler") {
		t.Errorf("err = %v, want a *PanicError naming panickingHandler", err)
	}
}

// Issue 8 item 5: a handler that ignores its context must not keep the invocation past its
// deadline; its message is kept.
func TestDispatchReturnsAboutAtTheTimeoutWhenAHandlerIgnoresItsContext(t *testing.T) {
	const timeout = 50 * time.Millisecond
	r := mustRouter(t, Options{HandlerTimeout: timeout})
	r.Handle("SmsReport", func(context.Context, *Message) error { time.Sleep(time.Minute); return nil })
	start := time.Now()
	out, err := r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 1))
	if elapsed := time.Since(start); elapsed > abandonBound {
		t.Fatalf("Dispatch took %v with a %v handler timeout", elapsed, timeout)
	}
	if out != Retry || !errors.Is(err, ErrHandlerTimeout) {
		t.Errorf("Dispatch = %v, %v; want Retry with ErrHandlerTimeout", out, err)
	}
}
