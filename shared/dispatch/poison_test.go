package dispatch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

func TestPoison(t *testing.T) {
	md5Err := &alicom.DecodeError{Reason: alicom.ReasonMD5Mismatch, Detail: "x"}
	receiverDown := Unavailable(errors.New("receiver answered 503"))
	longAgo := time.Now().Add(-49 * time.Hour)
	recently := time.Now().Add(-time.Hour)
	tests := []struct {
		name        string
		max         int64
		horizon     time.Duration
		cancelled   bool
		msg         Message
		out         Outcome // what next answers
		err         error
		wantOut     Outcome
		wantErr     []error
		wantCode    string
		wantSameErr bool
	}{
		{name: "a failure below the attempt limit is kept",
			max: 5, msg: Message{DequeueCount: 4}, out: Retry, err: errDatabaseDown,
			wantOut: Retry, wantSameErr: true},
		{name: "a failure on the last allowed delivery is dead-lettered",
			max: 5, msg: Message{DequeueCount: 5}, out: Retry, err: errDatabaseDown,
			wantOut: DeadLettered, wantErr: []error{ErrAttemptsExhausted, errDatabaseDown}, wantCode: ReasonAttemptsExhausted},
		{name: "a failure of a message whose deliveries are not counted is kept",
			max: 1, msg: Message{DequeueCount: 0}, out: Retry, err: errDatabaseDown,
			wantOut: Retry, wantSameErr: true},
		{name: "an attempt limit below one is taken as one",
			max: 0, msg: Message{DequeueCount: 1}, out: Retry, err: errDatabaseDown,
			wantOut: DeadLettered, wantErr: []error{ErrAttemptsExhausted}},
		{name: "an MD5 mismatch that persists to the limit is dead-lettered as an MD5 mismatch",
			max: 5, msg: Message{DequeueCount: 5}, out: Retry, err: md5Err,
			wantOut: DeadLettered, wantErr: []error{ErrAttemptsExhausted, alicom.ErrMD5Mismatch}, wantCode: ReasonMD5Mismatch},
		{name: "an unavailable destination does not dead-letter for the delivery count",
			max: 5, horizon: 48 * time.Hour, msg: Message{DequeueCount: 50, EnqueueTime: recently}, out: Retry, err: receiverDown,
			wantOut: Retry, wantSameErr: true, wantCode: ReasonUnavailable},
		{name: "an unavailable destination dead-letters a message older than the outage horizon",
			max: 5, horizon: 48 * time.Hour, msg: Message{DequeueCount: 2, EnqueueTime: longAgo}, out: Retry, err: receiverDown,
			wantOut: DeadLettered, wantErr: []error{ErrOutageHorizon, receiverDown}, wantCode: ReasonOutageHorizon},
		{name: "an unavailable destination never dead-letters a message whose enqueue time is unknown",
			max: 5, horizon: time.Nanosecond, msg: Message{DequeueCount: 99}, out: Retry, err: receiverDown,
			wantOut: Retry, wantSameErr: true},
		{name: "an unavailable destination never dead-letters when the horizon is off",
			max: 5, horizon: -1, msg: Message{DequeueCount: 99, EnqueueTime: longAgo}, out: Retry, err: receiverDown,
			wantOut: Retry, wantSameErr: true},
		{name: "an unavailable destination dead-letters a message on its final delivery, which would be lost if kept",
			max: 5, horizon: 48 * time.Hour, msg: Message{DequeueCount: 5, EnqueueTime: recently, FinalDelivery: true}, out: Retry, err: receiverDown,
			wantOut: DeadLettered, wantErr: []error{ErrAttemptsExhausted, receiverDown}},
		{name: "any failure on a final delivery is dead-lettered, below the attempt limit too",
			max: 5, msg: Message{DequeueCount: 2, FinalDelivery: true}, out: Retry, err: errDatabaseDown,
			wantOut: DeadLettered, wantErr: []error{ErrAttemptsExhausted, errDatabaseDown}},
		{name: "a failure while the caller's context is done is kept whatever the count",
			max: 5, cancelled: true, msg: Message{DequeueCount: 9}, out: Retry, err: context.Canceled,
			wantOut: Retry, wantSameErr: true},
		{name: "a handled message passes unchanged",
			max: 1, msg: Message{DequeueCount: 9}, out: Handled, wantOut: Handled},
		{name: "a message already headed for the dead-letter path passes unchanged",
			max: 5, msg: Message{DequeueCount: 1}, out: DeadLettered, err: errDatabaseDown,
			wantOut: DeadLettered, wantSameErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			next := func(context.Context, *Message) (Outcome, error) { return tt.out, tt.err }
			out, err := Poison(tt.max, tt.horizon)(next)(ctx, &tt.msg)
			if out != tt.wantOut {
				t.Errorf("outcome = %v, want %v (err %v)", out, tt.wantOut, err)
			}
			if tt.wantSameErr && err != tt.err {
				t.Errorf("err = %v, want next's error unchanged: %v", err, tt.err)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to wrap %v", err, want)
				}
			}
			if tt.wantCode != "" && ReasonCode(err) != tt.wantCode {
				t.Errorf("ReasonCode = %q, want %q (err %v)", ReasonCode(err), tt.wantCode, err)
			}
		})
	}
}

// Issue 8 item 3: a body altered in transit is kept (the server's copy is intact) and is
// dead-lettered only when the mismatch persists to the poison threshold.
func TestAnMD5MismatchIsKeptUntilItPersistsToTheAttemptLimit(t *testing.T) {
	var dl deadLetters
	r := mustRouter(t, Options{DeadLetter: dl.record, MaxAttempts: 3})
	r.Handle("SmsReport", func(context.Context, *Message) error {
		t.Error("the handler ran on a corrupted body")
		return nil
	})
	for count := int64(1); count <= 3; count++ {
		m := newMessage("m1", "SmsReport", smsReportJSON, count)
		m.Body = "A" + m.Body[1:] // altered in transit; BodyMD5 is the original's
		out, err := r.Dispatch(context.Background(), m)
		want := Retry
		if count == 3 {
			want = DeadLettered
		}
		if out != want || !errors.Is(err, alicom.ErrMD5Mismatch) {
			t.Errorf("delivery %d = %v, %v; want %v with the MD5 mismatch", count, out, err, want)
		}
	}
	if dl.count() != 1 || ReasonCode(dl.reasons[0]) != ReasonMD5Mismatch {
		t.Fatalf("dead letters %v, want one with code %s", dl.reasons, ReasonMD5Mismatch)
	}
}

func TestTheRoutersOutageHorizonDefaultsToTwoDays(t *testing.T) {
	receiverDown := Unavailable(errors.New("connection refused"))
	tests := []struct {
		name    string
		horizon time.Duration
		age     time.Duration
		want    Outcome
	}{
		{name: "a message a day old is kept through an outage by default", age: 24 * time.Hour, want: Retry},
		{name: "a message three days old is dead-lettered in an outage by default", age: 72 * time.Hour, want: DeadLettered},
		{name: "a shorter horizon dead-letters sooner", horizon: time.Hour, age: 2 * time.Hour, want: DeadLettered},
		{name: "a negative horizon keeps the message however old", horizon: -1, age: 1000 * time.Hour, want: Retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRouter(t, Options{OutageHorizon: tt.horizon})
			r.Handle("SmsReport", func(context.Context, *Message) error { return receiverDown })
			m := newMessage("m1", "SmsReport", smsReportJSON, 100)
			m.EnqueueTime = time.Now().Add(-tt.age)
			out, err := r.Dispatch(context.Background(), m)
			if out != tt.want || !IsUnavailable(err) {
				t.Errorf("Dispatch = %v, %v; want %v with the Unavailable error", out, err, tt.want)
			}
		})
	}
}
