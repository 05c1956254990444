package dispatch

import (
	"context"
	"fmt"
	"reflect"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

// Typed adapts a function taking the decoded payload as a T into a HandlerFunc. T is the
// payload type for the message type (alicom.SmsReport for "SmsReport", ...), alicom.Raw for
// the JSON of any type, or an interface the payload satisfies. A message whose payload is not a
// T is refused with a Permanent ErrPayloadType error (a wiring mistake: no redelivery cures
// it).
func Typed[T any](fn func(ctx context.Context, m *Message, v T) error) HandlerFunc {
	return func(ctx context.Context, m *Message) error {
		if v, ok := m.Payload.(T); ok {
			return fn(ctx, m, v)
		}
		if raw, ok := any(alicom.Raw(m.Data)).(T); ok && m.Data != nil {
			return fn(ctx, m, raw)
		}
		return Permanent(fmt.Errorf("%w: the handler takes %s, the %s message carries %T",
			ErrPayloadType, typeName[T](), m.Type, m.Payload))
	}
}

// On registers fn for messageType with the payload as a T (see Typed). It panics at
// registration, like Handle, when messageType has a known payload that is not a T and T is
// not alicom.Raw: such a handler could never run.
func On[T any](r *Router, messageType string, fn func(ctx context.Context, m *Message, v T) error) {
	if zero, known := alicom.Zero(messageType); known {
		_, fits := zero.(T)
		_, raw := any(alicom.Raw(nil)).(T)
		if !fits && !raw {
			panic(fmt.Sprintf("dispatch: On[%s](%q): %s messages carry %T", typeName[T](), messageType, messageType, zero))
		}
	}
	if fn == nil {
		panic("dispatch: On(" + messageType + ") with a nil function")
	}
	r.Handle(messageType, Typed(fn))
}

func typeName[T any]() string {
	return reflect.TypeFor[T]().String()
}

// OnSmsReport registers fn for SMS delivery receipts.
func OnSmsReport(r *Router, fn func(ctx context.Context, m *Message, v alicom.SmsReport) error) {
	On(r, alicom.TypeSmsReport, fn)
}

// OnSmsUp registers fn for inbound SMS.
func OnSmsUp(r *Router, fn func(ctx context.Context, m *Message, v alicom.SmsUp) error) {
	On(r, alicom.TypeSmsUp, fn)
}

// OnVoiceReport registers fn for voice call records.
func OnVoiceReport(r *Router, fn func(ctx context.Context, m *Message, v alicom.VoiceReport) error) {
	On(r, alicom.TypeVoiceReport, fn)
}

// OnVoiceCallReport registers fn for voice call status changes.
func OnVoiceCallReport(r *Router, fn func(ctx context.Context, m *Message, v alicom.VoiceCallReport) error) {
	On(r, alicom.TypeVoiceCallReport, fn)
}

// OnDypnsSmsVerifyReport registers fn for verification-code SMS receipts.
func OnDypnsSmsVerifyReport(r *Router, fn func(ctx context.Context, m *Message, v alicom.DypnsSmsVerifyReport) error) {
	On(r, alicom.TypeDypnsSmsVerifyReport, fn)
}

// OnMnsCardTemplate registers fn for card-SMS template audit results.
func OnMnsCardTemplate(r *Router, fn func(ctx context.Context, m *Message, v alicom.MnsCardTemplate) error) {
	On(r, alicom.TypeMnsCardTemplate, fn)
}
