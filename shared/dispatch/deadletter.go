package dispatch

import (
	"context"
	"errors"
	"fmt"
)

// ErrDeadLetterFailed is returned with Retry when the dead-letter function failed or
// panicked: the message stays in the queue and comes back.
var ErrDeadLetterFailed = errors.New("dispatch: dead-letter failed")

// DeadLetter is the policy that records before letting go: when next answers DeadLettered,
// fn is called with the message and the reason (next's error), and only when fn returns nil
// is the answer DeadLettered. A fn that fails, panics, exits its goroutine or is still running
// when ctx ends (it runs inside Timeout(0) and Recover, like a handler) keeps the message:
// Retry with an error wrapping ErrDeadLetterFailed, fn's error and the reason; inside
// Deduplicate a record abandoned that way holds the message like an abandoned handler (see
// Timeout), and finishes it if it is written after all. Place it outside every policy that
// decides to dead-letter (Poison, Decode, the handler's Permanent errors).
func DeadLetter(fn DeadLetterFunc) Policy {
	if fn == nil {
		panic("dispatch: DeadLetter with a nil function")
	}
	return func(next DispatchFunc) DispatchFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			out, reason := next(ctx, m)
			if out != DeadLettered {
				return out, reason
			}
			if reason == nil {
				reason = errors.New("dispatch: dead-lettered without a reason")
			}
			record := func(ctx context.Context, m *Message) error { return fn(ctx, m, reason) }
			if err := Chain(record, Timeout(0), Recover())(ctx, m); err != nil {
				return Retry, fmt.Errorf("%w: %w (dead-letter reason: %w)", ErrDeadLetterFailed, err, reason)
			}
			return DeadLettered, reason
		}
	}
}
