// Package retry owns the one retry loop the project uses for calls that may fail for a passing
// reason (a receive, a delete, a token fetch): a bounded number of attempts with doubling
// pauses, where no pause may end after the caller's deadline. Drivers do not retry; their
// callers do, through Do.
package retry

import (
	"context"
	"fmt"
	"time"
)

// Policy bounds one retried call.
type Policy struct {
	// Attempts is how often the call is tried in all, at least 1.
	Attempts int
	// Backoff is the pause before the second attempt; it doubles with each further one.
	Backoff time.Duration
	// MaxBackoff caps a single pause; 0 means no cap.
	MaxBackoff time.Duration
}

// Validate says what is out of range.
func (p Policy) Validate() error {
	switch {
	case p.Attempts < 1:
		return fmt.Errorf("retry: Attempts is %d: expected at least 1", p.Attempts)
	case p.Backoff < 0:
		return fmt.Errorf("retry: Backoff is %s: expected 0 or more", p.Backoff)
	case p.MaxBackoff < 0:
		return fmt.Errorf("retry: MaxBackoff is %s: expected 0 or more", p.MaxBackoff)
	}
	return nil
}

// Pause is the wait before attempt number next (2 for the first retry).
func (p Policy) Pause(next int) time.Duration {
	if next < 2 || p.Backoff <= 0 {
		return 0
	}
	d := p.Backoff
	for i := 2; i < next; i++ {
		d *= 2
		if p.MaxBackoff > 0 && d >= p.MaxBackoff {
			return p.MaxBackoff
		}
	}
	if p.MaxBackoff > 0 && d > p.MaxBackoff {
		return p.MaxBackoff
	}
	return d
}

// Do calls fn until it returns nil, returns an error retryable refuses, the attempts are
// spent, or ctx ends. A pause that would end after ctx's deadline is not taken: Do returns the
// last error at once, so a caller's budget never outlives its invocation. The error returned
// is fn's last error (or ctx's, when ctx ended before the first attempt).
func Do(ctx context.Context, p Policy, retryable func(error) bool, fn func(ctx context.Context, attempt int) error) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = fn(ctx, attempt)
		if err == nil || attempt >= p.Attempts || !retryable(err) {
			return err
		}
		if !Sleep(ctx, p.Pause(attempt+1)) {
			return err
		}
	}
}

// Sleep waits d, and says false without waiting when ctx ends first or when its deadline
// comes before d has passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
