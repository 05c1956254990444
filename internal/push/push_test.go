package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/alicompush"
	"github.com/alicom-drain/alicom-drain/internal/logbuf"
	"github.com/alicom-drain/alicom-drain/internal/push"
	"github.com/alicom-drain/alicom-drain/internal/sink"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

const token = "test-token-0123456789"

// Alicom-format items, as the push documentation shows them.
const (
	report1 = `{"phone_number":"13000000001","send_time":"2017-01-01 11:12:13","report_time":"2017-01-01 11:12:14","success":true,"err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1","biz_id":"12345^0","out_id":"o-1"}`
	report2 = `{"phone_number":"13000000002","send_time":"2017-01-01 11:12:13","report_time":"2017-01-01 11:12:15","success":false,"err_code":"MK:0001","err_msg":"failed","sms_size":"1","biz_id":"12345^0","out_id":"o-1"}`
	report3 = `{"phone_number":"13000000003","send_time":"2017-01-01 11:12:13","report_time":"2017-01-01 11:12:16","success":true,"err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"2","biz_id":"67890^0","out_id":""}`
	intl    = `{"To":"6591234567","Status":"1","MessageId":"1008030300305001","SmsSize":"1","TaskId":"10080303","SendDate":"Thu, 25 Nov 2021 10:27:00 +0800","ReceiveDate":"Thu, 25 Nov 2021 10:27:03 +0800","ErrorCode":"DELIVERED","ErrorDescription":"success"}`
	smsUp   = `{"phone_number":"13000000001","send_time":"2017-01-01 11:12:13","content":"TD","sign_name":"阿里云","dest_code":"1234","sequence_id":1234567}`
)

type fixture struct {
	srv    *httptest.Server
	logs   *logbuf.Buffer
	router *dispatch.Router
}

// newFixture serves the push handler over HTTP with a real Router whose fallback is the log
// sink, as in the function.
func newFixture(t testing.TB, mutate func(c *push.Config)) *fixture {
	t.Helper()
	return serveFixture(t, nil, push.Config{Alicom: alicompush.Config{Token: token}}, mutate)
}

// serveFixture is newFixture with deadLetter as the Router's dead-letter function (nil: the
// log sink's) and c, changed by mutate, as the push handler's configuration.
func serveFixture(t testing.TB, deadLetter dispatch.DeadLetterFunc, c push.Config, mutate func(c *push.Config)) *fixture {
	t.Helper()
	f := &fixture{logs: &logbuf.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(f.logs, nil))
	if deadLetter == nil {
		deadLetter = sink.DeadLetterLog(logger)
	}
	var err error
	f.router, err = dispatch.NewRouter(dispatch.Options{Fallback: sink.Log(logger), DeadLetter: deadLetter})
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(&c)
	}
	h, err := push.New(c, f.router, logger)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) url(messageType string) string {
	return f.srv.URL + "/alicom/" + messageType + "?token=" + token
}

// post sends body with Alicom's headers and returns status and answer.
func (f *fixture) post(t testing.TB, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json;charset=utf-8")
	return do(t, f.srv.Client(), req)
}

func do(t testing.TB, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func pusher() *mnslocal.AlicomPusher {
	return mnslocal.NewAlicomPusher(mnslocal.AlicomPushConfig{
		Schedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		Timeout:  10 * time.Second, // a loaded test machine; the handler's budget is what is tested
	})
}

func raw(items ...string) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = json.RawMessage(it)
	}
	return out
}

func TestAlicomPushesFromTheEmulatorReachTypedHandlersAndTheLogSink(t *testing.T) {
	f := newFixture(t, nil)
	var mu sync.Mutex
	var reports []alicom.SmsReport
	var msgs []dispatch.Message
	dispatch.On(f.router, "SmsReport", func(ctx context.Context, m *dispatch.Message, r alicom.SmsReport) error {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, r)
		msgs = append(msgs, *m)
		return nil
	})
	p := pusher()
	d, err := p.Push(context.Background(), f.url("SmsReport"), raw(report1, report2, report3, intl)...)
	if err != nil || !d.Acknowledged || len(d.Attempts) != 1 {
		t.Fatalf("delivery %+v, err %v; logs:\n%s", d, err, f.logs)
	}
	if a := d.Attempts[0]; a.Status != 200 || a.Answer != `{"code":0,"msg":"接收成功"}` {
		t.Errorf("answer %d %s", a.Status, a.Answer)
	}
	if len(reports) != 4 {
		t.Fatalf("typed handler got %d reports, want 4", len(reports))
	}
	var gotIntl *alicom.SmsReport
	for i := range reports {
		if reports[i].IntlSmsReport != nil {
			gotIntl = &reports[i]
		}
	}
	// MessageId is the international receipt's own field; SmsReport.MessageID is the domestic
	// message_id, which it shadows.
	if gotIntl == nil || gotIntl.To != "6591234567" || !gotIntl.Delivered() || gotIntl.IntlSmsReport.MessageID != "1008030300305001" ||
		gotIntl.Status != "1" || gotIntl.IntlSmsReport.SmsSize != "1" || gotIntl.SendDate.IsZero() || gotIntl.Key() != "1008030300305001:6591234567" {
		if gotIntl != nil {
			t.Errorf("the international receipt was not parsed: %+v", *gotIntl.IntlSmsReport)
		} else {
			t.Error("no international receipt reached the handler")
		}
	}
	for _, m := range msgs {
		if m.Source != alicompush.Source || m.Type != "SmsReport" || m.ID == "" || m.DequeueCount != 1 || m.EnqueueTime.IsZero() {
			t.Errorf("message %+v", m)
		}
	}
	// A type without a handler goes to the log sink, with its receipt as sent.
	d, _ = p.Push(context.Background(), f.url("SmsUp"), raw(smsUp)...)
	if !d.Acknowledged {
		t.Fatalf("SmsUp not acknowledged: %+v", d.Attempts)
	}
	// An unknown type is delivered as raw JSON, like from the queue.
	d, _ = p.Push(context.Background(), f.url("SignSmsReport"), raw(`{"sign_name":"x","sign_status":"approved"}`)...)
	if !d.Acknowledged {
		t.Fatalf("unknown type not acknowledged: %+v", d.Attempts)
	}
	logs := f.logs.String()
	for _, want := range []string{`"message_type":"SmsUp"`, `"content":"TD"`, `"message_type":"SignSmsReport"`, `"sign_status":"approved"`, `"source":"alicom-push"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log sink lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, token) {
		t.Errorf("the token is in the log:\n%s", logs)
	}
}

func TestEveryStatusOfTheContract(t *testing.T) {
	f := newFixture(t, nil)
	f.router.Handle("SmsUp", func(context.Context, *dispatch.Message) error { return errors.New("database down") })
	type req struct {
		method, url, ctype, body string
	}
	for _, tc := range []struct {
		name string
		req  req
		want int
	}{
		{"a valid batch is acknowledged", req{"POST", f.url("SmsReport"), "application/json;charset=utf-8", "[" + report1 + "]"}, 200},
		{"an empty batch is acknowledged", req{"POST", f.url("SmsReport"), "application/json", "[]"}, 200},
		{"a type in any case is the registry's type", req{"POST", f.url("smsreport"), "application/json", "[" + report3 + "]"}, 200},
		{"a missing token is refused", req{"POST", f.srv.URL + "/alicom/SmsReport", "application/json", "[]"}, 403},
		{"a wrong token is refused", req{"POST", f.srv.URL + "/alicom/SmsReport?token=" + token + "x", "application/json", "[]"}, 403},
		{"two tokens are refused", req{"POST", f.url("SmsReport") + "&token=" + token, "application/json", "[]"}, 403},
		{"a wrong token is refused before the method", req{"GET", f.srv.URL + "/alicom/SmsReport?token=no", "", ""}, 403},
		{"GET is refused", req{"GET", f.url("SmsReport"), "", ""}, 405},
		{"a path without a type is not found", req{"POST", f.srv.URL + "/alicom/?token=" + token, "application/json", "[]"}, 404},
		{"a malformed type is not found", req{"POST", f.url("Sms%2FReport"), "application/json", "[]"}, 404},
		{"a form content type is refused", req{"POST", f.url("SmsReport"), "application/x-www-form-urlencoded", "[]"}, 415},
		{"a missing content type is refused", req{"POST", f.url("SmsReport"), "", "[]"}, 415},
		{"another charset is refused", req{"POST", f.url("SmsReport"), "application/json; charset=gbk", "[]"}, 415},
		{"an object instead of an array is refused", req{"POST", f.url("SmsReport"), "application/json", report1}, 400},
		{"an array of strings is refused", req{"POST", f.url("SmsReport"), "application/json", `["a"]`}, 400},
		{"null is refused", req{"POST", f.url("SmsReport"), "application/json", `null`}, 400},
		{"invalid JSON is refused", req{"POST", f.url("SmsReport"), "application/json", `[{"a":`}, 400},
		{"deep nesting is refused", req{"POST", f.url("SmsReport"), "application/json", strings.Repeat("[", 20000)}, 400},
		{"items of another type are unprocessable", req{"POST", f.url("SmsReport"), "application/json", "[" + smsUp + "," + `{"sign_name":"x"}` + "]"}, 422},
		{"an empty object is unprocessable for a known type", req{"POST", f.url("SmsReport"), "application/json", `[{}]`}, 422},
		{"a failing handler is a 500", req{"POST", f.url("SmsUp"), "application/json", "[" + smsUp + "]"}, 500},
		{"a body over the bound is too large", req{"POST", f.url("SmsReport"), "application/json", "[" + strings.Repeat(" ", 2<<20) + "]"}, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(tc.req.method, tc.req.url, strings.NewReader(tc.req.body))
			if tc.req.ctype != "" {
				r.Header.Set("Content-Type", tc.req.ctype)
			}
			status, answer := do(t, f.srv.Client(), r)
			if status != tc.want {
				t.Fatalf("status %d (%s), want %d", status, answer, tc.want)
			}
			var a struct {
				Code *int `json:"code"`
			}
			if status != 404 && (json.Unmarshal([]byte(answer), &a) != nil || a.Code == nil || (*a.Code == 0) != (status == 200)) {
				t.Errorf("answer %q: want a JSON code, 0 only on 200", answer)
			}
		})
	}
	if strings.Contains(f.logs.String(), token) {
		t.Errorf("the token is in the log")
	}
}

func TestABodyOverTheBoundWithoutContentLengthIsTooLarge(t *testing.T) {
	f := newFixture(t, func(c *push.Config) { c.Alicom.MaxBodyBytes = 4096 })
	r, _ := http.NewRequest(http.MethodPost, f.url("SmsReport"), io.MultiReader(strings.NewReader("["), strings.NewReader(strings.Repeat(" ", 8192)), strings.NewReader("]")))
	r.Header.Set("Content-Type", "application/json")
	if status, _ := do(t, f.srv.Client(), r); status != 413 {
		t.Fatalf("status %d, want 413", status)
	}
}

func TestWithoutATokenTheAlicomRouteIsOff(t *testing.T) {
	f := newFixture(t, func(c *push.Config) { c.Alicom.Token = "" })
	for _, url := range []string{f.url("SmsReport"), f.srv.URL + "/alicom/SmsReport?token="} {
		if status, _ := f.post(t, url, "["+report1+"]"); status != 404 {
			t.Errorf("%s: status %d, want 404", url, status)
		}
	}
	if !strings.Contains(f.logs.String(), "ALICOM_PUSH_TOKEN is not set") {
		t.Errorf("no log line says why:\n%s", f.logs)
	}
}

func TestAWrongTokenIsRefusedWithoutReadingTheBody(t *testing.T) {
	f := newFixture(t, nil)
	body := &countingReader{r: bytes.NewReader(bytes.Repeat([]byte(" "), 8<<20))}
	r, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/alicom/SmsReport?token=guess", body)
	r.ContentLength = 8 << 20
	r.Header.Set("Content-Type", "application/json")
	resp, err := f.srv.Client().Do(r)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
	}
	// The server answered without reading: the client could not send everything.
	if n := body.n.Load(); n >= 8<<20 {
		t.Errorf("the client sent all %d bytes; the server read the body of an unauthenticated request", n)
	}
}

type countingReader struct {
	r *bytes.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestAFailedBatchIsRetriedAndOnlyItsFailedItemsAreHandedToHandlersAgain(t *testing.T) {
	f := newFixture(t, nil)
	var mu sync.Mutex
	calls := map[string]int{}
	dispatch.On(f.router, "SmsReport", func(ctx context.Context, m *dispatch.Message, r alicom.SmsReport) error {
		mu.Lock()
		defer mu.Unlock()
		calls[r.PhoneNumber]++
		if r.PhoneNumber == "13000000002" && calls[r.PhoneNumber] == 1 {
			return errors.New("sink down")
		}
		return nil
	})
	d, _ := pusher().Push(context.Background(), f.url("SmsReport"), raw(report1, report2, report3)...)
	if !d.Acknowledged || len(d.Attempts) != 2 || d.Attempts[0].Status != 500 || d.Attempts[1].Status != 200 {
		t.Fatalf("attempts %+v, want a 500 then a 200", d.Attempts)
	}
	want := map[string]int{"13000000001": 1, "13000000002": 2, "13000000003": 1}
	for k, v := range want {
		if calls[k] != v {
			t.Errorf("handler calls %v, want %v", calls, want)
			break
		}
	}
	// Alicom sending the whole batch once more (a duplicate receipt) runs no handler.
	d, _ = pusher().Push(context.Background(), f.url("SmsReport"), raw(report3, report1, report2)...)
	if !d.Acknowledged || calls["13000000001"] != 1 || calls["13000000002"] != 2 || calls["13000000003"] != 1 {
		t.Errorf("duplicate batch: acknowledged %v, calls %v", d.Acknowledged, calls)
	}
	if !strings.Contains(f.logs.String(), "sink down") {
		t.Errorf("the failure is not logged:\n%s", f.logs)
	}
}

func TestAnItemTheBatchHoldsTwiceIsHandledOnce(t *testing.T) {
	f := newFixture(t, nil)
	var calls atomic.Int64
	f.router.Handle("SmsReport", func(context.Context, *dispatch.Message) error { calls.Add(1); return nil })
	if status, answer := f.post(t, f.url("SmsReport"), "["+report1+","+report1+"]"); status != 200 {
		t.Fatalf("status %d %s", status, answer)
	}
	if calls.Load() != 1 {
		t.Errorf("handler ran %d times, want 1", calls.Load())
	}
}

func TestAnItemThatFailsOnAlicomsLastDeliveryIsDeadLetteredNotLost(t *testing.T) {
	f := newFixture(t, nil)
	f.router.Handle("SmsReport", func(context.Context, *dispatch.Message) error { return errors.New("always failing") })
	d, _ := pusher().Push(context.Background(), f.url("SmsReport"), raw(report1)...)
	if !d.Acknowledged || len(d.Attempts) != alicompush.DefaultFinalDelivery {
		t.Fatalf("attempts %d acknowledged %v, want the %dth acknowledged", len(d.Attempts), d.Acknowledged, alicompush.DefaultFinalDelivery)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"msg":"dead-lettered"`) || !strings.Contains(logs, `"reason_code":"attempts-exhausted"`) {
		t.Errorf("no dead-letter record:\n%s", logs)
	}
}

func TestAHandlerSlowerThanTheBudgetIsAnswered503InTimeAndNotRunTwice(t *testing.T) {
	f := newFixture(t, func(c *push.Config) { c.Alicom.Budget = 100 * time.Millisecond })
	release := make(chan struct{})
	var calls atomic.Int64
	f.router.Handle("SmsReport", func(context.Context, *dispatch.Message) error {
		calls.Add(1)
		<-release // ignores its context
		return nil
	})
	start := time.Now()
	status, _ := f.post(t, f.url("SmsReport"), "["+report1+"]")
	if status != 503 {
		t.Fatalf("status %d, want 503", status)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answered after %s; budget 100ms", took)
	}
	if status, _ := f.post(t, f.url("SmsReport"), "["+report1+"]"); status != 503 {
		t.Errorf("retry while the handler still runs: status %d, want 503", status)
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _ := f.post(t, f.url("SmsReport"), "["+report1+"]")
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d after the handler returned, want 200", status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if calls.Load() != 1 {
		t.Errorf("handler ran %d times, want 1", calls.Load())
	}
}

func TestRequestsOverTheConcurrencyBoundAreAnswered503Quickly(t *testing.T) {
	f := newFixture(t, func(c *push.Config) { c.MaxConcurrent = 1; c.SlotWait = time.Millisecond })
	release := make(chan struct{})
	started := make(chan struct{})
	f.router.Handle("SmsReport", func(context.Context, *dispatch.Message) error {
		close(started)
		<-release
		return nil
	})
	first := make(chan int, 1)
	go func() { s, _ := f.post(t, f.url("SmsReport"), "["+report1+"]"); first <- s }()
	<-started
	if status, _ := f.post(t, f.url("SmsReport"), "["+report2+"]"); status != 503 {
		t.Errorf("second request: status %d, want 503", status)
	}
	close(release)
	<-first
}

func TestMNSTopicPushIsServedOnEveryOtherPath(t *testing.T) {
	f := newFixture(t, nil)
	for _, path := range []string{"/", "/mns", "/notifications"} {
		// Unsigned: refused by the MNS receiver, which proves the route.
		r, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader("x"))
		if status, answer := do(t, f.srv.Client(), r); status != 403 || !strings.Contains(answer, "Access Forbidden") {
			t.Errorf("%s: %d %q, want the MNS receiver's 403", path, status, answer)
		}
	}
}

func TestConfigFromTheEnvironmentSettings(t *testing.T) {
	if err := (push.Config{Alicom: alicompush.Config{Token: "short"}}).Validate(); err == nil || strings.Contains(err.Error(), "short") {
		t.Errorf("a short token: error %v, want one that does not show it", err)
	}
}
