package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/retry"
)

var errPassing = errors.New("passing")

func always(error) bool { return true }

func TestDo(t *testing.T) {
	tests := []struct {
		name      string
		policy    retry.Policy
		failures  int
		retryable func(error) bool
		wantCalls int
		wantErr   bool
	}{
		{"a call that succeeds at once is made once", retry.Policy{Attempts: 3}, 0, always, 1, false},
		{"a passing failure is retried until it succeeds", retry.Policy{Attempts: 3}, 2, always, 3, false},
		{"the attempts bound the calls", retry.Policy{Attempts: 3}, 5, always, 3, true},
		{"an error the caller refuses is not retried", retry.Policy{Attempts: 3}, 5, func(error) bool { return false }, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := retry.Do(context.Background(), tt.policy, tt.retryable, func(context.Context, int) error {
				calls++
				if calls <= tt.failures {
					return errPassing
				}
				return nil
			})
			if calls != tt.wantCalls || (err != nil) != tt.wantErr {
				t.Fatalf("calls %d err %v; want %d calls, error %v", calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}

func TestAPauseThatWouldOutliveTheDeadlineIsNotTaken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	calls := 0
	err := retry.Do(ctx, retry.Policy{Attempts: 5, Backoff: time.Hour}, always, func(context.Context, int) error {
		calls++
		return errPassing
	})
	if !errors.Is(err, errPassing) || calls != 1 {
		t.Fatalf("err %v after %d calls; want the call's own error after 1 call", err, calls)
	}
	if waited := time.Since(start); waited > 150*time.Millisecond {
		t.Fatalf("Do waited %v although no pause fitted before the deadline", waited)
	}
}

func TestPausesDoubleUpToTheCap(t *testing.T) {
	p := retry.Policy{Attempts: 6, Backoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
	want := []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}
	for next, w := range want {
		if got := p.Pause(next); got != w {
			t.Errorf("Pause(%d) = %v, want %v", next, got, w)
		}
	}
}

func TestAnInvalidPolicyIsRefused(t *testing.T) {
	err := retry.Do(context.Background(), retry.Policy{}, always, func(context.Context, int) error { return nil })
	if err == nil {
		t.Fatal("Attempts 0 was accepted")
	}
}
