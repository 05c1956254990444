package mnslocal

import (
	"container/heap"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"sync"
)

// Message states. Every message is in exactly one of two heaps: ready (active) or timed
// (inactive after a receive, or delayed before its first visibility).
const (
	stateActive = iota
	stateInactive
	stateDelayed
)

// message is one stored message. All fields are guarded by the owning queue's mutex.
type message struct {
	id           string
	body         string
	bodyMD5      string
	priority     int
	seq          uint64 // enqueue order, for FIFO within a priority
	enqueueMS    int64
	firstDeqMS   int64
	dequeueCount int64
	nextVisMS    int64
	handle       string // the only receipt handle that works now; "" when none
	state        int
	hidx         int // index in ready or timed, by state
	eidx         int // index in expiry
}

// msgView is a copy of a message taken under the queue lock, safe to encode after unlock.
type msgView struct {
	id, body, bodyMD5, handle string
	enqueueMS, firstDeqMS     int64
	nextVisMS, dequeueCount   int64
	priority                  int
}

func (m *message) view() msgView {
	return msgView{id: m.id, body: m.body, bodyMD5: m.bodyMD5, handle: m.handle,
		enqueueMS: m.enqueueMS, firstDeqMS: m.firstDeqMS, nextVisMS: m.nextVisMS,
		dequeueCount: m.dequeueCount, priority: m.priority}
}

// queueAttrs are the settable queue attributes, in the units of the wire (seconds, bytes).
type queueAttrs struct {
	VisibilityTimeout      int64
	MaximumMessageSize     int64
	MessageRetentionPeriod int64
	DelaySeconds           int64
	PollingWaitSeconds     int64
	LoggingEnabled         bool
}

func defaultQueueAttrs() queueAttrs {
	return queueAttrs{VisibilityTimeout: 30, MaximumMessageSize: 65536, MessageRetentionPeriod: 345600}
}

// queue is one MNS queue. Each queue has its own lock so that requests on different
// queues never contend, and every operation costs O(k log n) for the k messages it
// touches: there is no scan over the queue.
type queue struct {
	name string

	mu        sync.Mutex
	attrs     queueAttrs
	createMS  int64
	modifyMS  int64
	msgs      map[string]*message
	ready     readyHeap  // active: priority, then enqueue order
	timed     timedHeap  // inactive and delayed: by next visible time
	expiry    expiryHeap // all: by enqueue time, for retention
	nInactive int64
	nDelayed  int64
	deleted   int64
	seq       uint64
	wake      chan struct{} // closed to wake long-pollers; nil while nobody waits
	gone      bool          // the queue was deleted
}

func newQueue(name string, attrs queueAttrs, nowMS int64) *queue {
	return &queue{name: name, attrs: attrs, createMS: nowMS, modifyMS: nowMS, msgs: make(map[string]*message)}
}

// advance moves messages whose visibility time has come back to the ready heap and drops
// messages past their retention. Called with q.mu held at the start of every operation.
func (q *queue) advance(nowMS int64) {
	for len(q.timed) > 0 && q.timed[0].nextVisMS <= nowMS {
		m := heap.Pop(&q.timed).(*message)
		if m.state == stateInactive {
			q.nInactive--
		} else {
			q.nDelayed--
		}
		m.state = stateActive
		m.handle = "" // an expired handle stops working
		heap.Push(&q.ready, m)
	}
	retention := q.attrs.MessageRetentionPeriod * 1000
	for len(q.expiry) > 0 && q.expiry[0].enqueueMS+retention <= nowMS {
		m := q.expiry[0]
		q.remove(m)
	}
}

// remove takes m out of every structure; counters of the state it was in are adjusted.
func (q *queue) remove(m *message) {
	switch m.state {
	case stateActive:
		heap.Remove(&q.ready, m.hidx)
	case stateInactive:
		heap.Remove(&q.timed, m.hidx)
		q.nInactive--
	case stateDelayed:
		heap.Remove(&q.timed, m.hidx)
		q.nDelayed--
	}
	heap.Remove(&q.expiry, m.eidx)
	delete(q.msgs, m.id)
}

// pushTimed adds m to the timed heap and wakes long-pollers when m became the earliest
// entry: their wake-up timers were computed from the previous earliest one.
func (q *queue) pushTimed(m *message) {
	heap.Push(&q.timed, m)
	if m.hidx == 0 {
		q.notify()
	}
}

// notify wakes every long-poller of q.
func (q *queue) notify() {
	if q.wake != nil {
		close(q.wake)
		q.wake = nil
	}
}

// waitChan returns the channel the next notify closes.
func (q *queue) waitChan() <-chan struct{} {
	if q.wake == nil {
		q.wake = make(chan struct{})
	}
	return q.wake
}

// add stores a new message; delaySec < 0 means the queue's default delay.
func (q *queue) add(body string, delaySec int64, priority int, nowMS int64) msgView {
	if delaySec < 0 {
		delaySec = q.attrs.DelaySeconds
	}
	q.advance(nowMS)
	q.seq++
	m := &message{id: newMessageID(), body: body, bodyMD5: bodyMD5(body), priority: priority,
		seq: q.seq, enqueueMS: nowMS, nextVisMS: nowMS + delaySec*1000}
	q.msgs[m.id] = m
	heap.Push(&q.expiry, m)
	if delaySec > 0 {
		m.state = stateDelayed
		q.nDelayed++
		q.pushTimed(m)
	} else {
		m.state = stateActive
		heap.Push(&q.ready, m)
		q.notify()
	}
	return m.view()
}

// receive makes up to n active messages inactive for the queue's visibility timeout and
// returns them with new receipt handles.
func (q *queue) receive(n int, nowMS int64) []msgView {
	q.advance(nowMS)
	if len(q.ready) == 0 {
		return nil
	}
	out := make([]msgView, 0, min(n, len(q.ready)))
	visMS := q.attrs.VisibilityTimeout * 1000
	for len(out) < n && len(q.ready) > 0 {
		m := heap.Pop(&q.ready).(*message)
		m.state = stateInactive
		m.dequeueCount++
		if m.firstDeqMS == 0 {
			m.firstDeqMS = nowMS
		}
		m.nextVisMS = nowMS + visMS
		m.handle = newReceiptHandle(m.id)
		q.nInactive++
		q.pushTimed(m)
		out = append(out, m.view())
	}
	return out
}

// peek returns up to n active messages in receive order without changing them.
func (q *queue) peek(n int, nowMS int64) []msgView {
	q.advance(nowMS)
	n = min(n, len(q.ready))
	if n == 0 {
		return nil
	}
	taken := make([]*message, 0, n)
	for range n {
		taken = append(taken, heap.Pop(&q.ready).(*message))
	}
	out := make([]msgView, n)
	for i, m := range taken {
		v := m.view()
		v.handle = ""
		out[i] = v
		heap.Push(&q.ready, m)
	}
	return out
}

// handleErr classifies a receipt handle that cannot be used.
type handleErr int

const (
	handleOK        handleErr = iota
	handleMalformed           // 400 ReceiptHandleError
	handleStale               // 404 MessageNotExist
)

// lookupHandle finds the inactive message whose current handle is h.
func (q *queue) lookupHandle(h string, nowMS int64) (*message, handleErr) {
	id, ok := parseReceiptHandle(h)
	if !ok {
		return nil, handleMalformed
	}
	q.advance(nowMS)
	m := q.msgs[id]
	if m == nil || m.state != stateInactive || m.handle != h {
		return nil, handleStale
	}
	return m, handleOK
}

// deleteByHandle deletes the message whose current receipt handle is h.
func (q *queue) deleteByHandle(h string, nowMS int64) handleErr {
	m, e := q.lookupHandle(h, nowMS)
	if e != handleOK {
		return e
	}
	q.remove(m)
	q.deleted++
	return handleOK
}

// changeVisibility hides the message of handle h for visSec seconds from now and
// replaces its handle.
func (q *queue) changeVisibility(h string, visSec int64, nowMS int64) (newHandle string, nextVisMS int64, e handleErr) {
	m, e := q.lookupHandle(h, nowMS)
	if e != handleOK {
		return "", 0, e
	}
	m.nextVisMS = nowMS + visSec*1000
	m.handle = newReceiptHandle(m.id)
	heap.Fix(&q.timed, m.hidx)
	if m.hidx == 0 {
		q.notify()
	}
	return m.handle, m.nextVisMS, handleOK
}

// counts returns active, inactive and delayed message counts.
func (q *queue) counts(nowMS int64) (active, inactive, delayed int64) {
	q.advance(nowMS)
	return int64(len(q.ready)), q.nInactive, q.nDelayed
}

// nextTimedMS is the earliest time a timed message becomes visible, or 0.
func (q *queue) nextTimedMS() int64 {
	if len(q.timed) == 0 {
		return 0
	}
	return q.timed[0].nextVisMS
}

// readyHeap orders active messages by priority (1 first), then enqueue order.
type readyHeap []*message

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority < h[j].priority
	}
	return h[i].seq < h[j].seq
}
func (h readyHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].hidx = i; h[j].hidx = j }
func (h *readyHeap) Push(x any)   { m := x.(*message); m.hidx = len(*h); *h = append(*h, m) }
func (h *readyHeap) Pop() any     { return popLast((*[]*message)(h)) }
func popLast(h *[]*message) *message {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return m
}

// timedHeap orders inactive and delayed messages by next visible time.
type timedHeap []*message

func (h timedHeap) Len() int { return len(h) }
func (h timedHeap) Less(i, j int) bool {
	if h[i].nextVisMS != h[j].nextVisMS {
		return h[i].nextVisMS < h[j].nextVisMS
	}
	return h[i].seq < h[j].seq
}
func (h timedHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].hidx = i; h[j].hidx = j }
func (h *timedHeap) Push(x any)   { m := x.(*message); m.hidx = len(*h); *h = append(*h, m) }
func (h *timedHeap) Pop() any     { return popLast((*[]*message)(h)) }

// expiryHeap orders every message by enqueue time: the retention period is per queue,
// so the oldest message always expires first.
type expiryHeap []*message

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if h[i].enqueueMS != h[j].enqueueMS {
		return h[i].enqueueMS < h[j].enqueueMS
	}
	return h[i].seq < h[j].seq
}
func (h expiryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].eidx = i; h[j].eidx = j }
func (h *expiryHeap) Push(x any)   { m := x.(*message); m.eidx = len(*h); *h = append(*h, m) }
func (h *expiryHeap) Pop() any     { return popLast((*[]*message)(h)) }

const upperHex = "0123456789ABCDEF"

// newMessageID returns 32 upper-case hex characters, as real message ids.
func newMessageID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], rand.Uint64())
	binary.BigEndian.PutUint64(b[8:], rand.Uint64())
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// handlePrefix encodes to "+/+/": every handle carries '+', '/' and (via the 16-byte
// length) "==" padding, on purpose, so a client that mangles any of them in a URL fails
// on its first delete instead of on one message in a hundred.
var handlePrefix = [3]byte{0xFB, 0xFF, 0xBF}

// newReceiptHandle returns "<MessageId>-<standard base64 with padding>".
func newReceiptHandle(id string) string {
	var b [16]byte
	copy(b[:3], handlePrefix[:])
	binary.BigEndian.PutUint64(b[3:11], rand.Uint64())
	var tail [8]byte
	binary.BigEndian.PutUint64(tail[:], rand.Uint64())
	copy(b[11:], tail[:5])
	return id + "-" + base64.StdEncoding.EncodeToString(b[:])
}

// parseReceiptHandle returns the message id of a well-formed handle.
func parseReceiptHandle(h string) (string, bool) {
	id, rest, ok := strings.Cut(h, "-")
	if !ok || len(id) != 32 || !isUpperHex(id) {
		return "", false
	}
	if _, err := base64.StdEncoding.DecodeString(rest); err != nil || rest == "" {
		return "", false
	}
	return id, true
}

func isUpperHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(upperHex, rune(s[i])) {
			return false
		}
	}
	return true
}

// bodyMD5 is the upper-case hex MD5 of the message body text.
func bodyMD5(body string) string {
	sum := md5.Sum([]byte(body))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
