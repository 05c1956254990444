package mnspush

import (
	"container/list"
	"context"
	"sync"
)

// dedup remembers, per message id, how often this instance saw it and whether it was
// handled, in a bounded LRU. It is what makes a repeated push of a handled message an
// acknowledgement instead of a second run of the handler, and it gives pushed messages a
// DequeueCount (deliveries seen by this instance) for poison-message policies.
type dedup struct {
	size int // negative: disabled

	mu   sync.Mutex
	recs map[string]*list.Element // of *dedupRecord
	lru  list.List                // front: most recently used
}

type dedupRecord struct {
	id       string
	handled  bool
	attempts int64
	inflight chan struct{} // non-nil while a delivery of this id runs; closed when it ends
}

func newDedup(size int) *dedup {
	return &dedup{size: size, recs: make(map[string]*list.Element)}
}

// acquire starts a delivery of id. dup is true when the id was already handled. Otherwise
// the caller runs the handler and must call release with whether the message is settled. A
// concurrent delivery of the same id waits for the running one first.
func (d *dedup) acquire(ctx context.Context, id string) (attempt int64, release func(settled bool), dup bool, err error) {
	if d.size < 0 {
		return 1, func(bool) {}, false, nil
	}
	for {
		d.mu.Lock()
		var r *dedupRecord
		if el := d.recs[id]; el != nil {
			r = el.Value.(*dedupRecord)
			d.lru.MoveToFront(el)
		} else {
			r = &dedupRecord{id: id}
			d.recs[id] = d.lru.PushFront(r)
			d.evictLocked()
		}
		if r.handled {
			d.mu.Unlock()
			return 0, nil, true, nil
		}
		if wait := r.inflight; wait != nil {
			d.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return 0, nil, false, ctx.Err()
			}
		}
		r.attempts++
		done := make(chan struct{})
		r.inflight = done
		attempt = r.attempts
		d.mu.Unlock()
		return attempt, func(settled bool) {
			d.mu.Lock()
			r.inflight = nil
			if settled {
				r.handled = true
			}
			d.mu.Unlock()
			close(done)
		}, false, nil
	}
}

// evictLocked drops least recently used records beyond the bound, never one in flight.
func (d *dedup) evictLocked() {
	for el := d.lru.Back(); el != nil && d.lru.Len() > d.size; {
		prev := el.Prev()
		if r := el.Value.(*dedupRecord); r.inflight == nil {
			d.lru.Remove(el)
			delete(d.recs, r.id)
		}
		el = prev
	}
}
