package dispatch

import (
	"context"
	"fmt"
	"runtime"
	"strings"
)

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
// of crashing the process with every other message in flight. A panic whose value is already
// a *PanicError (one Timeout carried over from its goroutine) is returned as it is.
func Recover() Middleware {
	return func(h HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = newPanicError(v)
				}
			}()
			return h(ctx, m)
		}
	}
}

// newPanicError describes a panic with value v; it must be called from the deferred function
// that recovered it (or, for Timeout, on the panicking goroutine), so the stack is the
// panicking one.
func newPanicError(v any) *PanicError {
	if pe, ok := v.(*PanicError); ok {
		return pe
	}
	// Skipped: runtime.Callers, stackSummary, newPanicError, the deferred function.
	return &PanicError{Value: v, Stack: stackSummary(4, 8)}
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
