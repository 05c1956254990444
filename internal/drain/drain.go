// Package drain owns the bounded drain: one invocation's worth of receiving, dispatching and
// deleting for each configured queue, in parallel, stopping when a queue is empty, when the
// message budget is spent, or early enough before the deadline that nothing received is left
// half-handled. It returns a report per queue. It knows nothing about platforms or SDKs: queues
// come in as queue.Queue, handlers as a Dispatcher.
package drain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/queue"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// Dispatcher hands one message to its handler and says what became of it. *dispatch.Router is
// the production implementation.
type Dispatcher interface {
	Dispatch(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error)
}

// Source is one queue to drain and the message type its messages carry.
type Source struct {
	Queue       queue.Queue
	MessageType string
}

// Options bound one drain. DefaultOptions gives the values the function uses unless configured.
type Options struct {
	// Receivers is how many receive loops may run in parallel per queue. A drain starts with one
	// and adds one each time a receive comes back full, so an empty queue costs one request.
	Receivers int
	// BatchSize is the number of messages asked for per receive, 1..16.
	BatchSize int
	// Wait is the long-poll wait of each receive.
	Wait time.Duration
	// MaxMessages bounds the messages received per queue; 0 means no bound.
	MaxMessages int
	// MaxDuration bounds the drain's wall time; 0 means the context deadline only.
	MaxDuration time.Duration
	// DeadlineMargin is how long before the context deadline receiving stops, so that the last
	// batches can still be handled and deleted.
	DeadlineMargin time.Duration
	// DeleteAttempts is how often a delete that failed for a passing reason is tried in all.
	DeleteAttempts int
	// ReceiveAttempts is how often a receive that failed for a passing reason is tried in all.
	ReceiveAttempts int
	// RetryBackoff is the first pause before a retry; it doubles with each further attempt.
	RetryBackoff time.Duration
	// DeleteTimeout bounds one delete request's wait, also after the context was cancelled:
	// a handled message is worth deleting even when the invocation is being torn down.
	DeleteTimeout time.Duration
	// Logger receives the per-message failure lines and the per-queue summary.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultOptions are the defaults documented in the README's configuration table.
func DefaultOptions() Options {
	return Options{
		Receivers:       4,
		BatchSize:       16,
		Wait:            time.Second,
		DeadlineMargin:  14 * time.Second,
		DeleteAttempts:  4,
		ReceiveAttempts: 4,
		RetryBackoff:    100 * time.Millisecond,
		DeleteTimeout:   10 * time.Second,
	}
}

// Validate says which option is out of range.
func (o Options) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("drain: "+format, args...))
		}
	}
	check(o.Receivers >= 1, "Receivers is %d: expected at least 1", o.Receivers)
	check(o.BatchSize >= 1 && o.BatchSize <= 16, "BatchSize is %d: expected 1..16", o.BatchSize)
	check(o.Wait >= 0 && o.Wait <= 30*time.Second, "Wait is %s: expected 0s..30s", o.Wait)
	check(o.MaxMessages >= 0, "MaxMessages is %d: expected 0 (no bound) or more", o.MaxMessages)
	check(o.MaxDuration >= 0, "MaxDuration is %s: expected 0 (no bound) or more", o.MaxDuration)
	check(o.DeadlineMargin >= 0, "DeadlineMargin is %s: expected 0 or more", o.DeadlineMargin)
	check(o.DeleteAttempts >= 1, "DeleteAttempts is %d: expected at least 1", o.DeleteAttempts)
	check(o.ReceiveAttempts >= 1, "ReceiveAttempts is %d: expected at least 1", o.ReceiveAttempts)
	check(o.RetryBackoff >= 0, "RetryBackoff is %s: expected 0 or more", o.RetryBackoff)
	check(o.DeleteTimeout > 0, "DeleteTimeout is %s: expected more than 0", o.DeleteTimeout)
	return errors.Join(errs...)
}

// StopReason says why a queue's drain ended.
type StopReason string

// Stop reasons, in the report's words.
const (
	StopEmpty       StopReason = "empty"        // a receive found no message, or fewer than it asked for
	StopBudget      StopReason = "budget"       // MaxMessages were received
	StopDeadline    StopReason = "deadline"     // the context deadline minus the margin was reached
	StopMaxDuration StopReason = "max-duration" // MaxDuration was reached
	StopCanceled    StopReason = "canceled"     // the context was cancelled
	StopError       StopReason = "error"        // the queue failed in a way retrying cannot mend
)

// Report counts what one queue's drain did. Every received message ends up in exactly one of
// Handled, DeadLettered, Duplicates or Failed; Deleted counts those of the first three whose
// delete succeeded.
type Report struct {
	Queue        string     `json:"queue"`
	MessageType  string     `json:"message_type"`
	Received     int64      `json:"received"`
	Handled      int64      `json:"handled"`
	DeadLettered int64      `json:"dead_lettered"`
	Duplicates   int64      `json:"duplicates"`
	Failed       int64      `json:"failed"`
	Deleted      int64      `json:"deleted"`
	DeleteFailed int64      `json:"delete_failed"`
	Requests     int64      `json:"requests"`
	Stop         StopReason `json:"stop_reason"`
	Error        string     `json:"error,omitempty"`
	DurationMS   int64      `json:"duration_ms"`
}

// Result is the outcome of one Run: a report per queue, in the order of the sources.
type Result struct {
	Queues     []Report `json:"queues"`
	DurationMS int64    `json:"duration_ms"`
}

// Err joins the errors of the queues that stopped on one, so a platform can mark the invocation
// failed; nil when every queue ended normally.
func (r Result) Err() error {
	var errs []error
	for _, q := range r.Queues {
		if q.Stop == StopError {
			errs = append(errs, fmt.Errorf("%s: %s", q.Queue, q.Error))
		}
	}
	return errors.Join(errs...)
}

// Run drains every source in parallel within ctx and the options' bounds and reports per queue.
func Run(ctx context.Context, sources []Source, d Dispatcher, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	start := o.Now()
	res := Result{Queues: make([]Report, len(sources))}
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Go(func() {
			res.Queues[i] = drainOne(ctx, src, d, o, start)
		})
	}
	wg.Wait()
	res.DurationMS = o.Now().Sub(start).Milliseconds()
	return res, nil
}

// run is the state of one queue's drain.
type run struct {
	ctx    context.Context
	src    Source
	d      Dispatcher
	o      Options
	log    *slog.Logger
	stopAt time.Time // when receiving must stop; zero means never by the clock
	byMax  bool      // stopAt comes from MaxDuration rather than the deadline

	budget    atomic.Int64 // messages still allowed; negative means unbounded
	stopped   atomic.Bool
	receivers atomic.Int32

	mu      sync.Mutex
	reason  StopReason
	lastErr error

	received, handled, deadLettered, duplicates, failed atomic.Int64
	deleted, deleteFailed, requests                     atomic.Int64

	receiveWG sync.WaitGroup
	deleteWG  sync.WaitGroup
	deleters  chan struct{} // bounds the deletes in flight, so a slow delete path slows receiving
}

func drainOne(ctx context.Context, src Source, d Dispatcher, o Options, start time.Time) Report {
	r := &run{
		ctx: ctx, src: src, d: d, o: o,
		log:      o.Logger.With("queue", src.Queue.Name(), "message_type", src.MessageType),
		deleters: make(chan struct{}, o.Receivers),
	}
	if dl, ok := ctx.Deadline(); ok {
		r.stopAt = dl.Add(-o.DeadlineMargin)
	}
	if o.MaxDuration > 0 {
		if byMax := start.Add(o.MaxDuration); r.stopAt.IsZero() || byMax.Before(r.stopAt) {
			r.stopAt, r.byMax = byMax, true
		}
	}
	r.budget.Store(-1)
	if o.MaxMessages > 0 {
		r.budget.Store(int64(o.MaxMessages))
	}
	r.spawnReceiver()
	r.receiveWG.Wait()
	r.deleteWG.Wait()

	rep := Report{
		Queue: src.Queue.Name(), MessageType: src.MessageType,
		Received: r.received.Load(), Handled: r.handled.Load(), DeadLettered: r.deadLettered.Load(),
		Duplicates: r.duplicates.Load(), Failed: r.failed.Load(), Deleted: r.deleted.Load(),
		DeleteFailed: r.deleteFailed.Load(), Requests: r.requests.Load(), Stop: r.reason,
		DurationMS: o.Now().Sub(start).Milliseconds(),
	}
	if r.lastErr != nil {
		rep.Error = r.lastErr.Error()
	}
	level := slog.LevelInfo
	if rep.Stop == StopError || rep.Failed > 0 || rep.DeleteFailed > 0 {
		level = slog.LevelWarn
	}
	r.log.Log(context.WithoutCancel(ctx), level, "drain finished",
		"received", rep.Received, "handled", rep.Handled, "dead_lettered", rep.DeadLettered,
		"duplicates", rep.Duplicates, "failed", rep.Failed, "deleted", rep.Deleted,
		"delete_failed", rep.DeleteFailed, "requests", rep.Requests, "stop_reason", rep.Stop,
		"error", rep.Error, "duration_ms", rep.DurationMS)
	return rep
}

// stop records the first reason the drain ends for; later ones do not overwrite it.
func (r *run) stop(reason StopReason, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reason == "" {
		r.reason, r.lastErr = reason, err
	}
	r.stopped.Store(true)
}

// timeToStop says why no further receive may start, or "" when one may.
func (r *run) timeToStop() StopReason {
	if r.stopped.Load() {
		return StopEmpty // only seen by a receiver racing another's stop; the first reason stands
	}
	if r.ctx.Err() != nil {
		if errors.Is(context.Cause(r.ctx), context.DeadlineExceeded) {
			return StopDeadline
		}
		return StopCanceled
	}
	if !r.stopAt.IsZero() && !r.o.Now().Before(r.stopAt) {
		if r.byMax {
			return StopMaxDuration
		}
		return StopDeadline
	}
	return ""
}

// reserve takes up to BatchSize messages from the budget.
func (r *run) reserve() int {
	for {
		left := r.budget.Load()
		if left < 0 {
			return r.o.BatchSize
		}
		n := min(left, int64(r.o.BatchSize))
		if n == 0 || r.budget.CompareAndSwap(left, left-n) {
			return int(n)
		}
	}
}

func (r *run) release(n int) {
	if n > 0 && r.budget.Load() >= 0 {
		r.budget.Add(int64(n))
	}
}

func (r *run) spawnReceiver() {
	r.receivers.Add(1)
	r.receiveWG.Go(r.receiveLoop)
}

func (r *run) receiveLoop() {
	for {
		if reason := r.timeToStop(); reason != "" {
			r.stop(reason, nil)
			return
		}
		n := r.reserve()
		if n == 0 {
			r.stop(StopBudget, nil)
			return
		}
		msgs, err := r.receive(n)
		r.release(n - len(msgs))
		switch {
		case errors.Is(err, queue.ErrEmpty):
			r.stop(StopEmpty, nil)
			return
		case err != nil:
			if r.ctx.Err() != nil {
				r.stop(r.timeToStop(), nil)
			} else {
				r.stop(StopError, err)
			}
			return
		}
		full := len(msgs) == n
		if full && n == r.o.BatchSize && r.receivers.Load() < int32(r.o.Receivers) && r.timeToStop() == "" {
			r.spawnReceiver()
		}
		r.handleBatch(msgs)
		if !full {
			// Fewer messages than asked for: the queue had no more visible ones a moment ago.
			// Another receive would most likely come back empty after a full long-poll wait;
			// what arrives from now on is the next invocation's.
			reason := r.timeToStop()
			if reason == "" {
				reason = StopEmpty
			}
			r.stop(reason, nil)
			return
		}
	}
}

// retryable says whether an error may pass by itself: the queue driver does not retry, the
// drain does.
func retryable(err error) bool {
	return errors.Is(err, queue.ErrTransport) || errors.Is(err, queue.ErrThrottled) || errors.Is(err, queue.ErrTokenExpired)
}

func (r *run) receive(n int) ([]queue.Message, error) {
	var err error
	for attempt := 1; ; attempt++ {
		var msgs []queue.Message
		r.requests.Add(1)
		msgs, err = r.src.Queue.Receive(r.ctx, n, r.o.Wait)
		if err == nil {
			r.received.Add(int64(len(msgs)))
			return msgs, nil
		}
		if !retryable(err) || attempt >= r.o.ReceiveAttempts || r.timeToStop() != "" {
			return nil, err
		}
		r.log.Warn("receive failed, retrying", "attempt", attempt, "error", err)
		if !r.pause(r.ctx, attempt) {
			return nil, err
		}
	}
}

// pause waits before retry number attempt; false when ctx ended first.
func (r *run) pause(ctx context.Context, attempt int) bool {
	d := r.o.RetryBackoff << (attempt - 1)
	if d <= 0 {
		return ctx.Err() == nil
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

// handleBatch dispatches a batch's messages concurrently, then hands the handles of those that
// may go to a deleter and returns, so the next receive does not wait for the delete.
func (r *run) handleBatch(msgs []queue.Message) {
	outcomes := make([]dispatch.Outcome, len(msgs))
	var wg sync.WaitGroup
	for i := range msgs {
		wg.Go(func() { outcomes[i] = r.dispatch(&msgs[i]) })
	}
	wg.Wait()
	handles := make([]string, 0, len(msgs))
	for i, o := range outcomes {
		if o != dispatch.Retry {
			handles = append(handles, msgs[i].ReceiptHandle)
		}
	}
	if len(handles) == 0 {
		return
	}
	r.deleters <- struct{}{}
	r.deleteWG.Go(func() {
		defer func() { <-r.deleters }()
		r.delete(handles)
	})
}

func (r *run) dispatch(qm *queue.Message) dispatch.Outcome {
	m := &dispatch.Message{
		ID: qm.ID, Type: r.src.MessageType, Source: r.src.Queue.Name(),
		Body: qm.Body, BodyMD5: qm.BodyMD5, DequeueCount: qm.DequeueCount,
		EnqueueTime: qm.EnqueueTime, FirstDequeueTime: qm.FirstDequeueTime,
	}
	outcome, err := r.d.Dispatch(r.ctx, m)
	switch outcome {
	case dispatch.Handled:
		r.handled.Add(1)
	case dispatch.DeadLettered:
		r.deadLettered.Add(1)
	case dispatch.Duplicate:
		r.duplicates.Add(1)
	default:
		outcome = dispatch.Retry
		r.failed.Add(1)
		r.log.Warn("handler failed, message kept for redelivery",
			"message_id", qm.ID, "dequeue_count", qm.DequeueCount, "error", err)
	}
	return outcome
}

// delete deletes handles in one batch request, retrying the handles that failed for a passing
// reason. A handle that is stale (its visibility ran out and the message went to another
// receiver) is not retried: the message will come again and be recognised as a duplicate.
func (r *run) delete(handles []string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), r.o.DeleteTimeout*time.Duration(r.o.DeleteAttempts))
	defer cancel()
	pending := handles
	var lastErr error
	for attempt := 1; len(pending) > 0; attempt++ {
		r.requests.Add(1)
		failed, err := r.src.Queue.Delete(ctx, pending)
		if err != nil {
			failed = make([]queue.DeleteFailure, len(pending))
			for i, h := range pending {
				failed[i] = queue.DeleteFailure{ReceiptHandle: h, Err: err}
			}
		}
		r.deleted.Add(int64(len(pending) - len(failed)))
		pending = pending[:0:0]
		for _, f := range failed {
			lastErr = f.Err
			if retryable(f.Err) && attempt < r.o.DeleteAttempts {
				pending = append(pending, f.ReceiptHandle)
				continue
			}
			r.deleteFailed.Add(1)
			r.log.Warn("delete failed; the message will be delivered again and recognised as a duplicate",
				"error", f.Err)
		}
		if len(pending) > 0 && !r.pause(ctx, attempt) {
			r.deleteFailed.Add(int64(len(pending)))
			r.log.Warn("delete abandoned", "handles", len(pending), "error", lastErr)
			return
		}
	}
}
