package mnslocal

import (
	"encoding/json"
	"net/http"
	"sort"
	"sync/atomic"
)

// Stats is a snapshot of what the emulator has served and holds.
type Stats struct {
	// Requests counts requests by operation name (see Operations; "Unknown" for requests
	// no operation matches), failed ones included.
	Requests map[string]int64 `json:"requests"`
	// MNSRequests counts all MNS REST requests (queues and topics).
	MNSRequests int64 `json:"mns_requests"`
	// TokenRequests counts QueryTokenForMnsQueue calls, failed ones included.
	TokenRequests int64 `json:"token_requests"`
	// TokensIssued counts STS tokens actually handed out.
	TokensIssued int64 `json:"tokens_issued"`
	// Queues holds the message counts of every queue by name.
	Queues map[string]QueueStats `json:"queues"`
	// Pushes counts topic push deliveries.
	Pushes PushStats `json:"pushes"`
}

// QueueStats are the message counts of one queue. Deleted counts messages deleted by
// receipt handle since start (or the last ResetStats); the others are current counts.
type QueueStats struct {
	Active   int64 `json:"active"`
	Inactive int64 `json:"inactive"`
	Delayed  int64 `json:"delayed"`
	Deleted  int64 `json:"deleted"`
}

// opUnknown counts requests that match no operation.
const opUnknown = "Unknown"

// statsState counts with atomics only: the map of counters is built once and never
// written, so counting takes no lock on the request path.
type statsState struct {
	requests     map[string]*atomic.Int64
	mns          atomic.Int64
	tokens       atomic.Int64
	tokensIssued atomic.Int64
}

func newStatsState() *statsState {
	st := &statsState{requests: make(map[string]*atomic.Int64, len(Operations)+1)}
	for _, op := range append(append([]string(nil), Operations...), opUnknown) {
		st.requests[op] = new(atomic.Int64)
	}
	return st
}

func (st *statsState) count(op string) {
	c := st.requests[op]
	if c == nil {
		c = st.requests[opUnknown]
	}
	c.Add(1)
}

// Stats returns a snapshot of the counters and of every queue's message counts.
func (s *Server) Stats() Stats {
	out := Stats{
		Requests:      make(map[string]int64),
		MNSRequests:   s.stats.mns.Load(),
		TokenRequests: s.stats.tokens.Load(),
		TokensIssued:  s.stats.tokensIssued.Load(),
		Queues:        make(map[string]QueueStats),
		Pushes:        s.topics.pushStats(),
	}
	for op, c := range s.stats.requests {
		if n := c.Load(); n > 0 {
			out.Requests[op] = n
		}
	}
	nowMS := s.nowMS()
	for _, q := range s.queueList() {
		q.mu.Lock()
		a, i, d := q.counts(nowMS)
		out.Queues[q.name] = QueueStats{Active: a, Inactive: i, Delayed: d, Deleted: q.deleted}
		q.mu.Unlock()
	}
	return out
}

// ResetStats zeroes the request counters and the per-queue Deleted counts; messages stay.
func (s *Server) ResetStats() {
	for _, c := range s.stats.requests {
		c.Store(0)
	}
	s.stats.mns.Store(0)
	s.stats.tokens.Store(0)
	s.stats.tokensIssued.Store(0)
	s.topics.resetPushStats()
	for _, q := range s.queueList() {
		q.mu.Lock()
		q.deleted = 0
		q.mu.Unlock()
	}
}

// serveStats answers GET /_mnslocal/stats (JSON, no auth) and DELETE (reset).
func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodDelete:
		s.ResetStats()
	default:
		w.Header().Set("Allow", "GET, HEAD, DELETE")
		http.Error(w, "method not allowed: GET reads the stats, DELETE resets them", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.Stats())
}

// queueNames returns the sorted names of all queues.
func (s *Server) queueNames() []string {
	s.qmu.RLock()
	names := make([]string, 0, len(s.queues))
	for n := range s.queues {
		names = append(names, n)
	}
	s.qmu.RUnlock()
	sort.Strings(names)
	return names
}

// queueList returns all queues (unordered).
func (s *Server) queueList() []*queue {
	s.qmu.RLock()
	defer s.qmu.RUnlock()
	qs := make([]*queue, 0, len(s.queues))
	for _, q := range s.queues {
		qs = append(qs, q)
	}
	return qs
}
