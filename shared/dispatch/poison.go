package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors a dead-letter reason from Poison wraps, besides the last failure.
var (
	// ErrAttemptsExhausted marks a message that failed on a delivery whose DequeueCount
	// reached the attempt limit.
	ErrAttemptsExhausted = errors.New("dispatch: delivery attempts exhausted")
	// ErrOutageHorizon marks a message whose destination stayed Unavailable until the
	// message was older than the outage horizon.
	ErrOutageHorizon = errors.New("dispatch: destination unavailable past the outage horizon")
)

// Poison is the policy that stops a message from coming back for ever. It looks only at a Retry
// from next, and turns it into DeadLettered (to be recorded by DeadLetter) when:
//
//   - the failure IsUnavailable (the destination, not the message, failed) and the message is
//     at least outageHorizon old (now − EnqueueTime); its DequeueCount does not count, since
//     every message fails while the destination is down. A message whose EnqueueTime is
//     unknown, or an outageHorizon <= 0, is never dead-lettered for an outage;
//   - any other failure happened on a delivery with DequeueCount >= maxAttempts (a carrier
//     that cannot count leaves DequeueCount 0: never). This covers handler errors, panics,
//     timeouts, runtime.Goexit, and an MD5 mismatch that persists (see Decode).
//
// A failure while the caller's context is done is kept as it is: it says nothing about the
// message (the invocation is ending). maxAttempts < 1 is taken as 1.
func Poison(maxAttempts int64, outageHorizon time.Duration) Policy {
	maxAttempts = max(maxAttempts, 1)
	return func(next DispatchFunc) DispatchFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			out, err := next(ctx, m)
			if out != Retry || err == nil || ctx.Err() != nil {
				return out, err
			}
			if IsUnavailable(err) && !m.FinalDelivery {
				if outageHorizon <= 0 || m.EnqueueTime.IsZero() {
					return Retry, err
				}
				if age := time.Since(m.EnqueueTime); age >= outageHorizon {
					return DeadLettered, fmt.Errorf("%w: enqueued %v ago (horizon %v): %w",
						ErrOutageHorizon, age.Truncate(time.Second), outageHorizon, err)
				}
				return Retry, err
			}
			if m.DequeueCount >= maxAttempts || m.FinalDelivery {
				return DeadLettered, exhausted(m, maxAttempts, err)
			}
			return Retry, err
		}
	}
}

// exhausted builds the dead-letter reason for a message whose last allowed attempt failed.
func exhausted(m *Message, max int64, last error) error {
	return fmt.Errorf("%w: failed on delivery %d (limit %d): %w", ErrAttemptsExhausted, m.DequeueCount, max, last)
}
