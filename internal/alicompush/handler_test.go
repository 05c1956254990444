package alicompush_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/alicom-drain/alicom-drain/internal/alicompush"
	"github.com/alicom-drain/alicom-drain/internal/push/delivery"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

const token = "unit-token-0123456789"

// recorder is a fake Dispatcher that remembers what it was given and answers Handled, or
// Retry when keep is set (the zero Outcome is Retry, so the answer is spelled out).
type recorder struct {
	mu   sync.Mutex
	msgs []dispatch.Message
	keep bool
}

func (r *recorder) Dispatch(_ context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, *m)
	if r.keep {
		return dispatch.Retry, errors.New("the handler failed")
	}
	return dispatch.Handled, nil
}

func serve(t *testing.T, h http.Handler, typ, body string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/alicom/"+typ+"?token="+token, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code
}

func TestAnItemIsShapedLikeAMessageFromTheQueue(t *testing.T) {
	rec := &recorder{}
	h, err := alicompush.New(alicompush.Config{Token: token}, rec)
	if err != nil {
		t.Fatal(err)
	}
	item := `{"phone_number":"13000000001","success":"true","biz_id":"12345^0","report_time":"2017-01-01 11:12:14"}`
	if code := serve(t, h, "SmsReport", "["+item+"]"); code != 200 {
		t.Fatalf("status %d", code)
	}
	m := rec.msgs[0]
	if m.ID != "SmsReport/12345^0:13000000001" || m.Source != alicompush.Source || m.Type != "SmsReport" ||
		m.Body != base64.StdEncoding.EncodeToString([]byte(item)) || string(m.Data) != item || m.DequeueCount != 1 {
		t.Errorf("message %+v", m)
	}
	r, ok := m.Payload.(alicom.SmsReport)
	if !ok || !r.Delivered() || r.ReportTime.IsZero() {
		t.Errorf("payload %#v, want a delivered SmsReport with its report time", m.Payload)
	}
}

// digestID is the id of an SmsUp item without a business key: alicom.ItemID's digest.
var digestID = regexp.MustCompile(`^SmsUp/sha256-[0-9a-f]{32}$`)

func TestAnItemWithoutABusinessKeyGetsAnIDThatIgnoresWhitespace(t *testing.T) {
	rec := &recorder{}
	h, _ := alicompush.New(alicompush.Config{Token: token}, rec)
	serve(t, h, "SmsUp", `[{"phone_number":"1","content":"TD"}]`)
	serve(t, h, "SmsUp", `[ { "phone_number" : "1", "content" : "TD" } ]`)
	if len(rec.msgs) != 2 || rec.msgs[0].ID != rec.msgs[1].ID || !digestID.MatchString(rec.msgs[0].ID) {
		t.Fatalf("ids %q and %q, want one digest id", rec.msgs[0].ID, rec.msgs[1].ID)
	}
	if rec.msgs[1].DequeueCount != 2 {
		t.Errorf("second delivery has DequeueCount %d, want 2", rec.msgs[1].DequeueCount)
	}
}

func TestTheFinalDeliveryCarriesThePoisonThresholdAndSaysItIsFinal(t *testing.T) {
	rec := &recorder{keep: true}
	h, _ := alicompush.New(alicompush.Config{Token: token, FinalDelivery: 3, MaxAttempts: 7, Deliveries: delivery.NewCounter(0)}, rec)
	for range 3 {
		serve(t, h, "SmsUp", `[{"phone_number":"1"}]`)
	}
	var got []int64
	var final []bool
	for _, m := range rec.msgs {
		got = append(got, m.DequeueCount)
		final = append(final, m.FinalDelivery)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 7 {
		t.Errorf("DequeueCounts %v, want [1 2 7]", got)
	}
	// A destination that is down is dead-lettered only on a final delivery (dispatch.Poison):
	// Alicom stops after it, so keeping the item would lose it.
	if len(final) != 3 || final[0] || final[1] || !final[2] {
		t.Errorf("FinalDelivery %v, want [false false true]", final)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    alicompush.Config
		ok   bool
	}{
		{"a 16-character token with defaults is valid", alicompush.Config{Token: "0123456789abcdef"}, true},
		{"a short token is refused", alicompush.Config{Token: "short"}, false},
		{"a negative budget is refused", alicompush.Config{Token: token, Budget: -1}, false},
		{"a negative concurrency is refused", alicompush.Config{Token: token, ItemConcurrency: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v", err)
			}
			if err != nil && strings.Contains(err.Error(), tc.c.Token) {
				t.Errorf("error %q shows the token", err)
			}
		})
	}
	if _, err := alicompush.New(alicompush.Config{Token: token}, nil); err == nil {
		t.Error("New accepted a nil dispatcher")
	}
}

func TestItemsThatDoNotLookLikeThePathsTypeAreUnprocessable(t *testing.T) {
	const (
		report = `{"phone_number":"13000000001","send_time":"2017-01-01 11:12:13","report_time":"2017-01-01 11:12:14","success":true,"err_code":"DELIVERED","err_msg":"ok","sms_size":"1","biz_id":"12345^0","out_id":"o-1"}`
		intl   = `{"To":"6591234567","Status":1,"MessageId":"1008030300305001","SmsSize":"1","SendDate":"Thu, 25 Nov 2021 10:27:00 +0800","ErrorCode":"DELIVERED"}`
		smsUp  = `{"phone_number":"13000000001","send_time":"2017-01-01 11:12:13","content":"TD","sign_name":"x","dest_code":"1234","sequence_id":1234567}`
		voice  = `{"call_id":"116012354148^10281378","status_code":"200","status_msg":"ok","out_id":"o-1","originate_time":"2017-01-01 11:12:13"}`
	)
	for _, tc := range []struct {
		name, typ, items string
		want             int
	}{
		{"a receipt on the receipt path is accepted", "SmsReport", report, 200},
		{"an international receipt on the receipt path is accepted", "SmsReport", intl, 200},
		{"a receipt with a member Alicom added later is accepted", "SmsReport", report[:len(report)-1] + `,"content":"new"}`, 200},
		{"a receipt on the verification receipt path, which has its fields, is accepted", "DypnsSmsVerifyReport", report, 200},
		{"an inbound SMS on the receipt path is unprocessable", "SmsReport", smsUp, 422},
		{"a receipt on the inbound SMS path is unprocessable", "SmsUp", report, 422},
		{"a voice report on the receipt path is unprocessable", "SmsReport", voice, 422},
		{"an object with none of the type's fields is unprocessable", "SmsReport", `{"foo":1}`, 422},
		{"member names match in Alicom's letter case only", "SmsReport", `{"PHONE_NUMBER":"1","BIZ_ID":"2"}`, 422},
		{"one stray item makes the batch unprocessable", "SmsReport", report + "," + smsUp, 422},
		{"items of a type parsed as raw JSON are not checked", "SignSmsReport", `{"foo":1}`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := alicompush.New(alicompush.Config{Token: token}, &recorder{})
			if err != nil {
				t.Fatal(err)
			}
			if code := serve(t, h, tc.typ, "["+tc.items+"]"); code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
		})
	}
}
