package delivery_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/push/delivery"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

func TestTheCounterCountsDeliveriesPerIDAndForgetsTheOldestFirst(t *testing.T) {
	c := delivery.NewCounter(2)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if n, first := c.Seen("a", t0); n != 1 || !first.Equal(t0) {
		t.Fatalf("first delivery: %d %s", n, first)
	}
	if n, first := c.Seen("a", t0.Add(time.Minute)); n != 2 || !first.Equal(t0) {
		t.Fatalf("second delivery: %d %s, want 2 and the first time", n, first)
	}
	c.Seen("b", t0)
	c.Seen("c", t0) // forgets a
	if n, _ := c.Seen("a", t0); n != 1 {
		t.Errorf("a forgotten id counts from 1 again, got %d", n)
	}
}

func TestDispatchReturnsTheDispatchersResultWithinTheBudget(t *testing.T) {
	d := delivery.DispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the dispatcher's context has no deadline")
		}
		return dispatch.Handled, nil
	})
	if o, err := delivery.Dispatch(context.Background(), d, &dispatch.Message{ID: "1"}, time.Second); o != dispatch.Handled || err != nil {
		t.Errorf("%v %v", o, err)
	}
}

func TestAHandlerThatHonoursItsContextReportsItsOwnError(t *testing.T) {
	d := delivery.DispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
		<-ctx.Done()
		return dispatch.Retry, context.Cause(ctx)
	})
	o, err := delivery.Dispatch(context.Background(), d, &dispatch.Message{ID: "1"}, 10*time.Millisecond)
	if o != dispatch.Retry || !errors.Is(err, delivery.ErrBudget) {
		t.Errorf("%v %v, want Retry with ErrBudget", o, err)
	}
}

func TestAHandlerThatIgnoresItsContextIsAbandonedAtTheBudget(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	d := delivery.DispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
		<-release
		return dispatch.Handled, nil
	})
	start := time.Now()
	o, err := delivery.Dispatch(context.Background(), d, &dispatch.Message{ID: "stuck"}, 10*time.Millisecond)
	if o != dispatch.Retry || !errors.Is(err, delivery.ErrBudget) {
		t.Errorf("%v %v, want Retry with ErrBudget", o, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("returned after %s", took)
	}
}

func TestDefaultsFillOnlyWhatIsNil(t *testing.T) {
	c, log, now := delivery.Defaults(nil, nil, nil)
	if c == nil || log != slog.Default() || now == nil {
		t.Fatalf("Defaults(nil, nil, nil) = %v, %v, clock set %v: want a counter, slog.Default() and a clock", c, log, now != nil)
	}
	mine, myLog := delivery.NewCounter(1), slog.New(slog.DiscardHandler)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, log, now = delivery.Defaults(mine, myLog, func() time.Time { return t0 })
	if c != mine || log != myLog || !now().Equal(t0) {
		t.Fatalf("Defaults replaced a value it was given")
	}
}
