package dispatch

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

func TestTypedHandlers(t *testing.T) {
	tests := []struct {
		name     string
		register func(r *Router, got *any)
		msg      *Message
		want     func(t *testing.T, got any)
		wantErr  error
	}{
		{
			name: "a typed SmsReport handler gets the receipt by value",
			register: func(r *Router, got *any) {
				OnSmsReport(r, func(_ context.Context, _ *Message, v alicom.SmsReport) error { *got = v; return nil })
			},
			msg: newMessage("m1", "SmsReport", smsReportJSON, 1),
			want: func(t *testing.T, got any) {
				if r := got.(alicom.SmsReport); r.BizID != "900619746936498440^0" || !bool(r.Success) {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			name: "OnPayload finds the message type from the handler's parameter type",
			register: func(r *Router, got *any) {
				OnPayload(r, func(_ context.Context, _ *Message, v alicom.SmsUp) error { *got = v; return nil })
			},
			msg: newMessage("m1", "SmsUp", `{"content":"TD","sequence_id":7}`, 1),
			want: func(t *testing.T, got any) {
				if up := got.(alicom.SmsUp); up.Content != "TD" || up.SequenceID != "7" {
					t.Errorf("got %+v", up)
				}
			},
		},
		{
			name: "a Raw handler gets the JSON of a known type",
			register: func(r *Router, got *any) {
				On(r, "SmsUp", func(_ context.Context, _ *Message, v alicom.Raw) error { *got = v; return nil })
			},
			msg: newMessage("m1", "SmsUp", `{"content":"TD"}`, 1),
			want: func(t *testing.T, got any) {
				if string(got.(alicom.Raw)) != `{"content":"TD"}` {
					t.Errorf("got %s", got)
				}
			},
		},
		{
			name: "a Raw handler gets the JSON of an unknown type",
			register: func(r *Router, got *any) {
				On(r, "FlowReport", func(_ context.Context, _ *Message, v alicom.Raw) error { *got = v; return nil })
			},
			msg: newMessage("m1", "FlowReport", `{"out_id":"f"}`, 1),
			want: func(t *testing.T, got any) {
				if string(got.(alicom.Raw)) != `{"out_id":"f"}` {
					t.Errorf("got %s", got)
				}
			},
		},
		{
			name: "a typed handler for an unknown type refuses other payloads permanently",
			register: func(r *Router, got *any) {
				On(r, "FlowReport", func(_ context.Context, _ *Message, v alicom.SmsUp) error { *got = v; return nil })
			},
			msg:     newMessage("m1", "FlowReport", `{"out_id":"f"}`, 1),
			wantErr: ErrPayloadType,
		},
		{
			name: "each convenience helper is wired to its type",
			register: func(r *Router, got *any) {
				OnVoiceReport(r, func(_ context.Context, _ *Message, v alicom.VoiceReport) error { *got = v; return nil })
				OnVoiceCallReport(r, func(context.Context, *Message, alicom.VoiceCallReport) error { return nil })
				OnDypnsSmsVerifyReport(r, func(context.Context, *Message, alicom.DypnsSmsVerifyReport) error { return nil })
				OnMnsCardTemplate(r, func(context.Context, *Message, alicom.MnsCardTemplate) error { return nil })
			},
			msg: newMessage("m1", "VoiceReport", `{"duration":"10秒"}`, 1),
			want: func(t *testing.T, got any) {
				if n, ok := got.(alicom.VoiceReport).DurationSeconds(); n != 10 || !ok {
					t.Errorf("got %+v", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dl deadLetters
			r := mustRouter(t, Options{DeadLetter: dl.record})
			var got any
			tt.register(r, &got)
			out, err := r.Dispatch(context.Background(), tt.msg)
			if tt.wantErr != nil {
				if out != DeadLettered || !errors.Is(err, tt.wantErr) || !IsPermanent(err) {
					t.Errorf("Dispatch = %v, %v; want DeadLettered with permanent %v", out, err, tt.wantErr)
				}
				return
			}
			if out != Handled {
				t.Fatalf("Dispatch = %v, %v", out, err)
			}
			tt.want(t, got)
		})
	}
}

func TestOnPanicsForAHandlerThatCouldNeverRun(t *testing.T) {
	r := mustRouter(t, Options{})
	defer func() {
		v := recover()
		if v == nil || !strings.Contains(v.(string), "alicom.SmsUp") || !strings.Contains(v.(string), "SmsReport") {
			t.Errorf("recover() = %v, want a message naming both types", v)
		}
	}()
	On(r, "SmsReport", func(context.Context, *Message, alicom.SmsUp) error { return nil })
}

func TestOnPayloadPanicsForAPayloadNoTypeHas(t *testing.T) {
	tests := []struct {
		name string
		call func(r *Router)
	}{
		{"Raw belongs to no single type", func(r *Router) {
			OnPayload(r, func(context.Context, *Message, alicom.Raw) error { return nil })
		}},
		{"an interface belongs to no single type", func(r *Router) {
			OnPayload(r, func(context.Context, *Message, any) error { return nil })
		}},
		{"an unregistered struct belongs to no type", func(r *Router) {
			OnPayload(r, func(context.Context, *Message, struct{ X int }) error { return nil })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if v, _ := recover().(string); !strings.Contains(v, "use On with the message type") {
					t.Errorf("recover() = %q, want a message pointing to On", v)
				}
			}()
			tt.call(mustRouter(t, Options{}))
		})
	}
}

func TestEveryRegisteredTypeReachesItsTypedHandler(t *testing.T) {
	for _, typ := range alicom.KnownTypes() {
		t.Run(typ, func(t *testing.T) {
			r := mustRouter(t, Options{})
			zero, _ := alicom.Zero(typ)
			var got any
			On(r, typ, func(_ context.Context, _ *Message, v any) error { got = v; return nil })
			if out, err := r.Dispatch(context.Background(), newMessage("m1", typ, `{}`, 1)); out != Handled {
				t.Fatalf("Dispatch = %v, %v", out, err)
			}
			if reflect.TypeOf(got) != reflect.TypeOf(zero) {
				t.Errorf("handler got %T, want %T", got, zero)
			}
		})
	}
}

func TestHandleRefusesWiringMistakes(t *testing.T) {
	tests := []struct {
		name string
		call func(r *Router)
	}{
		{"an empty message type is refused", func(r *Router) { r.Handle("", func(context.Context, *Message) error { return nil }) }},
		{"a nil handler is refused", func(r *Router) { r.Handle("SmsReport", nil) }},
		{"a nil typed function is refused", func(r *Router) { OnSmsUp(r, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.call(mustRouter(t, Options{}))
		})
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad")
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
	p := Permanent(base)
	if !IsPermanent(p) || !errors.Is(p, base) {
		t.Errorf("Permanent(base) = %v: IsPermanent %v, Is(base) %v", p, IsPermanent(p), errors.Is(p, base))
	}
	if wrapped := errors.Join(errors.New("context"), p); !IsPermanent(wrapped) {
		t.Error("a wrapped permanent error is not permanent")
	}
	if Permanent(p) != p {
		t.Error("Permanent wraps twice")
	}
	if IsPermanent(base) || IsPermanent(nil) {
		t.Error("a plain error or nil is permanent")
	}
}

func TestReasonCode(t *testing.T) {
	decodeErr := &alicom.DecodeError{Reason: alicom.ReasonBase64, Detail: "x"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil has no reason", nil, ""},
		{"a decode error gives its reason", decodeErr, ReasonBase64},
		{"exhausted attempts are named", exhausted(&Message{DequeueCount: 5}, 5, errDatabaseDown), ReasonAttemptsExhausted},
		{"a missing handler is named before permanence", noHandler(context.Background(), &Message{Type: "X"}), ReasonNoHandler},
		{"a permanent error is named", Permanent(errDatabaseDown), ReasonPermanent},
		{"a panic is named", &PanicError{Value: 1}, ReasonPanic},
		{"a timeout is named", ErrHandlerTimeout, ReasonTimeout},
		{"an in-flight message is named", ErrInFlight, ReasonInFlight},
		{"a failed dead-letter is named before its reason", errors.Join(ErrDeadLetterFailed, decodeErr), ReasonDeadLetterFailed},
		{"any other error is an error", errDatabaseDown, ReasonError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReasonCode(tt.err); got != tt.want {
				t.Errorf("ReasonCode(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestTimeoutBlamesOnlyItsOwnDeadline(t *testing.T) {
	wait := func(ctx context.Context, _ *Message) error { <-ctx.Done(); return ctx.Err() }
	tests := []struct {
		name        string
		timeout     time.Duration
		parent      time.Duration
		wantTimeout bool
	}{
		{name: "its own deadline passing is reported as a handler timeout", timeout: 10 * time.Millisecond, parent: time.Minute, wantTimeout: true},
		{name: "the caller's earlier deadline is not reported as a handler timeout", timeout: time.Minute, parent: 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.parent)
			defer cancel()
			err := Timeout(tt.timeout)(wait)(ctx, &Message{})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want DeadlineExceeded", err)
			}
			if got := errors.Is(err, ErrHandlerTimeout); got != tt.wantTimeout {
				t.Errorf("Is(ErrHandlerTimeout) = %v, want %v (err %v)", got, tt.wantTimeout, err)
			}
		})
	}
}

func TestATimeoutOfZeroLeavesTheHandlerAlone(t *testing.T) {
	h := func(ctx context.Context, _ *Message) error {
		if _, ok := ctx.Deadline(); ok {
			return errors.New("deadline set")
		}
		return nil
	}
	if err := Timeout(0)(h)(context.Background(), &Message{}); err != nil {
		t.Error(err)
	}
	r := mustRouter(t, Options{HandlerTimeout: -1})
	r.Handle("SmsReport", h)
	if out, err := r.Dispatch(context.Background(), newMessage("m", "SmsReport", smsReportJSON, 1)); out != Handled {
		t.Errorf("with HandlerTimeout < 0: %v, %v", out, err)
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{Handled: "handled", Retry: "retry", DeadLettered: "dead-lettered", Duplicate: "duplicate", 9: "outcome(9)"} {
		if o.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(o), o.String(), want)
		}
	}
}
