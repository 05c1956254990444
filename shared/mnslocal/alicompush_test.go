package mnslocal

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// alicomEndpoint answers the n-th POST with answers[n] (the last one repeated) and records
// what it received.
type alicomEndpoint struct {
	mu      sync.Mutex
	bodies  []string
	ctypes  []string
	answers []func(w http.ResponseWriter)
}

func (e *alicomEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	n := len(e.bodies)
	e.bodies = append(e.bodies, string(b))
	e.ctypes = append(e.ctypes, r.Header.Get("Content-Type"))
	a := e.answers[min(n, len(e.answers)-1)]
	e.mu.Unlock()
	a(w)
}

func ok(w http.ResponseWriter) { io.WriteString(w, `{"code":0,"msg":"接收成功"}`) }

func status(code int) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.WriteHeader(code) }
}

func testPusher() *AlicomPusher {
	return NewAlicomPusher(AlicomPushConfig{Schedule: []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}, Timeout: 5 * time.Second})
}

func TestTheAlicomPusherPostsAJSONArrayOfTheItems(t *testing.T) {
	ep := &alicomEndpoint{answers: []func(http.ResponseWriter){ok}}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	p := testPusher()
	d, err := p.Push(context.Background(), srv.URL+"/alicom/SmsReport?token=secret-token",
		json.RawMessage(`{"biz_id":"1"}`), map[string]any{"biz_id": "2"})
	if err != nil || !d.Acknowledged || len(d.Attempts) != 1 || d.Attempts[0].Status != 200 {
		t.Fatalf("delivery %+v, err %v", d, err)
	}
	if ep.bodies[0] != `[{"biz_id":"1"},{"biz_id":"2"}]` || !strings.HasPrefix(ep.ctypes[0], "application/json") {
		t.Errorf("posted %q as %q", ep.bodies[0], ep.ctypes[0])
	}
	if d.Path != "/alicom/SmsReport" {
		t.Errorf("path %q: want the path without the query that holds the token", d.Path)
	}
	if got := p.Deliveries(); len(got) != 1 || string(got[0].Body) != ep.bodies[0] {
		t.Errorf("deliveries %+v", got)
	}
}

func TestTheAlicomPusherRetriesOnItsScheduleUntilAcknowledged(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answers  []func(http.ResponseWriter)
		attempts int
		acked    bool
	}{
		{"a 500 then a 200 is two attempts", []func(http.ResponseWriter){status(500), ok}, 2, true},
		{"a 200 without a numeric code is not acknowledged", []func(http.ResponseWriter){func(w http.ResponseWriter) { io.WriteString(w, `{"code":"0"}`) }, ok}, 2, true},
		{"a 200 that is not JSON is not acknowledged", []func(http.ResponseWriter){func(w http.ResponseWriter) { io.WriteString(w, `success`) }, ok}, 2, true},
		{"a 201 is not acknowledged", []func(http.ResponseWriter){status(201), ok}, 2, true},
		{"failing every time gives up after the schedule", []func(http.ResponseWriter){status(503)}, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := &alicomEndpoint{answers: tc.answers}
			srv := httptest.NewServer(ep)
			defer srv.Close()
			d, _ := testPusher().Push(context.Background(), srv.URL+"/alicom/SmsUp?token=t", json.RawMessage(`{}`))
			if len(d.Attempts) != tc.attempts || d.Acknowledged != tc.acked {
				t.Fatalf("%d attempts, acknowledged %v; want %d, %v", len(d.Attempts), d.Acknowledged, tc.attempts, tc.acked)
			}
			for i, a := range d.Attempts[:len(d.Attempts)-1] {
				if a.Err == nil {
					t.Errorf("attempt %d has no error", i)
				}
			}
		})
	}
}

func TestALateAnswerIsAFailureAndItsErrorHidesTheToken(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		ok(w)
	}))
	defer srv.Close()
	defer close(release)
	p := NewAlicomPusher(AlicomPushConfig{Schedule: []time.Duration{}, Timeout: 20 * time.Millisecond})
	d, _ := p.Push(context.Background(), srv.URL+"/alicom/SmsReport?token=secret-token", json.RawMessage(`{}`))
	if d.Acknowledged || len(d.Attempts) != 1 || d.Attempts[0].Err == nil {
		t.Fatalf("delivery %+v: want one failed attempt", d)
	}
	if strings.Contains(d.Attempts[0].Err.Error(), "secret-token") {
		t.Errorf("error %q shows the token", d.Attempts[0].Err)
	}
}

func TestTheDefaultScheduleIsAlicoms(t *testing.T) {
	p := NewAlicomPusher(AlicomPushConfig{})
	if len(p.cfg.Schedule) != 3 || p.cfg.Schedule[0] != time.Minute || p.cfg.Schedule[2] != 10*time.Minute || p.cfg.Timeout != 700*time.Millisecond {
		t.Errorf("defaults %+v", p.cfg)
	}
}

func TestAPushWaitingForItsNextRetryEndsWithItsContext(t *testing.T) {
	srv := httptest.NewServer(&alicomEndpoint{answers: []func(http.ResponseWriter){status(503)}})
	defer srv.Close()
	p := NewAlicomPusher(AlicomPushConfig{Schedule: []time.Duration{time.Hour}, Timeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	d, err := p.Push(ctx, srv.URL+"/alicom/SmsReport?token=t", json.RawMessage(`{}`))
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Push returned after %v: want it to end with its context", took)
	}
	if err == nil || d.Acknowledged || len(d.Attempts) != 1 {
		t.Errorf("delivery %+v, err %v: want one failed attempt and the context's error", d, err)
	}
	if got := p.Deliveries(); len(got) != 1 {
		t.Errorf("%d deliveries recorded: want the unacknowledged one kept", len(got))
	}
}
