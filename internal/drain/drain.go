// Package drain owns one invocation's worth of receiving, dispatching and deleting for each
// configured queue, in parallel. In drain mode (the default) it stops when a queue answers
// empty; in follow mode it keeps long-polling, handling each message as it arrives, until the
// deadline margin. Either way it stops early enough before the deadline that nothing received
// is left half-handled, deletes a message only after its handler finished with it, and returns
// a report per queue. It knows nothing about platforms or SDKs: queues come in as queue.Queue,
// handlers as a Dispatcher. docs/drain.md gives the reasoning behind the defaults.
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
	"github.com/alicom-drain/alicom-drain/internal/retry"
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

// Mode says when an invocation stops receiving.
type Mode string

// The modes, by their public names (DRAIN_MODE).
const (
	// ModeDrain receives until a receive answers empty, the budget is spent or the deadline
	// margin is reached. An idle invocation costs one request.
	ModeDrain Mode = "drain"
	// ModeFollow long-polls until the deadline margin (or MaxDuration), handling each message
	// as it arrives. An idle queue costs one request per FollowWait.
	ModeFollow Mode = "follow"
)

// Valid says whether m is one of the modes.
func (m Mode) Valid() bool { return m == ModeDrain || m == ModeFollow }

// MNS's limits (https://help.aliyun.com/document_detail/128343.html), which package queue
// states for every driver: messages per batch request, and the longest long-poll wait.
const (
	maxBatch = queue.MaxBatch
	maxWait  = queue.MaxWait
)

// abandonSlack is how long the drain waits for a Dispatch beyond the handler timeout (or
// beyond the context's end) before it gives up on it: time for the Router to see its handler
// return and to record a dead letter.
const abandonSlack = time.Second

// Options bound one drain. DefaultOptions gives the values the function uses unless
// configured; internal/config takes its defaults from there.
type Options struct {
	// Mode is when receiving stops: ModeDrain or ModeFollow.
	Mode Mode
	// Receivers is how many receive loops may run in parallel per queue. A drain starts with one
	// and adds one each time a receive comes back full, so an empty queue costs one request; in
	// follow mode a receiver whose receive comes back short or empty leaves again, down to one.
	Receivers int
	// BatchSize is the number of messages asked for per receive, 1..16.
	BatchSize int
	// Wait is, in drain mode, the long-poll wait of an invocation's first receive (0..30s);
	// every later receive asks for no wait, so a drain that found messages ends at the first
	// empty answer without waiting. Follow mode uses FollowWait instead.
	Wait time.Duration
	// FollowWait is, in follow mode, the long-poll wait of every receive (1s..30s), cut so that
	// no receive waits past the time receiving stops.
	FollowWait time.Duration
	// MaxMessages bounds the messages received per queue; 0 means no bound.
	MaxMessages int
	// MaxDuration bounds how long receiving goes on, from the start of Run; 0 means the
	// context deadline only.
	MaxDuration time.Duration
	// DeadlineMargin is how long before the context deadline receiving stops, so that the last
	// messages can still be handled and deleted. 0 means automatic: HandlerTimeout + 1s +
	// DeleteTimeout, cut to half the time left when the deadline is nearer than twice that. An
	// explicit margin that leaves no time to receive makes Run fail.
	DeadlineMargin time.Duration
	// HandlerTimeout bounds one Dispatch: give the Router the same value. A Dispatch still
	// running a second after it, at the context's deadline, or a second after the context was
	// cancelled is abandoned: its message counts as failed and is kept for redelivery, and the
	// drain goes on without it.
	HandlerTimeout time.Duration
	// DeleteLinger is how long a handled message may wait for others to share its delete
	// request; a delete is sent at once when 16 are waiting or no other message is being
	// handled.
	DeleteLinger time.Duration
	// DeleteAttempts is how often a delete that failed for a passing reason is tried in all.
	DeleteAttempts int
	// ReceiveAttempts is how often a receive that failed for a passing reason is tried in all.
	ReceiveAttempts int
	// RetryBackoff is the first pause before a retry; it doubles with each further attempt.
	// No retry starts after the context's deadline, and no delete is retried after the
	// context was cancelled.
	RetryBackoff time.Duration
	// DeleteTimeout bounds each delete request, also one sent after the context was
	// cancelled (a handled message is worth deleting while the invocation is torn down); no
	// delete request outlives the context's deadline.
	DeleteTimeout time.Duration
	// Logger receives the per-message failure lines and the per-queue summary.
	Logger *slog.Logger
	// Now is the clock for the stop time; nil means time.Now. Timers (handler and delete
	// bounds, pauses) use real time.
	Now func() time.Time
}

// DefaultOptions returns the defaults: drain mode, 4 receivers of 16 messages, no long-poll
// wait in drain mode and 30 s in follow mode, no message or duration bound, the automatic
// deadline margin, a 10 s handler timeout, a 50 ms delete linger, 4 attempts per receive and
// per delete starting at a 100 ms pause, and 3 s per delete request. docs/drain.md says why.
func DefaultOptions() Options {
	return Options{
		Mode:            ModeDrain,
		Receivers:       4,
		BatchSize:       16,
		Wait:            0,
		FollowWait:      30 * time.Second,
		HandlerTimeout:  10 * time.Second,
		DeleteLinger:    50 * time.Millisecond,
		DeleteAttempts:  4,
		ReceiveAttempts: 4,
		RetryBackoff:    100 * time.Millisecond,
		DeleteTimeout:   3 * time.Second,
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
	check(o.Mode.Valid(), "Mode is %q: expected %q or %q", o.Mode, ModeDrain, ModeFollow)
	check(o.Receivers >= 1, "Receivers is %d: expected at least 1", o.Receivers)
	check(o.BatchSize >= 1 && o.BatchSize <= maxBatch, "BatchSize is %d: expected 1..%d", o.BatchSize, maxBatch)
	check(o.Wait >= 0 && o.Wait <= maxWait, "Wait is %s: expected 0s..%s", o.Wait, maxWait)
	check(o.FollowWait >= time.Second && o.FollowWait <= maxWait, "FollowWait is %s: expected 1s..%s", o.FollowWait, maxWait)
	check(o.MaxMessages >= 0, "MaxMessages is %d: expected 0 (no bound) or more", o.MaxMessages)
	check(o.MaxDuration >= 0, "MaxDuration is %s: expected 0 (no bound) or more", o.MaxDuration)
	check(o.DeadlineMargin >= 0, "DeadlineMargin is %s: expected 0 (automatic) or more", o.DeadlineMargin)
	check(o.HandlerTimeout > 0, "HandlerTimeout is %s: expected more than 0", o.HandlerTimeout)
	check(o.DeleteLinger >= 0, "DeleteLinger is %s: expected 0 or more", o.DeleteLinger)
	check(o.DeleteAttempts >= 1, "DeleteAttempts is %d: expected at least 1", o.DeleteAttempts)
	check(o.ReceiveAttempts >= 1, "ReceiveAttempts is %d: expected at least 1", o.ReceiveAttempts)
	check(o.RetryBackoff >= 0, "RetryBackoff is %s: expected 0 or more", o.RetryBackoff)
	check(o.DeleteTimeout > 0, "DeleteTimeout is %s: expected more than 0", o.DeleteTimeout)
	return errors.Join(errs...)
}

// AutoMargin is the automatic DeadlineMargin before any cut: time for a message received just
// before receiving stops to be handled (or abandoned) and deleted. A receive itself never
// waits past the stop time, so its wait is not part of it.
func (o Options) AutoMargin() time.Duration {
	return o.HandlerTimeout + abandonSlack + o.DeleteTimeout
}

// LongestWait is the longest long-poll wait a receive asks for with these options: a queue
// driver's request timeout must exceed it.
func (o Options) LongestWait() time.Duration {
	if o.Mode == ModeFollow {
		return o.FollowWait
	}
	return o.Wait
}

// StopReason says why a queue's drain ended.
type StopReason string

// Stop reasons, in the report's words.
const (
	StopEmpty           StopReason = "empty"            // drain mode: a receive answered that the queue has no visible message
	StopBudget          StopReason = "budget"           // MaxMessages were received
	StopDeadline        StopReason = "deadline"         // the context deadline minus the margin was reached
	StopMaxDuration     StopReason = "max-duration"     // MaxDuration was reached
	StopCanceled        StopReason = "canceled"         // the context was cancelled
	StopDestinationDown StopReason = "destination-down" // a handler's destination is unavailable: receiving more would only fail too
	StopError           StopReason = "error"            // the queue failed in a way retrying cannot mend
)

// Report counts what one queue's drain did. Every received message ends up in exactly one of
// Handled, DeadLettered, Duplicates or Failed, so they add up to Received. Every message of
// the first three ends up in exactly one of Deleted or DeleteFailed.
type Report struct {
	Queue        string `json:"queue"`
	MessageType  string `json:"message_type"`
	Received     int64  `json:"received"`
	Handled      int64  `json:"handled"`
	DeadLettered int64  `json:"dead_lettered"`
	// Duplicates are messages the Dispatcher recognised as already finished, counted when
	// that happened; they are deleted without running the handler again.
	Duplicates int64 `json:"duplicates"`
	// Failed are messages kept for redelivery: the handler failed, or was Abandoned.
	Failed int64 `json:"failed"`
	// Abandoned are the Failed messages whose Dispatch did not return within HandlerTimeout
	// (or soon after the context ended).
	Abandoned int64 `json:"abandoned"`
	// Deleted are messages known to be gone from the queue: the delete succeeded, or its
	// answer was lost and a retry found the receipt handle gone while the message's
	// visibility timeout had certainly not run out (so the lost attempt deleted it).
	Deleted int64 `json:"deleted"`
	// DeleteFailed are handled messages that may still be in the queue and may be delivered
	// again: the delete failed, ran out of attempts or time, or found the receipt handle stale
	// when the message's visibility may have run out.
	DeleteFailed int64 `json:"delete_failed"`
	// Requests are the receive and delete requests that reached the queue's server (what MNS
	// bills): a call that could not get credentials sent none, one whose rejected token the
	// driver replaced within it sent two (see queue.WithRequestCounter).
	Requests int64      `json:"requests"`
	Stop     StopReason `json:"stop_reason"`
	// Error is the text of Err.
	Error string `json:"error,omitempty"`
	// Err is the error the queue stopped on (Stop is StopError) or that a destination is down
	// with (StopDestinationDown); nil otherwise. It wraps package queue's error kinds, so
	// callers classify it with errors.Is rather than by its text.
	Err        error `json:"-"`
	DurationMS int64 `json:"duration_ms"`
}

// Result is the outcome of one Run: a report per queue, in the order of the sources.
type Result struct {
	Queues     []Report `json:"queues"`
	DurationMS int64    `json:"duration_ms"`
}

// Err joins the errors of the queues that stopped on one, so a platform can mark the invocation
// failed; nil when every queue ended normally. A queue stopped because a destination is down
// is not an error of the invocation: its messages are kept, and the next invocation tries
// again.
func (r Result) Err() error {
	var errs []error
	for _, q := range r.Queues {
		if q.Stop == StopError {
			errs = append(errs, fmt.Errorf("%s: %s", q.Queue, q.Error))
		}
	}
	return errors.Join(errs...)
}

// Run drains every source in parallel within ctx and the options' bounds and reports per
// queue. It fails without receiving when the options are invalid, or when ctx's deadline
// leaves no time to receive before an explicit DeadlineMargin.
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
	stop, err := stopTime(ctx, o, start)
	if err != nil {
		return Result{}, err
	}
	res := Result{Queues: make([]Report, len(sources))}
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Go(func() {
			res.Queues[i] = drainOne(ctx, src, d, o, start, stop)
		})
	}
	wg.Wait()
	res.DurationMS = o.Now().Sub(start).Milliseconds()
	return res, nil
}

// stopAt is when receiving stops by the clock.
type stopAt struct {
	at    time.Time // zero: never by the clock
	byMax bool      // at comes from MaxDuration rather than the deadline
}

// stopTime works out when receiving stops. An automatic margin that does not fit the
// deadline is cut to half the time left (handlers still see the deadline through ctx, and a
// message they cannot finish is kept); an explicit one that leaves nothing is an error.
func stopTime(ctx context.Context, o Options, start time.Time) (stopAt, error) {
	var s stopAt
	if dl, ok := ctx.Deadline(); ok {
		left := dl.Sub(start)
		margin := o.DeadlineMargin
		switch {
		case left <= 0:
			return s, fmt.Errorf("drain: the deadline passed %s before the drain started: nothing can be received", -left)
		case margin == 0:
			margin = min(o.AutoMargin(), left/2)
			if margin < o.AutoMargin() {
				o.Logger.Warn("drain: the deadline is too near for the automatic margin; using half the time left",
					"time_left", left.String(), "margin", margin.String(), "automatic_margin", o.AutoMargin().String())
			}
		case margin >= left:
			return s, fmt.Errorf("drain: DeadlineMargin %s is not less than the %s left before the deadline: nothing could be received; raise the timeout or lower the margin", margin, left)
		}
		s.at = start.Add(left - margin)
	}
	if o.MaxDuration > 0 {
		if byMax := start.Add(o.MaxDuration); s.at.IsZero() || byMax.Before(s.at) {
			s = stopAt{at: byMax, byMax: true}
		}
	}
	return s, nil
}

// run is the state of one queue's drain.
type run struct {
	ctx context.Context
	// recvCtx is ctx, also cancelled when a destination is down, so that a follow-mode long
	// poll does not hold the invocation for its whole wait.
	recvCtx    context.Context
	cancelRecv context.CancelFunc
	// dispatchCtx is ctx marked dispatch.CallerAbandons, for every Dispatch.
	dispatchCtx context.Context
	src         Source
	d           Dispatcher
	o           Options
	log         *slog.Logger
	stopAt      stopAt
	deadline    time.Time // ctx's deadline; zero when none

	budget     atomic.Int64 // messages still allowed; negative means unbounded
	stopped    atomic.Bool
	receivers  atomic.Int32
	waited     atomic.Bool  // drain mode: the first receive's wait was used
	visibility atomic.Int64 // the queue's visibility timeout as learned from a first delivery; 0 unknown

	mu      sync.Mutex
	reason  StopReason
	lastErr error

	received, handled, deadLettered, duplicates, failed, abandoned atomic.Int64
	deleted, deleteFailed, requests                                atomic.Int64

	// slots bounds the messages in hand (receiving, being handled): a receiver takes a slot per
	// message it asks for, so slow handlers slow receiving and memory stays bounded. One batch
	// more than the receivers ask for at once lets a receiver ask again while its last batch is
	// still being handled.
	slots chan struct{}

	receiveWG sync.WaitGroup
	handleWG  sync.WaitGroup // handlers and linger timers: all that may start a delete
	deleteWG  sync.WaitGroup
	deleters  chan struct{} // bounds the delete requests in flight

	dmu         sync.Mutex
	pending     []toDelete // handled messages waiting for a delete request
	dispatching int        // messages received and not yet finished
	linger      *time.Timer
}

// toDelete is one handled message waiting for its delete.
type toDelete struct {
	id, handle string
	// visibleUntil is a time before which the message is certainly still invisible to others,
	// so a stale handle cannot mean redelivery; zero when unknown.
	visibleUntil time.Time
	// unknown says an earlier delete attempt's answer was lost: it may have succeeded.
	unknown bool
}

func drainOne(ctx context.Context, src Source, d Dispatcher, o Options, start time.Time, stop stopAt) Report {
	r := &run{
		ctx: ctx, src: src, d: d, o: o, stopAt: stop,
		log:      o.Logger.With("queue", src.Queue.Name(), "message_type", src.MessageType),
		slots:    make(chan struct{}, (o.Receivers+1)*o.BatchSize),
		deleters: make(chan struct{}, o.Receivers),
	}
	if dl, ok := ctx.Deadline(); ok {
		r.deadline = dl
	}
	// The drain gives up on a Dispatch itself (see handling), so the Router may run the
	// handler on the message's goroutine rather than hand it to one more.
	r.dispatchCtx = dispatch.CallerAbandons(ctx)
	r.recvCtx, r.cancelRecv = context.WithCancel(queue.WithRequestCounter(ctx, &r.requests))
	defer r.cancelRecv()
	r.budget.Store(-1)
	if o.MaxMessages > 0 {
		r.budget.Store(int64(o.MaxMessages))
	}
	r.receivers.Store(1)
	r.receiveWG.Go(r.receiveLoop)
	r.receiveWG.Wait()
	r.handleWG.Wait()
	r.deleteWG.Wait()

	rep := Report{
		Queue: src.Queue.Name(), MessageType: src.MessageType,
		Received: r.received.Load(), Handled: r.handled.Load(), DeadLettered: r.deadLettered.Load(),
		Duplicates: r.duplicates.Load(), Failed: r.failed.Load(), Abandoned: r.abandoned.Load(),
		Deleted: r.deleted.Load(), DeleteFailed: r.deleteFailed.Load(), Requests: r.requests.Load(),
		Stop: r.reason, DurationMS: o.Now().Sub(start).Milliseconds(),
	}
	if r.lastErr != nil {
		rep.Error, rep.Err = r.lastErr.Error(), r.lastErr
	}
	level := slog.LevelInfo
	if rep.Stop == StopError || rep.Stop == StopDestinationDown || rep.Failed > 0 || rep.DeleteFailed > 0 {
		level = slog.LevelWarn
	}
	r.log.Log(context.WithoutCancel(ctx), level, "drain finished",
		"mode", string(o.Mode), "received", rep.Received, "handled", rep.Handled, "dead_lettered", rep.DeadLettered,
		"duplicates", rep.Duplicates, "failed", rep.Failed, "abandoned", rep.Abandoned, "deleted", rep.Deleted,
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

// clockReason is the stop reason when the stop time is reached.
func (r *run) clockReason() StopReason {
	if r.stopAt.byMax {
		return StopMaxDuration
	}
	return StopDeadline
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
	if !r.stopAt.at.IsZero() && !r.o.Now().Before(r.stopAt.at) {
		return r.clockReason()
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

// acquire takes n slots; false when ctx ended first (the slots taken are given back).
func (r *run) acquire(n int) bool {
	for i := range n {
		select {
		case r.slots <- struct{}{}:
		case <-r.recvCtx.Done():
			r.releaseSlots(i)
			return false
		}
	}
	return true
}

func (r *run) releaseSlots(n int) {
	for range n {
		<-r.slots
	}
}

// spawnReceiver adds a receiver unless Receivers are running.
func (r *run) spawnReceiver() {
	for {
		n := r.receivers.Load()
		if n >= int32(r.o.Receivers) {
			return
		}
		if r.receivers.CompareAndSwap(n, n+1) {
			r.receiveWG.Go(r.receiveLoop)
			return
		}
	}
}

// leave ends the calling follow-mode receiver unless it is the last one.
func (r *run) leave() bool {
	for {
		n := r.receivers.Load()
		if n <= 1 {
			return false
		}
		if r.receivers.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// nextWait is the long-poll wait of the next receive, never past the stop time; false when
// a follow-mode receive would have less than a second left to wait, which is not worth a
// request.
func (r *run) nextWait() (time.Duration, bool) {
	var w time.Duration
	switch {
	case r.o.Mode == ModeFollow:
		w = r.o.FollowWait
	case r.waited.CompareAndSwap(false, true):
		w = r.o.Wait
	}
	if w > 0 && !r.stopAt.at.IsZero() {
		// MNS waits whole seconds, rounding up: round down here so the wait ends in time.
		w = min(w, max(r.stopAt.at.Sub(r.o.Now()), 0).Truncate(time.Second))
		if r.o.Mode == ModeFollow && w < time.Second {
			return 0, false
		}
	}
	return w, true
}

// earlyEmptyPause is how long a follow-mode receiver pauses after a long poll that answered
// empty well before its wait was over: MNS does that to long polls beyond its concurrency cap,
// and bills each, so retrying at once would spin.
const earlyEmptyPause = time.Second

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
		wait, ok := r.nextWait()
		if !ok {
			r.release(n)
			r.stop(r.clockReason(), nil)
			return
		}
		if !r.acquire(n) {
			r.release(n)
			r.stop(r.timeToStop(), nil)
			return
		}
		began := time.Now()
		msgs, err := r.receive(n, wait)
		r.releaseSlots(n - len(msgs))
		r.release(n - len(msgs))
		switch {
		case errors.Is(err, queue.ErrEmpty):
			if r.o.Mode == ModeDrain {
				// An empty answer is what ends a drain: a short batch is not (MNS documents that
				// a batch receive may return fewer messages than are available).
				r.stop(StopEmpty, nil)
				return
			}
			if r.leave() {
				return
			}
			if wait > 0 && time.Since(began) < wait/2 {
				retry.Sleep(r.ctx, earlyEmptyPause)
			}
			continue
		case err != nil:
			if r.ctx.Err() != nil || r.stopped.Load() {
				r.stop(r.timeToStop(), nil)
			} else {
				r.stop(StopError, err)
			}
			return
		}
		full := len(msgs) == n && n == r.o.BatchSize
		if full && r.timeToStop() == "" {
			r.spawnReceiver()
		}
		r.handle(msgs, began)
		if !full && r.o.Mode == ModeFollow && r.leave() {
			return
		}
	}
}

// retryable says whether an error may pass by itself: the queue driver does not retry, the
// drain does. A rejected token (queue.ErrTokenRejected, expired ones included) is not: the
// driver already replaced it once within the call, and a credentials failure is retried only
// when it also wraps queue.ErrTransport (the token service may come back).
func retryable(err error) bool {
	return errors.Is(err, queue.ErrTransport) || errors.Is(err, queue.ErrThrottled)
}

func (r *run) receive(n int, wait time.Duration) ([]queue.Message, error) {
	var msgs []queue.Message
	p := retry.Policy{Attempts: r.o.ReceiveAttempts, Backoff: r.o.RetryBackoff}
	err := retry.Do(r.recvCtx, p, func(err error) bool {
		if !retryable(err) || r.timeToStop() != "" {
			return false
		}
		r.log.Warn("receive failed, retrying", "error", err)
		return true
	}, func(ctx context.Context, attempt int) error {
		var err error
		msgs, err = r.src.Queue.Receive(ctx, n, wait)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(msgs) > n {
		// A driver breaking its contract (a server answering more than it was asked for): the
		// slots and the budget hold n, so the rest are left to come back after their
		// visibility timeout rather than handled without a slot to free.
		r.log.Warn("the queue answered more messages than asked for; the rest are left for redelivery",
			"asked", n, "answered", len(msgs))
		msgs = msgs[:n:n]
	}
	r.received.Add(int64(len(msgs)))
	return msgs, nil
}

// handle starts a handler per message and returns, so the next receive goes out at once.
// began is when the receive was sent: the server made the messages invisible after it.
func (r *run) handle(msgs []queue.Message, began time.Time) {
	for i := range msgs {
		if m := &msgs[i]; m.DequeueCount == 1 && !m.FirstDequeueTime.IsZero() && m.NextVisibleTime.After(m.FirstDequeueTime) {
			r.visibility.Store(int64(m.NextVisibleTime.Sub(m.FirstDequeueTime)))
			break
		}
	}
	var visibleUntil time.Time
	if v := time.Duration(r.visibility.Load()); v > time.Second {
		visibleUntil = began.Add(v - time.Second) // a second for the server's millisecond times and clock steps
	}
	r.dmu.Lock()
	r.dispatching += len(msgs)
	r.dmu.Unlock()
	b := &batch{r: r, msgs: make([]handling, len(msgs))}
	b.left.Store(int32(len(msgs)))
	limit := r.o.HandlerTimeout + abandonSlack
	if !r.deadline.IsZero() {
		limit = min(limit, time.Until(r.deadline))
	}
	limit = max(limit, 0)
	b.limitAt = time.Now().Add(limit)
	for i := range msgs {
		qm := &msgs[i]
		b.msgs[i] = handling{b: b, qm: qm, visibleUntil: visibleUntil, m: dispatch.Message{
			ID: qm.ID, Type: r.src.MessageType, Source: r.src.Queue.Name(),
			Body: qm.Body, BodyMD5: qm.BodyMD5, DequeueCount: qm.DequeueCount,
			EnqueueTime: qm.EnqueueTime, FirstDequeueTime: qm.FirstDequeueTime,
		}}
	}
	// Every message of the batch starts now, so one watchdog and one context callback serve
	// them all: per message they would cost more than decoding it.
	r.handleWG.Add(len(msgs)) // done by each message's end
	// The watchdog may fire at once: its callbacks wait for both to be set.
	b.mu.Lock()
	b.watchdog = time.AfterFunc(limit, b.abandon)
	b.stopWatch = context.AfterFunc(r.ctx, b.ctxDone)
	b.mu.Unlock()
	for i := range b.msgs {
		go b.msgs[i].dispatch()
	}
}

// errAbandoned is the failure of a Dispatch the drain stopped waiting for.
var errAbandoned = errors.New("drain: the handler did not return within its timeout; the drain went on without it")

// batch is the messages of one receive between the receive and their ends. Each message's
// Dispatch runs on a goroutine of its own, and one watchdog gives up on those still running
// after HandlerTimeout plus abandonSlack, never past the deadline, and at most abandonSlack
// once ctx was cancelled (at once when its deadline passed). Whichever comes first for a
// message, its Dispatch's return or the watchdog, ends it: counts its outcome, queues its
// delete, frees its slot. A Dispatch given up on is abandoned: the drain goes on without its
// goroutine, and its result, if it ever returns, is dropped. A Dispatch that panics or exits
// its goroutine (runtime.Goexit) is a failure: nothing is deleted by default. An outcome the
// drain does not know is a failure too.
type batch struct {
	r         *run
	msgs      []handling
	left      atomic.Int32 // messages not yet ended
	limitAt   time.Time    // when the watchdog gives up, unless ctx ends first
	mu        sync.Mutex   // guards watchdog and stopWatch while they are set
	watchdog  *time.Timer  // calls abandon
	stopWatch func() bool  // unregisters ctxDone
}

// handling is one message of a batch.
type handling struct {
	b            *batch
	qm           *queue.Message
	m            dispatch.Message
	visibleUntil time.Time
	ended        atomic.Bool
}

// ctxDone shortens the watchdog when ctx ends: a handler that honours its context has returned
// by the time its deadline passed, and a cancelled one gets abandonSlack.
func (b *batch) ctxDone() {
	wait := time.Duration(0)
	if !errors.Is(b.r.ctx.Err(), context.DeadlineExceeded) {
		wait = min(abandonSlack, max(time.Until(b.limitAt), 0))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.watchdog.Reset(wait)
}

// abandon ends every message of the batch still being handled.
func (b *batch) abandon() {
	for i := range b.msgs {
		b.msgs[i].end(dispatchResult{outcome: dispatch.Retry, err: errAbandoned}, true)
	}
}

// dispatch runs the message through the Dispatcher on the calling goroutine and takes it to
// its end, unless the watchdog did first.
func (h *handling) dispatch() {
	r := h.b.r
	res := dispatchResult{outcome: dispatch.Retry, err: errors.New("drain: the dispatcher exited without returning")}
	defer func() {
		if v := recover(); v != nil {
			res = dispatchResult{outcome: dispatch.Retry, err: fmt.Errorf("drain: the dispatcher panicked: %v", v)}
		}
		h.end(res, false)
	}()
	// Not a context ending at the handler timeout: that bounds the handler (the Router's
	// timeout does), not what the Router does after it, such as a dead-letter record.
	res.outcome, res.err = r.d.Dispatch(r.dispatchCtx, &h.m)
}

// end ends the message once: the first caller's result counts. The batch's last end stops
// its watchdog.
func (h *handling) end(res dispatchResult, abandoned bool) {
	if !h.ended.CompareAndSwap(false, true) {
		return
	}
	b := h.b
	r, qm := b.r, h.qm
	defer r.handleWG.Done()
	defer r.releaseSlots(1)
	if b.left.Add(-1) == 0 {
		b.mu.Lock()
		b.watchdog.Stop()
		b.stopWatch()
		b.mu.Unlock()
	}
	del := r.count(qm, res.outcome, res.err, abandoned)
	r.finish(toDelete{id: qm.ID, handle: qm.ReceiptHandle, visibleUntil: h.visibleUntil}, del)
}

// count counts one message's outcome and says whether the message may be deleted.
func (r *run) count(qm *queue.Message, outcome dispatch.Outcome, err error, abandoned bool) bool {
	switch outcome {
	case dispatch.Handled:
		r.handled.Add(1)
		return true
	case dispatch.DeadLettered:
		r.deadLettered.Add(1)
		return true
	case dispatch.Duplicate:
		r.duplicates.Add(1)
		return true
	}
	r.failed.Add(1)
	if abandoned {
		r.abandoned.Add(1)
		r.log.Warn("handler abandoned, message kept for redelivery",
			"message_id", qm.ID, "dequeue_count", qm.DequeueCount, "handler_timeout", r.o.HandlerTimeout.String())
	} else {
		r.log.Warn("handler failed, message kept for redelivery",
			"message_id", qm.ID, "dequeue_count", qm.DequeueCount, "error", err)
	}
	if dispatch.IsUnavailable(err) {
		r.stop(StopDestinationDown, err)
		r.cancelRecv()
	}
	return false
}

type dispatchResult struct {
	outcome dispatch.Outcome
	err     error
}

// finish takes a message off the handling count and, if it may go, queues it for deletion.
// A delete goes out when 16 are queued, when nothing else is being handled (no sibling can
// join it soon), or DeleteLinger after the oldest queued message: a handled message never
// waits long for slower siblings.
func (r *run) finish(m toDelete, del bool) {
	var batches [][]toDelete
	r.dmu.Lock()
	r.dispatching--
	if del {
		r.pending = append(r.pending, m)
	}
	for len(r.pending) >= maxBatch {
		batches = append(batches, r.pending[:maxBatch:maxBatch])
		r.pending = append([]toDelete(nil), r.pending[maxBatch:]...)
	}
	switch {
	case len(r.pending) > 0 && (r.dispatching == 0 || r.o.DeleteLinger == 0):
		batches = append(batches, r.pending)
		r.pending = nil
	case len(r.pending) > 0 && r.linger == nil:
		r.handleWG.Add(1) // done by the timer's function, or here when stopped before it ran
		r.linger = time.AfterFunc(r.o.DeleteLinger, r.lingerDone)
	}
	if len(r.pending) == 0 && r.linger != nil {
		if r.linger.Stop() {
			r.handleWG.Done()
		}
		r.linger = nil
	}
	r.dmu.Unlock()
	for _, b := range batches {
		r.startDelete(b)
	}
}

// lingerDone sends the queued deletes when DeleteLinger ran out.
func (r *run) lingerDone() {
	defer r.handleWG.Done()
	r.dmu.Lock()
	b := r.pending
	r.pending, r.linger = nil, nil
	r.dmu.Unlock()
	if len(b) > 0 {
		r.startDelete(b)
	}
}

func (r *run) startDelete(b []toDelete) {
	r.deleters <- struct{}{}
	r.deleteWG.Go(func() {
		defer func() { <-r.deleters }()
		r.delete(b)
	})
}

// errPartial stands for the handles of a batch delete that failed for a passing reason.
var errPartial = errors.New("drain: some deletes failed for a passing reason")

// delete deletes a batch of handled messages, retrying what failed for a passing reason within
// the attempts and the deadline, and never after ctx was cancelled. Each message is counted
// Deleted or DeleteFailed, by the rule in Report.
func (r *run) delete(batch []toDelete) {
	budget := queue.WithRequestCounter(context.WithoutCancel(r.ctx), &r.requests)
	if !r.deadline.IsZero() {
		var cancel context.CancelFunc
		budget, cancel = context.WithDeadline(budget, r.deadline)
		defer cancel()
	}
	pending := batch
	p := retry.Policy{Attempts: r.o.DeleteAttempts, Backoff: r.o.RetryBackoff}
	err := retry.Do(budget, p, func(err error) bool {
		return len(pending) > 0 && r.ctx.Err() == nil && retryableDelete(err)
	}, func(ctx context.Context, attempt int) error {
		ctx, cancel := context.WithTimeout(ctx, r.o.DeleteTimeout)
		defer cancel()
		handles := make([]string, len(pending))
		for i, d := range pending {
			handles[i] = d.handle
		}
		failures, err := r.src.Queue.Delete(ctx, handles)
		if err != nil {
			if !retryableDelete(err) {
				r.deleteFailedN(pending, err)
				pending = nil
				return err
			}
			if lost(err) {
				for i := range pending {
					pending[i].unknown = true
				}
			}
			return err
		}
		failed := make(map[string]error, len(failures))
		for _, f := range failures {
			failed[f.ReceiptHandle] = f.Err
		}
		now := time.Now()
		var next []toDelete
		var lastErr error
		for _, d := range pending {
			ferr, ok := failed[d.handle]
			switch {
			case !ok:
				r.deleted.Add(1)
			case errors.Is(ferr, queue.ErrStaleHandle) && d.unknown && now.Before(d.visibleUntil):
				// The handle is gone although nobody else could have received the message yet:
				// the attempt whose answer was lost deleted it.
				r.deleted.Add(1)
				r.log.Debug("delete confirmed by its retry", "message_id", d.id)
			case retryableDelete(ferr):
				next, lastErr = append(next, d), ferr
			default:
				r.deleteFailedN([]toDelete{d}, ferr)
			}
		}
		pending = next
		if len(pending) > 0 {
			return fmt.Errorf("%w: %w", errPartial, lastErr)
		}
		return nil
	})
	if len(pending) > 0 {
		r.deleteFailedN(pending, err)
	}
}

// deleteFailedN counts messages whose delete failed and says what that means.
func (r *run) deleteFailedN(ds []toDelete, err error) {
	r.deleteFailed.Add(int64(len(ds)))
	for _, d := range ds {
		r.log.Warn("delete failed; the message may be delivered again, and its handler run again",
			"message_id", d.id, "error", err)
	}
}

// retryableDelete says whether a delete error may pass: the retryable errors, and a request
// that ran out of its DeleteTimeout.
func retryableDelete(err error) bool {
	return retryable(err) || errors.Is(err, context.DeadlineExceeded)
}

// lost says whether a failed request may have been carried out by the server: its answer,
// not its request, may be what was lost.
func lost(err error) bool {
	return errors.Is(err, queue.ErrTransport) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
