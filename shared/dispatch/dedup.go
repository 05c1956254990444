package dispatch

import "sync"

// idSet remembers the ids of messages this Router finished (handled or dead-lettered) and the
// ids being handled right now. It is bounded: the oldest finished id is forgotten first (a
// ring, not an LRU: a duplicate comes soon after the original, within one visibility timeout,
// so recency of the first sighting is what matters).
type idSet struct {
	mu       sync.Mutex
	done     map[string]struct{}
	ring     []string
	next     int
	inflight map[string]struct{}
}

func newIDSet(size int) *idSet {
	return &idSet{
		done:     make(map[string]struct{}, size),
		ring:     make([]string, size),
		inflight: make(map[string]struct{}),
	}
}

// begin marks id as being handled. It reports dup when id already finished and busy when
// another call is handling it; in either case id is not marked.
func (s *idSet) begin(id string) (dup, busy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.done[id]; ok {
		return true, false
	}
	if _, ok := s.inflight[id]; ok {
		return false, true
	}
	s.inflight[id] = struct{}{}
	return false, false
}

// end unmarks id and, when finished, remembers it, forgetting the oldest id if full.
func (s *idSet) end(id string, finished bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, id)
	if !finished {
		return
	}
	if _, ok := s.done[id]; ok {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.done, old)
	}
	s.ring[s.next] = id
	s.done[id] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}
