package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrInFlight is returned with Retry when a message with the same id is being handled by
// another Dispatch call of this Router right now: running it twice at once would defeat
// deduplication, and answering Duplicate could delete it before the first run succeeds.
var ErrInFlight = errors.New("dispatch: a message with this id is already being handled")

// Dedup is the memory of the Deduplicate policy: the ids of the last messages this process
// saw, whether each is finished (handled or dead-lettered), being handled, or neither (it
// failed), and how often it was delivered here. It is bounded: it holds the ids of the last
// size distinct messages, and the id seen first is forgotten first (a ring, not an LRU: a
// redelivery comes soon after the original, within a visibility timeout or two, so the age of
// the first sighting is what matters). An id being handled is never forgotten.
//
// What it can recognise: a message this process finished, delivered again while the id is
// still held (a delete that failed or whose answer was lost, a stale receipt handle, MNS
// pushing again after its 5-second wait). What it cannot: a message finished by another
// instance, or by this function before a cold start or a restart; such a redelivery is handled
// again, and the idempotency key (Message.Key) is what lets a sink write it only once.
// Stats counts those it could not tell apart (Unrecognised), and Remembers lets a carrier
// say truthfully whether a redelivery would be recognised.
//
// A Dedup is safe for concurrent use.
type Dedup struct {
	mu    sync.Mutex
	ids   map[string]dedupEntry
	ring  []string // ids in order of first sighting, oldest at next once full
	next  int
	stats DedupStats
}

type dedupEntry struct {
	deliveries int64 // deliveries seen here
	holders    int32 // the Dispatches handling it now, plus the handler goroutines Timeout abandoned
	live       int32 // Dispatches handling it now
	liveCount  int64 // the highest DequeueCount among them
	finished   bool  // handled or dead-lettered here
	inRing     bool  // false once its ring slot was taken while it was held
}

// busy reports whether anything still works on the id: then it must not be started again.
func (e dedupEntry) busy() bool { return e.holders > 0 }

// DedupStats counts what a Dedup answered since it was made.
type DedupStats struct {
	// Recognised counts deliveries answered Duplicate: ids this process had finished.
	Recognised int64
	// InFlight counts deliveries refused with ErrInFlight: answered Retry, or dead-lettered
	// when one came at the attempt limit while an abandoned run of the id still went on.
	InFlight int64
	// Unrecognised counts first sightings of ids whose DequeueCount was above 1: redeliveries
	// of messages this process never saw. Each was delivered before, to another instance or to
	// an earlier process; if that delivery was handled, this one handles it again.
	Unrecognised int64
}

// NewDedup returns a Dedup holding the ids of the last size distinct messages. It panics when
// size is not between 1 and 1<<24 (the memory is allocated up front): a wiring mistake.
func NewDedup(size int) *Dedup {
	if size < 1 || size > maxDedupSize {
		panic(fmt.Sprintf("dispatch: NewDedup(%d): size must be between 1 and %d", size, maxDedupSize))
	}
	return &Dedup{ids: make(map[string]dedupEntry, size), ring: make([]string, size)}
}

// Deduplicate is the policy that runs each message id at most once at a time and at most once
// to its end in this process (as far as d remembers):
//
//   - a message whose id d holds as finished is Duplicate, and next does not run;
//   - one whose id another Dispatch is handling right now is Retry with ErrInFlight, unless
//     its DequeueCount is higher than that Dispatch's (see below);
//   - one whose handler Timeout abandoned at an earlier delivery, and which is still running,
//     or one delivered again (a higher DequeueCount) while the Dispatch of an earlier delivery
//     still runs, which its carrier gave up on (CallerAbandons), goes through next with the
//     handler refused (the Router's route answers Retry with
//     ErrInFlight instead of running it), so that Poison still dead-letters it at the attempt
//     limit: a handler that hangs for ever must not keep its message from being recorded;
//   - otherwise next runs, and the id is remembered as finished when next answers Handled or
//     DeadLettered (after recording). Any other end, a panic or runtime.Goexit included,
//     leaves it unfinished.
//
// The in-flight mark of an id lasts until the last goroutine working on it returns, not only
// until Dispatch does: Timeout, when it abandons a handler, holds the mark (through the
// context Deduplicate gives next) until that handler returns, so a redelivery never runs the
// handler beside an abandoned run of itself. An abandoned handler that later returns nil
// makes the id finished: its next delivery is a Duplicate.
//
// A message from a carrier that cannot count deliveries (DequeueCount 0) is given the number
// of deliveries of its id d has seen, this one included, so Poison can work on it. Messages
// without an id are passed through.
func Deduplicate(d *Dedup) Policy {
	return func(next DispatchFunc) DispatchFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			if m.ID == "" {
				return next(ctx, m)
			}
			dup, busy, orphaned, deliveries := d.begin(m.ID, m.DequeueCount)
			switch {
			case dup:
				return Duplicate, nil
			case busy:
				return Retry, fmt.Errorf("%w: message %s", ErrInFlight, m.ID)
			}
			if m.DequeueCount == 0 {
				m.DequeueCount = deliveries
			}
			out := Retry
			defer func() { d.end(m.ID, true, out == Handled || out == DeadLettered) }()
			out, err := next(&inFlight{Context: ctx, d: d, id: m.ID, orphaned: orphaned}, m)
			return out, err
		}
	}
}

// Remembers reports whether d holds id as finished now, so that a delivery of it would be
// answered Duplicate. A nil Dedup remembers nothing.
func (d *Dedup) Remembers(id string) bool {
	if d == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ids[id].finished
}

// Stats returns the counts so far. A nil Dedup has none.
func (d *Dedup) Stats() DedupStats {
	if d == nil {
		return DedupStats{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// inFlight is the context Deduplicate gives next (one allocation, rather than two for
// context.WithValue): it carries the id's in-flight mark down to Timeout and route.
type inFlight struct {
	context.Context
	d        *Dedup
	id       string
	orphaned bool // an abandoned handler of the id still runs: route must not run another
}

type inFlightKey struct{}

// Value returns the inFlight itself for inFlightKey and asks the parent for any other key.
func (c *inFlight) Value(key any) any {
	if key == (inFlightKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// inFlightOf returns the in-flight mark ctx carries, or nil.
func inFlightOf(ctx context.Context) *inFlight {
	f, _ := ctx.Value(inFlightKey{}).(*inFlight)
	return f
}

// holdInFlight is called by Timeout as it abandons a handler still running: it extends the
// in-flight mark ctx carries (if any) to that goroutine and returns what the goroutine calls
// when it ends, with whether the handler returned nil; nil when ctx carries no mark.
func holdInFlight(ctx context.Context) func(handled bool) {
	f := inFlightOf(ctx)
	if f == nil {
		return nil
	}
	f.d.hold(f.id)
	return func(handled bool) { f.d.end(f.id, false, handled) }
}

// begin marks id as being handled and counts the delivery. It reports dup when id is
// finished and busy when another Dispatch is handling it; in either case only the stats
// change. It reports orphaned when only handler goroutines abandoned at earlier deliveries,
// or Dispatches of earlier deliveries their carrier gave up on, still work on id.
func (d *Dedup) begin(id string, dequeueCount int64) (dup, busy, orphaned bool, deliveries int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.ids[id]
	switch {
	case e.finished:
		d.stats.Recognised++
		return true, false, false, 0
	case e.live > 0 && dequeueCount <= e.liveCount:
		d.stats.InFlight++
		return false, true, false, 0
	case e.busy():
		// Either a handler Timeout abandoned, or a Dispatch a carrier gave up on
		// (CallerAbandons): a queue delivers a message again, with a higher DequeueCount,
		// only once its visibility timeout passed, that is after the carrier stopped waiting.
		d.stats.InFlight++
		orphaned = true
	case !ok:
		if dequeueCount > 1 {
			d.stats.Unrecognised++
		}
		d.push(id)
		e.inRing = true
	}
	e.holders++
	e.live++
	e.liveCount = max(e.liveCount, dequeueCount)
	e.deliveries++
	d.ids[id] = e
	return false, false, orphaned, e.deliveries
}

// hold adds a holder to id, which a Dispatch holds now.
func (d *Dedup) hold(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.ids[id]
	e.holders++
	d.ids[id] = e
}

// end drops one holder of id, the Dispatch itself when live, and records whether it
// finished the id. Once nothing holds it, an id whose ring slot was taken meanwhile is
// forgotten, unless it finished: then it takes a new slot.
func (d *Dedup) end(id string, live, finished bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.ids[id]
	e.holders--
	if live {
		if e.live--; e.live == 0 {
			e.liveCount = 0
		}
	}
	e.finished = e.finished || finished
	if e.busy() || e.inRing {
		d.ids[id] = e
		return
	}
	if !e.finished {
		delete(d.ids, id)
		return
	}
	d.push(id)
	e.inRing = true
	d.ids[id] = e
}

// push puts id in the next ring slot, forgetting the id that held it; one still held is kept
// (marked out of the ring) until its last holder ends.
func (d *Dedup) push(id string) {
	if old := d.ring[d.next]; old != "" {
		if oe := d.ids[old]; oe.busy() {
			oe.inRing = false
			d.ids[old] = oe
		} else {
			delete(d.ids, old)
		}
	}
	d.ring[d.next] = id
	d.next = (d.next + 1) % len(d.ring)
}
