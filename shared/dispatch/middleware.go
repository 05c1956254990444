package dispatch

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
)

// Chain wraps h with mws so that mws[0] is the outermost: Chain(h, a, b) runs a, then b, then h.
func Chain(h HandlerFunc, mws ...Middleware) HandlerFunc {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// PanicError is the error Recover returns for a handler that panicked.
type PanicError struct {
	// Value is what the handler panicked with.
	Value any
	// Stack is a short summary of where: the innermost frames of the panicking code, one
	// "function (file:line)" per line, runtime frames left out.
	Stack string
}

// Error implements error. It names the innermost frame; Stack has the rest.
func (e *PanicError) Error() string {
	at, _, _ := strings.Cut(strings.TrimSpace(e.Stack), "\n")
	if at == "" {
		return fmt.Sprintf("dispatch: handler panicked: %v", e.Value)
	}
	return fmt.Sprintf("dispatch: handler panicked: %v [at %s]", e.Value, at)
}

// Unwrap returns the panic value when it is an error, so errors.Is sees through the panic.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Recover turns a panic in the handlers it wraps into a *PanicError, so the message is kept
// for redelivery (and, if it keeps panicking, dead-lettered when its attempts run out) instead
// of crashing the process with every other message in flight.
func Recover() Middleware {
	return func(h HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = &PanicError{Value: v, Stack: stackSummary(3, 8)}
				}
			}()
			return h(ctx, m)
		}
	}
}

// stackSummary lists up to max frames of the current goroutine, skipping skip callers and
// the runtime's own frames (the panic machinery).
func stackSummary(skip, max int) string {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(skip, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var b strings.Builder
	count := 0
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") && f.Function != "" {
			if count > 0 {
				b.WriteByte('\n')
			}
			fmt.Fprintf(&b, "\t%s (%s:%d)", f.Function, f.File, f.Line)
			count++
		}
		if !more || count == max {
			break
		}
	}
	return b.String()
}

// Timeout gives each message at most d: the handlers it wraps see a context that is done after
// d (or sooner, if the caller's is). A handler that fails after that time ran out has
// ErrHandlerTimeout wrapped into its error, which the Router treats as any other failure:
// the message is kept for redelivery. A handler that ignores its context is not stopped;
// Go cannot stop it, and returning early would leave it running while its message is retried.
// d <= 0 returns the handler unchanged.
func Timeout(d time.Duration) Middleware {
	return func(h HandlerFunc) HandlerFunc {
		if d <= 0 {
			return h
		}
		return func(ctx context.Context, m *Message) error {
			ctx, cancel := context.WithTimeoutCause(ctx, d, ErrHandlerTimeout)
			defer cancel()
			err := h(ctx, m)
			if err != nil && errors.Is(context.Cause(ctx), ErrHandlerTimeout) && !errors.Is(err, ErrHandlerTimeout) {
				return fmt.Errorf("%w after %v: %w", ErrHandlerTimeout, d, err)
			}
			return err
		}
	}
}
