// Package memqueue is a queue.Queue in memory with MNS semantics, for tests of the drain and of
// anything built on queue.Queue. It passes the same conformance suite (queuetest) as the MNS
// driver.
package memqueue

import (
	"container/list"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/queue"
)

// Options configure a Queue. The zero value is usable.
type Options struct {
	// VisibilityTimeout is how long a received message stays invisible; default 30s.
	VisibilityTimeout time.Duration
	// Now is the clock for message times and visibility; default time.Now. Long-poll waits
	// always use real time, so with a fake clock a waiting Receive notices an advance only at
	// its next wake-up (a Send, a delete or the end of its wait).
	Now func() time.Time
	// Fault, when set, is asked at the start of every operation ("receive", "delete"); a
	// non-nil answer fails the operation with that error.
	Fault func(op string) error
	// DeleteFault, when set, is asked for every handle of a delete that would succeed; a
	// non-nil answer reports that handle as failed (partial batch failure) and keeps it.
	DeleteFault func(handle string) error
}

// Queue is an in-memory queue.Queue with MNS semantics: visibility timeouts, a fresh receipt
// handle per receive (the previous one goes stale), DequeueCount, long polling, FIFO order.
// It is safe for concurrent use.
type Queue struct {
	name string
	opts Options

	mu      sync.Mutex
	msgs    *list.List // of *memMessage, in enqueue order
	byID    map[string]*list.Element
	changed chan struct{} // closed and replaced on every change that may wake a receiver
	seq     int64
	deleted int64
	fault   func(op string) error
}

type memMessage struct {
	queue.Message
	handle    string // current receipt handle; "" while never received
	invisible time.Time
}

var _ queue.Queue = (*Queue)(nil)

// New returns an empty Queue.
func New(name string, opts Options) *Queue {
	if opts.VisibilityTimeout <= 0 {
		opts.VisibilityTimeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Queue{name: name, opts: opts, msgs: list.New(), byID: make(map[string]*list.Element),
		changed: make(chan struct{}), fault: opts.Fault}
}

// Name is the queue's name.
func (q *Queue) Name() string { return q.name }

// SetFault replaces the fault hook (see Options.Fault); nil removes it.
func (q *Queue) SetFault(fn func(op string) error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fault = fn
}

// SetDeleteFault replaces the per-handle delete fault hook (see Options.DeleteFault).
func (q *Queue) SetDeleteFault(fn func(handle string) error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.opts.DeleteFault = fn
}

// Send enqueues body with priority 8 and returns the message id.
func (q *Queue) Send(body string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := newMessageID()
	sum := md5.Sum([]byte(body))
	m := &memMessage{Message: queue.Message{ID: id, Body: body, BodyMD5: strings.ToUpper(hex.EncodeToString(sum[:])),
		Priority: 8, EnqueueTime: q.opts.Now()}}
	q.byID[id] = q.msgs.PushBack(m)
	q.wake()
	return id
}

// Stats counts a Queue's messages.
type Stats struct {
	Visible   int   // can be received now
	Invisible int   // received, not yet deleted, visibility timeout running
	Deleted   int64 // deleted since the queue was made
}

// Stats returns the current counts.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Now()
	var s Stats
	for e := q.msgs.Front(); e != nil; e = e.Next() {
		if now.Before(e.Value.(*memMessage).invisible) {
			s.Invisible++
		} else {
			s.Visible++
		}
	}
	s.Deleted = q.deleted
	return s
}

// Len returns the number of messages not yet deleted.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.msgs.Len()
}

func (q *Queue) wake() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// checkFault asks the fault hook about op and counts the request (queue.CountRequest): an
// injected fault stands for a request that failed, except one wrapping queue.ErrCredentials,
// which by that kind's contract sent none.
func (q *Queue) checkFault(ctx context.Context, op string) error {
	q.mu.Lock()
	f := q.fault
	q.mu.Unlock()
	var err error
	if f != nil {
		err = f(op)
	}
	if err == nil || !errors.Is(err, queue.ErrCredentials) {
		queue.CountRequest(ctx)
	}
	if err != nil {
		return fmt.Errorf("queue %s: %s: %w", q.name, op, err)
	}
	return nil
}

// Receive returns up to max (1..16) messages, waiting up to wait (at most 30 s) for the first.
func (q *Queue) Receive(ctx context.Context, max int, wait time.Duration) ([]queue.Message, error) {
	if max < 1 || max > queue.MaxBatch {
		return nil, fmt.Errorf("queue %s: receive: max %d: want 1..%d: %w", q.name, max, queue.MaxBatch, queue.ErrInvalidRequest)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("queue %s: receive: %w", q.name, err)
	}
	if err := q.checkFault(ctx, "receive"); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(min(max0(wait), queue.MaxWait))
	for {
		q.mu.Lock()
		out, nextVisible := q.take(max)
		changed := q.changed
		now := q.opts.Now()
		q.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("queue %s: receive: %w", q.name, queue.ErrEmpty)
		}
		if !nextVisible.IsZero() {
			left = min(left, nextVisible.Sub(now)+time.Millisecond)
		}
		t := time.NewTimer(left)
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("queue %s: receive: %w", q.name, ctx.Err())
		}
		t.Stop()
	}
}

func max0(d time.Duration) time.Duration { return max(d, 0) }

// take receives up to max visible messages; it also returns when the next invisible message
// becomes visible. q.mu must be held.
func (q *Queue) take(max int) ([]queue.Message, time.Time) {
	now := q.opts.Now()
	var out []queue.Message
	var next time.Time
	for e := q.msgs.Front(); e != nil; e = e.Next() {
		m := e.Value.(*memMessage)
		if now.Before(m.invisible) {
			if next.IsZero() || m.invisible.Before(next) {
				next = m.invisible
			}
			continue
		}
		if len(out) == max {
			continue
		}
		q.seq++
		m.handle = m.ID + "-" + strconv.FormatInt(q.seq, 36)
		m.ReceiptHandle = m.handle
		m.DequeueCount++
		if m.FirstDequeueTime.IsZero() {
			m.FirstDequeueTime = now
		}
		m.invisible = now.Add(q.opts.VisibilityTimeout)
		m.NextVisibleTime = m.invisible
		out = append(out, m.Message)
	}
	return out, next
}

// lookup finds the message whose current, unexpired receipt handle is h. q.mu must be held.
func (q *Queue) lookup(h string) *list.Element {
	id, _, ok := strings.Cut(h, "-")
	if !ok {
		return nil
	}
	e := q.byID[id]
	if e == nil {
		return nil
	}
	m := e.Value.(*memMessage)
	if m.handle != h || !q.opts.Now().Before(m.invisible) {
		return nil
	}
	return e
}

// Delete deletes messages by receipt handle (at most 16); stale handles are failures.
func (q *Queue) Delete(ctx context.Context, handles []string) ([]queue.DeleteFailure, error) {
	if len(handles) == 0 {
		return nil, nil
	}
	if len(handles) > queue.MaxBatch {
		return nil, fmt.Errorf("queue %s: delete: %d handles: want at most %d: %w", q.name, len(handles), queue.MaxBatch, queue.ErrInvalidRequest)
	}
	for i, h := range handles {
		if strings.TrimSpace(h) == "" {
			return nil, fmt.Errorf("queue %s: delete: handle %d is empty: %w", q.name, i, queue.ErrInvalidRequest)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("queue %s: delete: %w", q.name, err)
	}
	if err := q.checkFault(ctx, "delete"); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var failed []queue.DeleteFailure
	for _, h := range handles {
		e := q.lookup(h)
		if e == nil {
			failed = append(failed, queue.DeleteFailure{ReceiptHandle: h, Err: fmt.Errorf("queue %s: delete: %w", q.name, queue.ErrStaleHandle)})
			continue
		}
		if q.opts.DeleteFault != nil {
			if err := q.opts.DeleteFault(h); err != nil {
				failed = append(failed, queue.DeleteFailure{ReceiptHandle: h, Err: fmt.Errorf("queue %s: delete: %w", q.name, err)})
				continue
			}
		}
		delete(q.byID, e.Value.(*memMessage).ID)
		q.msgs.Remove(e)
		q.deleted++
	}
	q.wake()
	return failed, nil
}

func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
