package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Timeout runs the handlers it wraps on a goroutine of their own and gives each message at
// most d. The handler's context is done after d (or sooner, when the caller's is), with
// ErrHandlerTimeout as its cause. Timeout returns as soon as that context is done, whether or
// not the handler has returned:
//
//   - a handler that returns an error after its time ran out has ErrHandlerTimeout wrapped
//     into it;
//   - a handler still running when d passes is abandoned: Timeout returns an error wrapping
//     ErrHandlerTimeout and context.DeadlineExceeded, and the message is kept for redelivery
//     like after any other failure. The abandoned goroutine is left running (Go cannot stop
//     it); it should not touch the Message any more, and its result is dropped, except that
//     inside Deduplicate (as in a Router) the message's in-flight mark lasts until it ends,
//     and it finishes the message if the handler returns nil (see Deduplicate): a
//     redelivery meanwhile does not run the handler beside it;
//   - a handler still running when the caller's context ends is abandoned the same way, with
//     the caller's cause (context.Canceled, context.DeadlineExceeded) instead of
//     ErrHandlerTimeout: the invocation returns on time;
//   - a handler that never returns normally, by runtime.Goexit (as testing.T.FailNow does),
//     gives ErrHandlerExited: the message is kept, never counted as handled;
//   - a panic that reaches Timeout's goroutine is carried to the caller's goroutine and
//     raised there again as a *PanicError, so that Timeout changes nothing about panics; put
//     Recover inside Timeout to turn them into errors (the Router does).
//
// d <= 0 sets no bound of Timeout's own; the handler still runs on its own goroutine and is
// abandoned when the caller's context ends.
func Timeout(d time.Duration) Middleware {
	return func(h HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) error {
			ctx, cancel := handlerContext(ctx, d)
			defer cancel()
			c := calls.Get().(*handlerCall)
			c.ctx, c.h, c.m = ctx, h, m
			go c.run()
			select {
			case <-c.done:
				return c.finish().err(ctx, d)
			case <-ctx.Done():
				if !c.abandon(ctx) { // finished at the same moment: its answer wins
					<-c.done
					return c.finish().err(ctx, d)
				}
				// c stays with the abandoned goroutine, never back in the pool.
				if errors.Is(context.Cause(ctx), ErrHandlerTimeout) {
					return fmt.Errorf("%w: still running after %v, abandoned: %w", ErrHandlerTimeout, d, context.DeadlineExceeded)
				}
				return fmt.Errorf("dispatch: handler abandoned when its caller's context ended: %w", context.Cause(ctx))
			}
		}
	}
}

// handlerContext is the context of a handler given at most d (no bound of its own for d <= 0):
// done after d with ErrHandlerTimeout as its cause, which is how Timeout's errors tell the
// handler's deadline from the caller's.
func handlerContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, d, ErrHandlerTimeout)
}

// handlerCall is one handler run on its own goroutine. Calls that end in time go back to the
// pool, so a message costs one allocation (the goroutine's closure) rather than four.
type handlerCall struct {
	ctx    context.Context
	h      HandlerFunc
	m      *Message
	done   chan struct{} // capacity 1: the goroutine never blocks, even when abandoned
	result handlerResult

	mu    sync.Mutex    // orders the goroutine's end against its abandonment
	ended bool          // the goroutine has its result
	onEnd func(ok bool) // set when abandoned: told whether the handler returned nil
}

var calls = sync.Pool{New: func() any { return &handlerCall{done: make(chan struct{}, 1)} }}

// run runs the handler and reports how it ended, whatever way it ends: the deferred send runs
// on return, on panic and on runtime.Goexit alike.
func (c *handlerCall) run() {
	var r handlerResult
	defer func() {
		if v := recover(); v != nil {
			r.panicked = newPanicError(v)
		}
		c.mu.Lock()
		c.result, c.ended = r, true
		onEnd := c.onEnd // read before the send: once the caller has it, c may be reused
		c.mu.Unlock()
		c.done <- struct{}{}
		if onEnd != nil {
			onEnd(r.returned && r.handlerErr == nil && r.panicked == nil)
		}
	}()
	r.handlerErr = c.h(c.ctx, c.m)
	r.returned = true
}

// abandon gives up waiting for a call still running, extending the in-flight mark of its
// message (see holdInFlight) until it ends. It reports false, abandoning nothing, when the call
// has already ended: then its result is, or is about to be, on c.done.
func (c *handlerCall) abandon(ctx context.Context) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return false
	}
	c.onEnd = holdInFlight(ctx)
	return true
}

// finish takes the result of a call that ended and returns the call to the pool.
func (c *handlerCall) finish() handlerResult {
	r := c.result
	c.ctx, c.h, c.m, c.result, c.ended, c.onEnd = nil, nil, nil, handlerResult{}, false, nil
	calls.Put(c)
	return r
}

// handlerResult is how a handler's goroutine ended.
type handlerResult struct {
	returned   bool // the handler returned normally, with handlerErr
	handlerErr error
	panicked   *PanicError // the handler panicked and nothing recovered it
}

// err turns the result into the handler's error as Timeout returns it, raising a carried
// panic again.
func (r handlerResult) err(ctx context.Context, d time.Duration) error {
	switch {
	case r.panicked != nil:
		panic(r.panicked)
	case !r.returned:
		return ErrHandlerExited
	case r.handlerErr != nil && errors.Is(context.Cause(ctx), ErrHandlerTimeout) && !errors.Is(r.handlerErr, ErrHandlerTimeout):
		return fmt.Errorf("%w after %v: %w", ErrHandlerTimeout, d, r.handlerErr)
	}
	return r.handlerErr
}

// CallerAbandons returns a copy of ctx that tells a Router its caller bounds each Dispatch
// itself: the caller runs every Dispatch on a goroutine of its own and gives up on one that
// has not returned some time after the handler timeout, keeping its message for redelivery,
// as the drain does. A Router given such a context runs the handler on the caller's goroutine
// instead of starting one per message (the hand-off between two goroutines costs more CPU
// than decoding the message), with the same deadline and the same errors as Timeout, except
// on the message's last delivery: a handler that hangs there must still be abandoned by the
// Router in time to dead-letter the message, so it runs inside Timeout as usual. A handler
// that exits its goroutine (runtime.Goexit) ends the caller's goroutine with it; the caller
// must treat that as a failure.
func CallerAbandons(ctx context.Context) context.Context {
	return context.WithValue(ctx, callerAbandonsKey{}, true)
}

type callerAbandonsKey struct{}

func callerAbandons(ctx context.Context) bool { return ctx.Value(callerAbandonsKey{}) != nil }

// inlineTimeout is Timeout for a caller that abandons hung handlers itself (CallerAbandons):
// the handler runs on the calling goroutine, its context ends after d with ErrHandlerTimeout
// as the cause, and its error is wrapped as Timeout wraps it.
func inlineTimeout(d time.Duration) Middleware {
	return func(h HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) error {
			ctx, cancel := handlerContext(ctx, d)
			defer cancel()
			return handlerResult{returned: true, handlerErr: h(ctx, m)}.err(ctx, d)
		}
	}
}
