package dispatch

import "sync"

// idSet remembers the ids of messages this Router finished (handled or dead-lettered) and the
// ids being handled right now, in one map so each Dispatch costs few map operations. It is
// bounded: the oldest finished id is forgotten first (a ring, not an LRU: a duplicate comes
// soon after the original, within a visibility timeout or two, so the age of the first
// sighting is what matters).
type idSet struct {
	mu   sync.Mutex
	ids  map[string]bool // true: finished; false: being handled
	ring []string        // finished ids, oldest at next once full
	next int
}

func newIDSet(size int) *idSet {
	return &idSet{ids: make(map[string]bool, size), ring: make([]string, size)}
}

// begin marks id as being handled. It reports dup when id already finished and busy when
// another call is handling it; in either case nothing changes.
func (s *idSet) begin(id string) (dup, busy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if finished, ok := s.ids[id]; ok {
		return finished, !finished
	}
	s.ids[id] = false
	return false, false
}

// end unmarks id and, when finished, remembers it, forgetting the oldest finished id if full.
// A remembered id is never being handled (begin refuses it), so evicting one cannot clear an
// in-flight mark.
func (s *idSet) end(id string, finished bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !finished {
		delete(s.ids, id)
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.ids[id] = true
	s.next = (s.next + 1) % len(s.ring)
}
