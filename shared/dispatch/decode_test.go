package dispatch

import (
	"context"
	"errors"
	"testing"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

func TestDecode(t *testing.T) {
	corrupted := newMessage("m1", "SmsReport", smsReportJSON, 1)
	corrupted.Body = "A" + corrupted.Body[1:]
	withType := newMessage("m2", "SmsReport", smsReportJSON, 1)
	withType.Type = ""
	withKey := newMessage("m3", "SmsReport", smsReportJSON, 1)
	withKey.Key = "caller-key"
	tests := []struct {
		name     string
		msg      *Message
		wantOut  Outcome
		wantErr  error
		wantNext bool
		wantType string
		wantKey  string
	}{
		{name: "a good body is decoded, keyed by its business key, and reaches next",
			msg: newMessage("m0", "SmsReport", smsReportJSON, 1), wantOut: Handled, wantNext: true, wantType: "SmsReport", wantKey: "900619746936498440^0:13000000000"},
		{name: "a message without a type takes it from its Alicom queue name",
			msg: withType, wantOut: Handled, wantNext: true, wantType: "SmsReport", wantKey: "900619746936498440^0:13000000000"},
		{name: "a key the caller set is kept",
			msg: withKey, wantOut: Handled, wantNext: true, wantType: "SmsReport", wantKey: "caller-key"},
		{name: "a body whose MD5 does not match is kept for redelivery and does not reach next",
			msg: corrupted, wantOut: Retry, wantErr: alicom.ErrMD5Mismatch, wantType: "SmsReport", wantKey: "m1"},
		{name: "a body that is not base64 is headed for the dead-letter path at once",
			msg: &Message{ID: "m4", Type: "SmsReport", Body: "not base64!"}, wantOut: DeadLettered, wantErr: alicom.ErrBase64, wantType: "SmsReport", wantKey: "m4"},
		{name: "a body that is not JSON is headed for the dead-letter path at once",
			msg: newMessage("m5", "SmsReport", `<xml/>`, 1), wantOut: DeadLettered, wantErr: alicom.ErrNotJSON, wantType: "SmsReport", wantKey: "m5"},
		{name: "a caller that has the JSON skips the body",
			msg: &Message{ID: "m6", Type: "SmsUp", Body: "not base64!", Data: []byte(`{"content":"TD"}`)}, wantOut: Handled, wantNext: true, wantType: "SmsUp", wantKey: "m6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran := false
			next := func(_ context.Context, m *Message) (Outcome, error) {
				ran = true
				if m.Payload == nil || m.Data == nil {
					t.Errorf("next got Payload %v, Data %q", m.Payload, m.Data)
				}
				return Handled, nil
			}
			out, err := Decode()(next)(context.Background(), tt.msg)
			if out != tt.wantOut || (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("Decode = %v, %v; want %v, %v", out, err, tt.wantOut, tt.wantErr)
			}
			if ran != tt.wantNext {
				t.Errorf("next ran = %v, want %v", ran, tt.wantNext)
			}
			if tt.msg.Type != tt.wantType || tt.msg.Key != tt.wantKey {
				t.Errorf("Type, Key = %q, %q; want %q, %q", tt.msg.Type, tt.msg.Key, tt.wantType, tt.wantKey)
			}
		})
	}
}
