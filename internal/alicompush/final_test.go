package alicompush_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/alicompush"
	"github.com/alicom-drain/alicom-drain/internal/logbuf"
	"github.com/alicom-drain/alicom-drain/internal/push/delivery"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// The end-to-end cases of Alicom's last push (a real Router, the emulator as Alicom) are in
// internal/push; these are the ones a fake dispatcher reaches more directly.

const smsUpItem = `[{"phone_number":"1","content":"TD"}]`

func TestTheRecordOfALastPushDoesNotDependOnAlicomStillWaiting(t *testing.T) {
	var calls atomic.Int64
	var live atomic.Bool
	d := delivery.DispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
		if calls.Add(1) == 1 {
			<-ctx.Done()
			return dispatch.Retry, context.Cause(ctx)
		}
		live.Store(ctx.Err() == nil)
		return dispatch.DeadLettered, errors.New("recorded")
	})
	h, err := alicompush.New(alicompush.Config{Token: token, FinalDelivery: 1, Logger: slog.New(slog.DiscardHandler)}, d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Alicom hung up
	req := httptest.NewRequest(http.MethodPost, "/alicom/SmsUp?token="+token, strings.NewReader(smsUpItem)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if calls.Load() != 2 || !live.Load() {
		t.Fatalf("dispatched %d times, second with a live context %v: want a second dispatch that can still record", calls.Load(), live.Load())
	}
	if w.Code != 200 {
		t.Errorf("status %d, want 200: the item was recorded", w.Code)
	}
}

func TestALastPushWithNoTimeLeftToRecordFailsAndLogsTheItem(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var calls atomic.Int64
	d := delivery.DispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
		calls.Add(1)
		<-release // ignores its context: abandoned after the budget and delivery's grace
		return dispatch.Handled, nil
	})
	logs := &logbuf.Buffer{}
	h, err := alicompush.New(alicompush.Config{
		Token: token, FinalDelivery: 1, Budget: 20 * time.Millisecond, RecordWindow: time.Nanosecond,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	}, d)
	if err != nil {
		t.Fatal(err)
	}
	if code := serve(t, h, "SmsUp", smsUpItem); code != 503 {
		t.Errorf("status %d, want 503", code)
	}
	if calls.Load() != 1 {
		t.Errorf("dispatched %d times, want 1: the window was over", calls.Load())
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"alicom push item not recorded"`) || !strings.Contains(out, "no time was left") ||
		!strings.Contains(out, `"body":"`) {
		t.Errorf("no log line with the item and why:\n%s", out)
	}
}

func TestAnItemThatIsNotTheLastPushIsNotDispatchedTwiceNorLogged(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var calls atomic.Int64
	d := delivery.DispatcherFunc(func(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
		calls.Add(1)
		<-release
		return dispatch.Handled, nil
	})
	logs := &logbuf.Buffer{}
	h, _ := alicompush.New(alicompush.Config{Token: token, Budget: 20 * time.Millisecond, Logger: slog.New(slog.NewJSONHandler(logs, nil))}, d)
	if code := serve(t, h, "SmsUp", smsUpItem); code != 503 {
		t.Errorf("status %d, want 503", code)
	}
	if calls.Load() != 1 || strings.Contains(logs.String(), "not recorded") {
		t.Errorf("dispatched %d times, logs:\n%s\nwant one dispatch and no record line: Alicom pushes it again", calls.Load(), logs)
	}
}

func TestANegativeRecordWindowIsRefused(t *testing.T) {
	if err := (alicompush.Config{Token: token, RecordWindow: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "RecordWindow") {
		t.Errorf("Validate() = %v, want RecordWindow refused", err)
	}
}

func TestALastPushKeptWithoutAReasonIsLoggedWithOne(t *testing.T) {
	d := delivery.DispatcherFunc(func(context.Context, *dispatch.Message) (dispatch.Outcome, error) {
		return dispatch.Retry, nil
	})
	logs := &logbuf.Buffer{}
	h, _ := alicompush.New(alicompush.Config{Token: token, FinalDelivery: 1, Logger: slog.New(slog.NewJSONHandler(logs, nil))}, d)
	if code := serve(t, h, "SmsUp", smsUpItem); code != 500 {
		t.Errorf("status %d, want 500", code)
	}
	if !strings.Contains(logs.String(), `"msg":"alicom push item not recorded"`) || !strings.Contains(logs.String(), "without saying why") {
		t.Errorf("no log line with the item:\n%s", logs)
	}
}
