package sink

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultLinger is how long a batching sink waits for more concurrent messages before it sends
// a batch that is not full. The drain dispatches a received batch's messages concurrently, so
// they all arrive within microseconds; a few milliseconds gather them without a visible delay.
const DefaultLinger = 5 * time.Millisecond

// call is one message waiting in a batcher.
type call[T any] struct {
	ctx  context.Context
	item T
	done chan error // buffered: flush never blocks on a caller that left
}

// batcher gathers concurrent calls into batches of up to size, sending a batch when it is full
// or when the first call in it has waited linger, and hands each call its own result. It lets
// a sink batch without changing the one-message HandlerFunc interface.
type batcher[T any] struct {
	size   int
	linger time.Duration
	// flush sends a batch and must put exactly one value into every call's done.
	flush func(calls []*call[T])

	mu      sync.Mutex
	pending []*call[T]
	timer   *time.Timer
	gen     uint64 // identifies the pending batch, so a late timer does not flush the next one
}

func newBatcher[T any](size int, linger time.Duration, flush func([]*call[T])) *batcher[T] {
	if linger <= 0 {
		linger = DefaultLinger
	}
	return &batcher[T]{size: size, linger: linger, flush: flush}
}

// do queues item and waits for its result or for ctx to end. A call whose ctx ended before its
// batch was sent is left out of the batch.
func (b *batcher[T]) do(ctx context.Context, item T) error {
	c := &call[T]{ctx: ctx, item: item, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	var full []*call[T]
	switch {
	case len(b.pending) >= b.size:
		full = b.take()
	case len(b.pending) == 1:
		gen := b.gen
		b.timer = time.AfterFunc(b.linger, func() { b.flushGen(gen) })
	}
	b.mu.Unlock()
	if full != nil {
		b.flush(full) // in this caller's goroutine: the one that filled the batch pays for it
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("sink: gave up waiting for the batch: %w", context.Cause(ctx))
	}
}

// take removes the pending batch; b.mu must be held.
func (b *batcher[T]) take() []*call[T] {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.gen++
	out := b.pending
	b.pending = nil
	return out
}

func (b *batcher[T]) flushGen(gen uint64) {
	b.mu.Lock()
	if gen != b.gen || len(b.pending) == 0 {
		b.mu.Unlock()
		return
	}
	calls := b.take()
	b.mu.Unlock()
	b.flush(calls)
}

// live returns the calls whose callers still wait, answering the others with their ctx's
// error, and the earliest deadline among the live ones (zero when none has one).
func live[T any](calls []*call[T]) ([]*call[T], time.Time) {
	out := calls[:0:0]
	var earliest time.Time
	for _, c := range calls {
		if err := c.ctx.Err(); err != nil {
			c.done <- err
			continue
		}
		if dl, ok := c.ctx.Deadline(); ok && (earliest.IsZero() || dl.Before(earliest)) {
			earliest = dl
		}
		out = append(out, c)
	}
	return out, earliest
}
