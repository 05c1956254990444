// Package delivery holds what the two push receivers (MNS topic push and Alicom's HTTP batch
// push) share once a request is accepted: a count of deliveries per message id, which stands in
// for the DequeueCount a queue would report, and a dispatch bounded by the time the pusher
// waits for an answer; and the defaults of the counter, logger and clock they are given.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// Dispatcher hands a message to its handler; *dispatch.Router satisfies it.
type Dispatcher interface {
	Dispatch(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error)
}

// DispatcherFunc adapts a function to Dispatcher.
type DispatcherFunc func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error)

// Dispatch calls f.
func (f DispatcherFunc) Dispatch(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
	return f(ctx, m)
}

// Defaults returns what a push receiver's Config falls back to where it leaves these nil: a
// Counter of its own (DefaultCounterSize ids), slog.Default() and time.Now; the given ones
// otherwise.
func Defaults(c *Counter, log *slog.Logger, now func() time.Time) (*Counter, *slog.Logger, func() time.Time) {
	if c == nil {
		c = NewCounter(0)
	}
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return c, log, now
}

// DefaultCounterSize is how many message ids a Counter remembers when given no size.
const DefaultCounterSize = 4096

// Counter counts, per message id, how often this instance received the message, and when it
// first did. A pusher does not say how often it tried, so this count is what the Router's
// poison rule sees as DequeueCount. It is a lower bound: other instances count their own.
// The oldest id is forgotten first once the bound is reached.
type Counter struct {
	mu   sync.Mutex
	recs map[string]*record
	ring []string
	next int
}

type record struct {
	count int64
	first time.Time
}

// NewCounter returns a Counter that remembers size ids (DefaultCounterSize when size <= 0).
func NewCounter(size int) *Counter {
	if size <= 0 {
		size = DefaultCounterSize
	}
	return &Counter{recs: make(map[string]*record, size), ring: make([]string, size)}
}

// Seen records one delivery of id at now and returns how many this instance has seen,
// this one included, and when it saw the first.
func (c *Counter) Seen(id string, now time.Time) (count int64, first time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.recs[id]
	if r == nil {
		if old := c.ring[c.next]; old != "" {
			delete(c.recs, old)
		}
		c.ring[c.next] = id
		c.next = (c.next + 1) % len(c.ring)
		r = &record{first: now}
		c.recs[id] = r
	}
	r.count++
	return r.count, r.first
}

// ErrBudget is the cause of a dispatch that did not finish within its budget.
var ErrBudget = errors.New("push: handler did not finish within the time the pusher waits for an answer")

// grace is how long a dispatch whose budget ran out may still take to return, so that a
// handler that honours its context reports its own error instead of ErrBudget.
const grace = 20 * time.Millisecond

// Dispatch runs d.Dispatch(m) with a context that ends after budget and returns its result,
// or, when it has not returned by then (a handler that ignores its context), Retry with an
// error wrapping ErrBudget. The abandoned dispatch goes on in the background; the Router
// remembers its id once it settles, so the pusher's next attempt is a Duplicate instead of a
// second run, and until then the attempt is refused as in flight. budget <= 0 waits for ctx
// only.
func Dispatch(ctx context.Context, d Dispatcher, m *dispatch.Message, budget time.Duration) (dispatch.Outcome, error) {
	var cancel context.CancelFunc
	if budget > 0 {
		ctx, cancel = context.WithTimeoutCause(ctx, budget, ErrBudget)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	type result struct {
		outcome dispatch.Outcome
		err     error
	}
	done := make(chan result, 1)
	go func() {
		defer cancel()
		o, err := d.Dispatch(ctx, m)
		done <- result{o, err}
	}()
	select {
	case r := <-done:
		return r.outcome, r.err
	case <-ctx.Done():
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case r := <-done:
		return r.outcome, r.err
	case <-t.C:
		return dispatch.Retry, fmt.Errorf("%w (%s, message %s)", context.Cause(ctx), budget, m.ID)
	}
}
