package sink

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// testSecret is a Standard Webhooks secret (a 32-byte key); testKey is its base64 part, which
// must never appear in an error or a log line.
const (
	testKey    = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo="
	testSecret = "whsec_" + testKey
)

// received is one request a receiver accepted as authentic.
type received struct {
	id     string
	header http.Header
	body   []byte
	events []Event
	batch  bool
}

// receiver is a local webhook receiver that verifies every request with the Standard Webhooks
// library (the reference implementation, not this package's signer) and records the events of
// the requests it answered 2xx. answer decides each answer; nil means 204.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	wh     *standardwebhooks.Webhook
	answer atomic.Pointer[func(r received) (status int, body string, delay time.Duration)]

	mu        sync.Mutex
	accepted  []received
	requests  int
	forged    int
	delivered map[string]int // message id -> times answered 2xx and not listed as failed
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, wh: wh, delivered: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL + "/alicom" }

func (rc *receiver) setAnswer(f func(r received) (int, string, time.Duration)) { rc.answer.Store(&f) }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.requests++
	rc.mu.Unlock()
	if err := rc.wh.Verify(body, r.Header); err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		rc.mu.Lock()
		rc.forged++
		rc.mu.Unlock()
		rc.t.Errorf("receiver: a request failed verification: %v (method %s, content type %q)", err, r.Method, r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rec := received{id: r.Header.Get("webhook-id"), header: r.Header.Clone(), body: body}
	if strings.HasPrefix(strings.TrimSpace(string(body)), `{"messages":`) {
		var b Batch
		if err := json.Unmarshal(body, &b); err != nil {
			rc.t.Errorf("receiver: batch body is not JSON: %v", err)
		}
		rec.events, rec.batch = b.Messages, true
	} else {
		var e Event
		if err := json.Unmarshal(body, &e); err != nil {
			rc.t.Errorf("receiver: body is not JSON: %v", err)
		}
		rec.events = []Event{e}
	}
	status, answer, delay := http.StatusNoContent, "", time.Duration(0)
	if f := rc.answer.Load(); f != nil {
		status, answer, delay = (*f)(rec)
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status/100 == 2 {
		var failed BatchAnswer
		_ = json.Unmarshal([]byte(answer), &failed)
		isFailed := map[string]bool{}
		for _, f := range failed.BatchItemFailures {
			isFailed[f.ItemIdentifier] = true
		}
		rc.mu.Lock()
		rc.accepted = append(rc.accepted, rec)
		for _, e := range rec.events {
			if !isFailed[e.MessageID] {
				rc.delivered[e.MessageID]++
			}
		}
		rc.mu.Unlock()
	}
	if answer != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

// events returns every event of the requests answered 2xx, by message id (the last one).
func (rc *receiver) events() map[string]Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]Event{}
	for _, r := range rc.accepted {
		for _, e := range r.events {
			out[e.MessageID] = e
		}
	}
	return out
}

func (rc *receiver) stats() (requests, forged int, delivered map[string]int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	d := make(map[string]int, len(rc.delivered))
	for k, v := range rc.delivered {
		d[k] = v
	}
	return rc.requests, rc.forged, d
}

func (rc *receiver) requestsSeen() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.accepted...)
}
