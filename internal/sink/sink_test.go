package sink

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/events"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// logLines returns a JSON logger and a function parsing what it wrote, one map per line.
func logLines(t *testing.T) (*slog.Logger, func() []map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	return logger, func() []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %q is not JSON: %v", line, err)
			}
			out = append(out, m)
		}
		return out
	}
}

// fixture returns the JSON of the sample body name (package events).
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	for _, m := range events.Messages() {
		if m.Name == name {
			return m.JSON
		}
	}
	t.Fatalf("no sample %q in package events", name)
	return nil
}

func queued(id, typ string, jsonBody []byte) *dispatch.Message {
	return &dispatch.Message{
		ID: id, Type: typ, Source: "Alicom-Queue-1092397003988387-" + typ,
		Body:         base64.StdEncoding.EncodeToString(jsonBody),
		DequeueCount: 2, EnqueueTime: time.Date(2017, 6, 1, 2, 0, 6, 0, time.UTC),
	}
}

func TestLogWritesOneLineWithTheReceiptAsANestedObject(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		fixture string
		check   func(t *testing.T, receipt map[string]any)
	}{
		{name: "an SMS receipt is logged with its fields", typ: "SmsReport", fixture: "SmsReport",
			check: func(t *testing.T, r map[string]any) {
				if r["biz_id"] != "900619746936498440^0" || r["success"] != true || r["err_msg"] != "用户接收成功" {
					t.Errorf("receipt = %v", r)
				}
			}},
		{name: "an inbound SMS keeps its emoji and its long sequence id", typ: "SmsUp", fixture: "SmsUp-emoji",
			check: func(t *testing.T, r map[string]any) {
				if r["content"] != "好的👍 🎉 \"谢谢\"" {
					t.Errorf("content = %q", r["content"])
				}
			}},
		{name: "an unknown type is logged as sent", typ: "FlowReport", fixture: "FlowReport",
			check: func(t *testing.T, r map[string]any) {
				if r["out_id"] != "flow-order-3" {
					t.Errorf("receipt = %v", r)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, lines := logLines(t)
			r, err := dispatch.NewRouter(dispatch.Options{Fallback: Log(logger), DeadLetter: DeadLetterLog(logger)})
			if err != nil {
				t.Fatal(err)
			}
			m := queued("msg-1", tt.typ, fixture(t, tt.fixture))
			if out, err := r.Dispatch(context.Background(), m); out != dispatch.Handled {
				t.Fatalf("Dispatch = %v, %v", out, err)
			}
			got := lines()
			if len(got) != 1 {
				t.Fatalf("%d log lines, want 1: %v", len(got), got)
			}
			line := got[0]
			want := map[string]any{
				"level": "INFO", "msg": "alicom message", "message_type": tt.typ, "message_id": "msg-1",
				"dequeue_count": 2.0, "source": m.Source, "enqueue_time": "2017-06-01T02:00:06Z",
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %#v, want %#v", k, line[k], v)
				}
			}
			receipt, ok := line["receipt"].(map[string]any)
			if !ok {
				t.Fatalf("receipt = %#v, want a JSON object", line["receipt"])
			}
			tt.check(t, receipt)
			if _, hasBody := line["body"]; hasBody {
				t.Error("a decoded message also logged its raw body")
			}
		})
	}
}

func TestLogShowsTheRawBodyOfAMessageNeverDecoded(t *testing.T) {
	logger, lines := logLines(t)
	m := &dispatch.Message{ID: "x", Type: "SmsReport", Body: "raw-body"}
	if err := Log(logger)(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	line := lines()[0]
	if line["body"] != "raw-body" || line["receipt"] != nil {
		t.Errorf("line = %v", line)
	}
	if _, ok := line["enqueue_time"]; ok {
		t.Error("an unknown enqueue time was logged")
	}
}

func TestDeadLetterLogKeepsTheRawBodyAndSaysWhy(t *testing.T) {
	tests := []struct {
		name        string
		msg         *dispatch.Message
		handler     dispatch.HandlerFunc
		wantCode    string
		wantReceipt bool
	}{
		{name: "an undecodable body is logged raw with the decode reason",
			msg: func() *dispatch.Message {
				m := queued("m1", "SmsReport", []byte(`{"x":1}`))
				m.Body = "%%% not base64"
				return m
			}(),
			wantCode: dispatch.ReasonBase64},
		{name: "a body whose fields do not fit is logged raw and readable",
			msg: queued("m2", "SmsReport", []byte(`{"success":"perhaps"}`)), wantCode: dispatch.ReasonFields, wantReceipt: true},
		{name: "a message whose handler gave up permanently is logged with its receipt",
			msg: queued("m3", "SmsReport", fixture(t, "SmsReport")),
			handler: func(context.Context, *dispatch.Message) error {
				return dispatch.Permanent(errors.New("unknown biz id"))
			},
			wantCode: dispatch.ReasonPermanent, wantReceipt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, lines := logLines(t)
			r, err := dispatch.NewRouter(dispatch.Options{DeadLetter: DeadLetterLog(logger)})
			if err != nil {
				t.Fatal(err)
			}
			if tt.handler != nil {
				r.Handle("SmsReport", tt.handler)
			}
			if out, err := r.Dispatch(context.Background(), tt.msg); out != dispatch.DeadLettered {
				t.Fatalf("Dispatch = %v, %v", out, err)
			}
			line := lines()[0]
			want := map[string]any{
				"level": "ERROR", "msg": "dead-lettered", "message_id": tt.msg.ID, "message_type": "SmsReport",
				"source": tt.msg.Source, "dequeue_count": 2.0, "reason_code": tt.wantCode, "body": tt.msg.Body,
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %#v, want %#v", k, line[k], v)
				}
			}
			if reason, _ := line["reason"].(string); reason == "" {
				t.Error("no reason text")
			}
			_, isObject := line["receipt"].(map[string]any)
			if isObject != tt.wantReceipt {
				t.Errorf("receipt = %#v, want present: %v", line["receipt"], tt.wantReceipt)
			}
		})
	}
}

func TestANilLoggerMeansTheDefaultLogger(t *testing.T) {
	logger, lines := logLines(t)
	saved := slog.Default()
	slog.SetDefault(logger)
	t.Cleanup(func() { slog.SetDefault(saved) })
	m := &dispatch.Message{ID: "x", Type: "SmsReport", Body: "b"}
	_ = Log(nil)(context.Background(), m)
	_ = DeadLetterLog(nil)(context.Background(), m, errors.New("why"))
	if got := len(lines()); got != 2 {
		t.Errorf("%d lines on the default logger, want 2", got)
	}
}

// noDeadLetter fails every dead-letter write, for tests in which nothing may be dead-lettered:
// a message that reaches it is kept, and the test sees Retry.
func noDeadLetter(_ context.Context, m *dispatch.Message, reason error) error {
	return fmt.Errorf("test: message %s was headed for the dead-letter path: %w", m.ID, reason)
}
