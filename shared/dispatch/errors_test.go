package dispatch

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

func TestUnavailable(t *testing.T) {
	base := errors.New("503 Service Unavailable")
	u := Unavailable(base)
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"a marked error is unavailable", u, true},
		{"a wrapped marked error is unavailable", fmt.Errorf("sink: %w", u), true},
		{"a plain error is not", base, false},
		{"nil is not", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsUnavailable(tt.err); got != tt.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if Unavailable(nil) != nil {
		t.Error("Unavailable(nil) is not nil")
	}
	if !errors.Is(u, base) {
		t.Error("Unavailable hides the error it marks")
	}
	if Unavailable(u) != u {
		t.Error("Unavailable marks twice")
	}
}

func TestEveryReasonHasAStableCode(t *testing.T) {
	md5Err := &alicom.DecodeError{Reason: alicom.ReasonMD5Mismatch}
	down := Unavailable(errDatabaseDown)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"an MD5 mismatch that exhausted its attempts is named an MD5 mismatch", exhausted(&Message{DequeueCount: 5}, 5, md5Err), ReasonMD5Mismatch},
		{"an outage past the horizon is named before the unavailability", fmt.Errorf("%w: %w", ErrOutageHorizon, down), ReasonOutageHorizon},
		{"an unavailable destination is named", down, ReasonUnavailable},
		{"a handler that exited is named", ErrHandlerExited, ReasonExited},
		{"a handler abandoned at the caller's cancellation is named", fmt.Errorf("abandoned: %w", context.Canceled), ReasonCanceled},
		{"a caller's deadline is a timeout", context.DeadlineExceeded, ReasonTimeout},
		{"a handler that exited on every attempt is named by the exhaustion", exhausted(&Message{DequeueCount: 5}, 5, ErrHandlerExited), ReasonAttemptsExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReasonCode(tt.err); got != tt.want {
				t.Errorf("ReasonCode(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestOutcomes(t *testing.T) {
	var zero Outcome
	if zero != Retry || zero.Settled() {
		t.Errorf("the zero Outcome is %v (settled %v), want Retry, not settled", zero, zero.Settled())
	}
	tests := []struct {
		outcome Outcome
		settled bool
	}{
		{Handled, true}, {DeadLettered, true}, {Duplicate, true}, {Retry, false}, {Outcome(-1), false}, {Outcome(9), false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v settled is %v", tt.outcome, tt.settled), func(t *testing.T) {
			if got := tt.outcome.Settled(); got != tt.settled {
				t.Errorf("%v.Settled() = %v", tt.outcome, got)
			}
		})
	}
}
