// Package faultproxy is an HTTP handler that stands between an MNS and Dybaseapi client and the
// server it talks to (in this project the emulator, shared/mnslocal) and injects the faults a
// server cannot inject into its own answers: answers lost after the server acted, bodies altered
// in transit, oversized answers, credentials rejected, latency spikes, as well as plain 5xx and
// dropped connections. It also keeps a ledger of what the server did, read from the answers that
// passed through it: which message ids it deleted and which it handed out, so a test can hold a
// drain's report and records against what really happened.
//
// The chaos matrix (cmd/chaos) is its user; it is a test harness and has no place in a deployment.
package faultproxy

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Op classifies a request by what it asks the server to do.
type Op string

// The operations a drain makes.
const (
	OpReceive Op = "receive" // ReceiveMessage, BatchReceiveMessage
	OpDelete  Op = "delete"  // DeleteMessage, BatchDeleteMessage
	OpToken   Op = "token"   // Dybaseapi QueryTokenForMnsQueue
	OpOther   Op = "other"
)

// Kind says how a fault changes a request.
type Kind string

// The fault kinds.
const (
	// Status5xx answers 500 InternalError without passing the request on.
	Status5xx Kind = "5xx"
	// Drop closes the connection without passing the request on.
	Drop Kind = "drop"
	// LoseAnswer passes the request on, lets the server act, then closes the connection
	// instead of answering.
	LoseAnswer Kind = "lose-answer"
	// Delay waits Fault.Delay, then passes the request on.
	Delay Kind = "delay"
	// Huge answers 200 with Fault.Size bytes of a well-formed start that never ends, without
	// passing the request on.
	Huge Kind = "huge"
	// RejectKey answers 403 InvalidAccessKeyId to requests signed with an access key id in the
	// proxy's rejected set (see RejectSeenKeys), as MNS does after the issuer forgot a token.
	RejectKey Kind = "reject-key"
	// CorruptBody passes the request on and alters one character of every MessageBody in the
	// answer, keeping MessageBodyMD5: an answer altered in transit.
	CorruptBody Kind = "corrupt-body"
)

// Fault is one injected behaviour.
type Fault struct {
	Op    Op
	Kind  Kind
	Rate  float64       // the share of matching requests it applies to; 0 means all
	Skip  int           // matching requests let through before it starts
	Times int           // how many requests it applies to at most; 0 means no limit
	Delay time.Duration // for Delay
	Size  int64         // for Huge
	// Only, when set, limits the fault to requests it returns true for.
	Only func(*http.Request) bool

	seen, applied int
}

// Proxy is the fault-injecting handler. The zero value is not usable; see New.
type Proxy struct {
	upstream http.Handler

	mu       sync.Mutex
	faults   []*Fault
	rng      *rand.Rand
	rejected map[string]bool // access key ids answered InvalidAccessKeyId
	keys     map[string]bool // access key ids seen on MNS requests
	deleted  map[string]int  // message id -> deletes the server confirmed
	handed   map[string]int  // message id -> times the server handed it out
	requests map[Op]int
	injected map[Kind]int
}

// New returns a proxy in front of upstream, with a seeded generator so a run's choices repeat.
func New(upstream http.Handler, seed uint64) *Proxy {
	return &Proxy{
		upstream: upstream, rng: rand.New(rand.NewPCG(seed, 0x6661756c74)),
		rejected: map[string]bool{}, keys: map[string]bool{}, deleted: map[string]int{}, handed: map[string]int{},
		requests: map[Op]int{}, injected: map[Kind]int{},
	}
}

// Add installs faults; the first that applies to a request wins.
func (p *Proxy) Add(faults ...Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range faults {
		f := f
		p.faults = append(p.faults, &f)
	}
}

// Clear removes every fault.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// RejectSeenKeys adds every access key id seen on an MNS request so far to the rejected set.
func (p *Proxy) RejectSeenKeys() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.keys {
		p.rejected[k] = true
	}
}

// Deleted returns, per message id, how many deletes of it the server confirmed (whether or not
// the client got the answer).
func (p *Proxy) Deleted() map[string]int { return p.copyMap(p.deleted) }

// HandedOut returns, per message id, how many times the server handed it to a receive.
func (p *Proxy) HandedOut() map[string]int { return p.copyMap(p.handed) }

// Requests returns the requests seen per operation.
func (p *Proxy) Requests() map[Op]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Op]int, len(p.requests))
	for k, v := range p.requests {
		out[k] = v
	}
	return out
}

// Injected returns how many requests each kind of fault changed.
func (p *Proxy) Injected() map[Kind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Kind]int, len(p.injected))
	for k, v := range p.injected {
		out[k] = v
	}
	return out
}

func (p *Proxy) copyMap(m map[string]int) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// maxRequestBody bounds what the proxy buffers of a request: the emulator's own bound, so the
// proxy refuses nothing the emulator would take. A larger request is refused, not passed on cut.
const maxRequestBody = 4 << 20

// Classify names the operation of r.
func Classify(r *http.Request) Op {
	path := strings.Trim(r.URL.Path, "/")
	if path == "" {
		if r.URL.Query().Get("Action") == "QueryTokenForMnsQueue" || r.Form.Get("Action") == "QueryTokenForMnsQueue" {
			return OpToken
		}
		return OpOther
	}
	segs := strings.Split(path, "/")
	if len(segs) == 3 && segs[0] == "queues" && segs[2] == "messages" {
		switch r.Method {
		case http.MethodGet:
			if r.URL.Query().Has("peekonly") {
				return OpOther
			}
			return OpReceive
		case http.MethodDelete:
			return OpDelete
		}
	}
	return OpOther
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return
	}
	if len(body) > maxRequestBody {
		writeMNSError(w, Classify(r), http.StatusRequestEntityTooLarge, "RequestTooLarge",
			fmt.Sprintf("faultproxy buffers at most %d bytes of a request", maxRequestBody))
		return
	}
	restore := func() { r.Body = io.NopCloser(bytes.NewReader(body)) }
	restore()
	if strings.Trim(r.URL.Path, "/") == "" && r.Method == http.MethodPost {
		_ = r.ParseForm() // the RPC's Action may travel in a form body
		restore()
	}
	op := Classify(r)
	key := accessKeyID(r)

	p.mu.Lock()
	p.requests[op]++
	if key != "" && op != OpToken {
		p.keys[key] = true
	}
	f := p.pick(op, r, key)
	var kind Kind
	if f != nil {
		kind = f.Kind
		p.injected[kind]++
	}
	p.mu.Unlock()

	switch kind {
	case Status5xx:
		writeMNSError(w, op, http.StatusInternalServerError, "InternalError", "injected by faultproxy")
		return
	case Drop:
		hangUp(w)
		return
	case RejectKey:
		writeMNSError(w, op, http.StatusForbidden, "InvalidAccessKeyId", "The access Id you provided is not exist.")
		return
	case Huge:
		writeHuge(w, op, f.Size)
		return
	case Delay:
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	rec := httptest.NewRecorder()
	p.upstream.ServeHTTP(rec, r)
	answer := rec.Body.Bytes()
	p.note(op, r, body, rec.Code, answer)

	switch kind {
	case LoseAnswer:
		hangUp(w)
		return
	case CorruptBody:
		answer = corrupt(answer)
	}
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(answer)
}

// pick returns the fault that applies to this request, if any; p.mu is held.
func (p *Proxy) pick(op Op, r *http.Request, key string) *Fault {
	for _, f := range p.faults {
		if f.Op != "" && f.Op != op {
			continue
		}
		if f.Only != nil && !f.Only(r) {
			continue
		}
		if f.Kind == RejectKey && !p.rejected[key] {
			continue
		}
		f.seen++
		if f.seen <= f.Skip || (f.Times > 0 && f.applied >= f.Times) {
			continue
		}
		if f.Rate > 0 && p.rng.Float64() >= f.Rate {
			continue
		}
		f.applied++
		return f
	}
	return nil
}

var (
	messageIDRe = regexp.MustCompile(`<MessageId>([0-9A-F]{32})</MessageId>`)
	handleRe    = regexp.MustCompile(`<ReceiptHandle>\s*([^<\s]+)\s*</ReceiptHandle>`)
	bodyRe      = regexp.MustCompile(`<MessageBody>([^<]*)</MessageBody>`)
)

// note updates the ledger from a request the server answered.
func (p *Proxy) note(op Op, r *http.Request, body []byte, status int, answer []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch op {
	case OpReceive:
		if status == http.StatusOK {
			for _, m := range messageIDRe.FindAllSubmatch(answer, -1) {
				p.handed[string(m[1])]++
			}
		}
	case OpDelete:
		var handles []string
		if h := r.URL.Query().Get("ReceiptHandle"); h != "" {
			handles = []string{h}
		} else {
			for _, m := range handleRe.FindAllSubmatch(body, -1) {
				handles = append(handles, string(m[1]))
			}
		}
		failed := map[string]bool{}
		switch status {
		case http.StatusNoContent, http.StatusOK:
		case http.StatusNotFound:
			if len(handles) > 1 || r.URL.Query().Get("ReceiptHandle") == "" {
				for _, m := range handleRe.FindAllSubmatch(answer, -1) {
					failed[string(m[1])] = true
				}
			} else {
				return
			}
		default:
			return
		}
		for _, h := range handles {
			if !failed[h] {
				if id, _, ok := strings.Cut(h, "-"); ok {
					p.deleted[id]++
				}
			}
		}
	}
}

// accessKeyID is the key id of an MNS request's "Authorization: MNS id:signature".
func accessKeyID(r *http.Request) string {
	a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "MNS ")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(a, ":")
	return id
}

func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	_ = conn.Close()
}

// writeMNSError answers in the dialect of the operation: MNS XML, or Dybaseapi JSON.
func writeMNSError(w http.ResponseWriter, op Op, status int, code, msg string) {
	if op == OpToken {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"RequestId":"FAULTPROXY","Code":%q,"Message":%q}`, code, msg)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=utf-8")
	w.Header().Set("x-mns-request-id", "FAULTPROXY00000000000000")
	w.WriteHeader(status)
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error xmlns="http://mns.aliyuncs.com/doc/v1/">`)
	b.WriteString("<Code>")
	_ = xml.EscapeText(&b, []byte(code))
	b.WriteString("</Code><Message>")
	_ = xml.EscapeText(&b, []byte(msg))
	b.WriteString("</Message><RequestId>FAULTPROXY00000000000000</RequestId><HostId>faultproxy</HostId></Error>\n")
	_, _ = w.Write(b.Bytes())
}

// writeHuge streams size bytes: the start of a plausible answer whose one value never ends, so a
// client that reads it all holds it all.
func writeHuge(w http.ResponseWriter, op Op, size int64) {
	head := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Messages xmlns="http://mns.aliyuncs.com/doc/v1/"><Message><MessageBody>`
	if op == OpToken {
		head = `{"RequestId":"FAULTPROXY","Code":"OK","Message":"`
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/xml;charset=utf-8")
	}
	w.WriteHeader(http.StatusOK)
	chunk := bytes.Repeat([]byte("A"), 64<<10)
	if _, err := io.WriteString(w, head); err != nil {
		return
	}
	for n := int64(len(head)); n < size; n += int64(len(chunk)) {
		if _, err := w.Write(chunk[:min(int64(len(chunk)), size-n)]); err != nil {
			return // the client gave up: what it holds is what it read
		}
	}
}

// corrupt changes one base64 character of every MessageBody, so the body still decodes but no
// longer matches its MD5.
func corrupt(answer []byte) []byte {
	return bodyRe.ReplaceAllFunc(answer, func(m []byte) []byte {
		out := append([]byte(nil), m...)
		i := len("<MessageBody>")
		if i < len(out)-len("</MessageBody>") {
			if out[i] == 'A' {
				out[i] = 'B'
			} else {
				out[i] = 'A'
			}
		}
		return out
	})
}

// Serve runs h on a new loopback listener until the returned stop is called; it returns the
// base URL.
func Serve(h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}
