package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/events"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

func newTestWebhook(t testing.TB, url string, batch int, mod ...func(*WebhookConfig)) *Webhook {
	t.Helper()
	cfg := WebhookConfig{URL: url, Secret: testSecret, BatchSize: batch, Timeout: 10 * time.Second, Linger: time.Second}
	for _, f := range mod {
		f(&cfg)
	}
	w, err := NewWebhook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.CloseIdleConnections)
	return w
}

// fixtures returns every sample body of package events: name -> (type, JSON).
func fixtures(t testing.TB) map[string]struct {
	typ  string
	body []byte
} {
	t.Helper()
	out := map[string]struct {
		typ  string
		body []byte
	}{}
	for _, m := range events.Messages() {
		out[m.Name] = struct {
			typ  string
			body []byte
		}{m.Type, m.JSON}
	}
	return out
}

var rfc3339ish = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}`)

// checkNormalized walks a data object: every time is RFC 3339 in +08:00, success is a boolean.
func checkNormalized(t *testing.T, name string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "success" {
				if _, ok := e.(bool); !ok {
					t.Errorf("%s: success = %#v, want a boolean", name, e)
				}
			}
			checkNormalized(t, name, e)
		}
	case []any:
		for _, e := range x {
			checkNormalized(t, name, e)
		}
	case string:
		if rfc3339ish.MatchString(x) && !strings.HasSuffix(x, "+08:00") {
			t.Errorf("%s: time %q is not in +08:00", name, x)
		}
	}
}

func TestEveryFixtureReachesTheReceiverSignedWithNormalizedData(t *testing.T) {
	rc := newReceiver(t)
	w := newTestWebhook(t, rc.URL(), 1)
	r, err := dispatch.NewRouter(dispatch.Options{DeadLetter: noDeadLetter, Fallback: w.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	fx := fixtures(t)
	for name, f := range fx {
		m := queued("id-"+name, f.typ, f.body)
		if out, err := r.Dispatch(context.Background(), m); out != dispatch.Handled {
			t.Fatalf("%s: Dispatch = %v, %v", name, out, err)
		}
	}
	events := rc.events()
	for name, f := range fx {
		t.Run(name, func(t *testing.T) {
			e, ok := events["id-"+name]
			if !ok {
				t.Fatal("not delivered")
			}
			_, payload, err := alicom.Decode(f.typ, queued("x", f.typ, f.body).Body, "")
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(payload)
			if !bytes.Equal(e.Data, want) {
				t.Errorf("data = %s\nwant json.Marshal(payload) = %s", e.Data, want)
			}
			if e.Raw != string(f.body) {
				t.Errorf("raw = %q, want the JSON exactly as sent", e.Raw)
			}
			if e.Type != f.typ || e.DequeueCount != 2 || e.Source != "Alicom-Queue-1092397003988387-"+f.typ ||
				e.EnqueueTime == nil || *e.EnqueueTime != "2017-06-01T02:00:06.000Z" || e.Key == "" || e.DeadLetter != nil || e.Body != "" {
				t.Errorf("event = %+v", e)
			}
			var data any
			if err := json.Unmarshal(e.Data, &data); err != nil {
				t.Fatal(err)
			}
			checkNormalized(t, name, data)
		})
	}
	for _, req := range rc.requestsSeen() {
		if req.id != req.events[0].MessageID || req.batch {
			t.Errorf("webhook-id %q for message %s (batch %v)", req.id, req.events[0].MessageID, req.batch)
		}
	}
}

func TestABatchCarriesConcurrentMessagesInOneSignedRequest(t *testing.T) {
	rc := newReceiver(t)
	w := newTestWebhook(t, rc.URL(), 16)
	h := w.Handler()
	body := fixture(t, "SmsReport")
	errs := make([]error, 16)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = h(context.Background(), queued(fmt.Sprintf("m%02d", i), "SmsReport", body)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	requests, forged, delivered := rc.stats()
	if requests != 1 || forged != 0 || len(delivered) != 16 {
		t.Fatalf("%d requests (%d forged) delivered %d messages, want 1 request with 16", requests, forged, len(delivered))
	}
	req := rc.requestsSeen()[0]
	if !req.batch || !strings.HasPrefix(req.id, "batch_") || len(req.events) != 16 {
		t.Errorf("batch request: id %q, batch %v, %d events", req.id, req.batch, len(req.events))
	}
	ids := make([]string, len(req.events))
	for i, e := range req.events {
		ids[i] = e.MessageID
	}
	if batchID(ids) != req.id {
		t.Errorf("webhook-id %q is not the batch's stable id %q", req.id, batchID(ids))
	}
}

func TestALoneMessageInABatchingSinkLeavesAfterTheLinger(t *testing.T) {
	rc := newReceiver(t)
	w := newTestWebhook(t, rc.URL(), 16, func(c *WebhookConfig) { c.Linger = 10 * time.Millisecond })
	if err := w.Handler()(context.Background(), queued("alone", "SmsReport", fixture(t, "SmsReport"))); err != nil {
		t.Fatal(err)
	}
	if req := rc.requestsSeen(); len(req) != 1 || !req[0].batch || len(req[0].events) != 1 {
		t.Fatalf("requests = %+v", req)
	}
}

func TestBatchItemFailuresKeepOnlyTheFailedItems(t *testing.T) {
	rc := newReceiver(t)
	rc.setAnswer(func(r received) (int, string, time.Duration) {
		return 200, `{"batchItemFailures":[{"itemIdentifier":"m1"},{"itemIdentifier":"m3"},{"itemIdentifier":"not-in-batch"}]}`, 0
	})
	w := newTestWebhook(t, rc.URL(), 4)
	h := w.Handler()
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			errs[i] = h(context.Background(), queued(fmt.Sprintf("m%d", i), "SmsReport", fixture(t, "SmsReport")))
		})
	}
	wg.Wait()
	for i, err := range errs {
		failed := i == 1 || i == 3
		switch {
		case failed && (err == nil || dispatch.IsUnavailable(err)):
			t.Errorf("m%d: %v, want a plain error (the receiver refused this message)", i, err)
		case !failed && err != nil:
			t.Errorf("m%d: %v, want handled", i, err)
		}
	}
}

func TestABatchAnswerToASingleEventIsHonoured(t *testing.T) {
	rc := newReceiver(t)
	rc.setAnswer(func(r received) (int, string, time.Duration) {
		return 200, `{"batchItemFailures":[{"itemIdentifier":"` + r.events[0].MessageID + `"}]}`, 0
	})
	w := newTestWebhook(t, rc.URL(), 1)
	err := w.Handler()(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport")))
	if err == nil || dispatch.IsUnavailable(err) {
		t.Fatalf("error = %v, want a plain error: the receiver listed the message as failed", err)
	}
}

func TestReceiverFailuresAreOutagesAndRefusalsAreTheMessages(t *testing.T) {
	tests := []struct {
		name            string
		batch           int
		status          int
		delay           time.Duration
		wantUnavailable bool
	}{
		{"a 500 is an outage", 1, 500, 0, true},
		{"a 503 is an outage", 1, 503, 0, true},
		{"a 429 is an outage", 1, 429, 0, true},
		{"a 408 is an outage", 1, 408, 0, true},
		{"a 404 is a misconfigured receiver, an outage", 1, 404, 0, true},
		{"a 401 is a misconfigured receiver, an outage", 1, 401, 0, true},
		{"a redirect is not followed and is an outage", 1, 302, 0, true},
		{"an answer slower than the timeout is an outage", 1, 200, 3 * time.Second, true},
		{"a 400 to a single event refuses that message", 1, 400, 0, false},
		{"a 422 to a single event refuses that message", 1, 422, 0, false},
		{"a 400 to a batch says nothing about one message: an outage", 2, 400, 0, true},
		{"a 500 to a batch is an outage", 2, 500, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.setAnswer(func(received) (int, string, time.Duration) { return tt.status, "", tt.delay })
			w := newTestWebhook(t, rc.URL(), tt.batch, func(c *WebhookConfig) { c.Timeout = 500 * time.Millisecond; c.Linger = 10 * time.Millisecond })
			err := w.Handler()(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport")))
			if err == nil || dispatch.IsUnavailable(err) != tt.wantUnavailable {
				t.Fatalf("error = %v (unavailable %v), want unavailable %v", err, dispatch.IsUnavailable(err), tt.wantUnavailable)
			}
		})
	}
}

func TestARefusedConnectionIsAnOutage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w := newTestWebhook(t, "http://"+addr+"/hook", 1)
	err = w.Handler()(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport")))
	if err == nil || !dispatch.IsUnavailable(err) {
		t.Fatalf("error = %v, want an Unavailable error", err)
	}
}

func TestTheHandlersDeadlineBoundsTheRequest(t *testing.T) {
	rc := newReceiver(t)
	rc.setAnswer(func(received) (int, string, time.Duration) { return 204, "", 20 * time.Second })
	for _, batch := range []int{1, 4} {
		w := newTestWebhook(t, rc.URL(), batch, func(c *WebhookConfig) { c.Timeout = time.Minute; c.Linger = 10 * time.Millisecond })
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		err := w.Handler()(ctx, queued("m1", "SmsReport", fixture(t, "SmsReport")))
		cancel()
		if err == nil || time.Since(start) > 10*time.Second {
			t.Errorf("batch %d: error %v after %s, want a failure at the handler's deadline", batch, err, time.Since(start))
		}
	}
}

func TestAnOversizedAnswerIsReadOnlyUpToItsBound(t *testing.T) {
	rc := newReceiver(t)
	huge := `{"batchItemFailures":[]}` + strings.Repeat(" ", 8<<20)
	rc.setAnswer(func(received) (int, string, time.Duration) { return 200, huge, 0 })
	w := newTestWebhook(t, rc.URL(), 2, func(c *WebhookConfig) { c.Linger = 10 * time.Millisecond })
	if err := w.Handler()(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport"))); err != nil {
		t.Fatalf("a 2xx with a huge answer: %v", err)
	}
}

func TestDeadLetterEventsCarryTheReasonAndTheRawBody(t *testing.T) {
	rc := newReceiver(t)
	w := newTestWebhook(t, rc.URL(), 1)
	r, err := dispatch.NewRouter(dispatch.Options{DeadLetter: w.DeadLetter()})
	if err != nil {
		t.Fatal(err)
	}
	r.Handle("SmsReport", func(context.Context, *dispatch.Message) error {
		return dispatch.Permanent(errors.New("unknown biz id"))
	})
	refused := queued("refused", "SmsReport", fixture(t, "SmsReport"))
	broken := queued("broken", "SmsReport", nil)
	broken.Body = "%%% not base64"
	for _, m := range []*dispatch.Message{refused, broken} {
		if out, err := r.Dispatch(context.Background(), m); out != dispatch.DeadLettered {
			t.Fatalf("%s: Dispatch = %v, %v", m.ID, out, err)
		}
	}
	events := rc.events()
	e := events["refused"]
	if e.DeadLetter == nil || e.DeadLetter.ReasonCode != dispatch.ReasonPermanent || !strings.Contains(e.DeadLetter.Reason, "unknown biz id") ||
		e.Body != refused.Body || e.Raw == "" || string(e.Data) == "null" {
		t.Errorf("dead-letter event of a refused message = %+v", e)
	}
	e = events["broken"]
	if e.DeadLetter == nil || e.DeadLetter.ReasonCode != dispatch.ReasonBase64 || e.Body != broken.Body || e.Raw != "" || string(e.Data) != "null" {
		t.Errorf("dead-letter event of an undecodable message = %+v", e)
	}
}

func TestAFailedDeadLetterDeliveryKeepsTheOriginal(t *testing.T) {
	for _, batch := range []int{1, 4} {
		rc := newReceiver(t)
		rc.setAnswer(func(received) (int, string, time.Duration) { return 500, "", 0 })
		w := newTestWebhook(t, rc.URL(), batch, func(c *WebhookConfig) { c.Linger = 10 * time.Millisecond })
		r, err := dispatch.NewRouter(dispatch.Options{DeadLetter: w.DeadLetter()})
		if err != nil {
			t.Fatal(err)
		}
		r.Handle("SmsReport", func(context.Context, *dispatch.Message) error { return dispatch.Permanent(errors.New("no")) })
		out, err := r.Dispatch(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport")))
		if out != dispatch.Retry || !errors.Is(err, dispatch.ErrDeadLetterFailed) {
			t.Errorf("batch %d: Dispatch = %v, %v; want Retry with ErrDeadLetterFailed", batch, out, err)
		}
	}
}

func TestTheSecretAndTheURLsQueryNeverAppearInErrors(t *testing.T) {
	rc := newReceiver(t)
	answers := []int{500, 400, 302}
	var errs []error
	for _, status := range answers {
		rc.setAnswer(func(received) (int, string, time.Duration) { return status, "", 0 })
		w := newTestWebhook(t, rc.URL()+"?token=query-secret", 1)
		errs = append(errs, w.Handler()(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport"))))
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	w := newTestWebhook(t, "http://"+addr+"/x?token=query-secret", 1)
	errs = append(errs, w.Handler()(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport"))))
	_, err := NewWebhook(WebhookConfig{URL: "https://r.example.com/?token=query-secret", Secret: "whsec_" + testKey + "!"})
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Error("want an error")
			continue
		}
		if s := fmt.Sprintf("%v %+v %#v", err, err, err); strings.Contains(s, testKey) || strings.Contains(s, "query-secret") {
			t.Errorf("an error shows a secret: %s", s)
		}
	}
	if s := fmt.Sprintf("%v %+v %s %#v", w, w, w, w); strings.Contains(s, testKey) || strings.Contains(s, "query-secret") || strings.Contains(s, "key:") {
		t.Errorf("the sink's textual form shows a secret: %s", s)
	}
}

func TestNewWebhookRefusesWhatCannotWork(t *testing.T) {
	tests := []struct {
		name string
		cfg  WebhookConfig
		want string
	}{
		{"no URL", WebhookConfig{Secret: testSecret}, "WebhookConfig.URL"},
		{"no secret", WebhookConfig{URL: "https://r.example.com"}, "WebhookConfig.Secret"},
		{"a batch of 17", WebhookConfig{URL: "https://r.example.com", Secret: testSecret, BatchSize: 17}, "WebhookConfig.BatchSize"},
		{"a negative timeout", WebhookConfig{URL: "https://r.example.com", Secret: testSecret, Timeout: -1}, "WebhookConfig.Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewWebhook(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to name %s", err, tt.want)
			}
		})
	}
}

func TestSignMatchesTheStandardWebhooksTestVector(t *testing.T) {
	// The vector of the Standard Webhooks specification's reference libraries.
	w, err := NewWebhook(WebhookConfig{URL: "https://r.example.com", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	if err != nil {
		t.Fatal(err)
	}
	got := w.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}
