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

// OnPayload registers fn for the message type whose registered payload is T, found in the
// alicom registry (alicom.TypeOf), so the handler's parameter type alone says which messages it
// takes and T is inferred from fn:
//
//	dispatch.OnPayload(r, func(ctx context.Context, m *dispatch.Message, rep alicom.SmsReport) error { ... })
//
// It panics at registration when T is not the payload of any registered type (alicom.Raw or
// an interface included: use On with a message type for those).
func OnPayload[T any](r *Router, fn func(ctx context.Context, m *Message, v T) error) {
	var zero T
	messageType := alicom.TypeOf(zero)
	if messageType == "" {
		panic(fmt.Sprintf("dispatch: OnPayload[%s]: no message type has this payload; use On with the message type", typeName[T]()))
	}
	On(r, messageType, fn)
}

// The helpers below are shorthands for OnPayload, kept for existing callers; a type added to
// the alicom registry needs none.

// OnSmsReport registers fn for SMS delivery receipts.
func OnSmsReport(r *Router, fn func(ctx context.Context, m *Message, v alicom.SmsReport) error) {
	OnPayload(r, fn)
}

// OnSmsUp registers fn for inbound SMS.
func OnSmsUp(r *Router, fn func(ctx context.Context, m *Message, v alicom.SmsUp) error) {
	OnPayload(r, fn)
}

// OnVoiceReport registers fn for voice call records.
func OnVoiceReport(r *Router, fn func(ctx context.Context, m *Message, v alicom.VoiceReport) error) {
	OnPayload(r, fn)
}

// OnVoiceCallReport registers fn for voice call status changes.
func OnVoiceCallReport(r *Router, fn func(ctx context.Context, m *Message, v alicom.VoiceCallReport) error) {
	OnPayload(r, fn)
}

// OnDypnsSmsVerifyReport registers fn for verification-code SMS receipts.
func OnDypnsSmsVerifyReport(r *Router, fn func(ctx context.Context, m *Message, v alicom.DypnsSmsVerifyReport) error) {
	OnPayload(r, fn)
}

// OnMnsCardTemplate registers fn for card-SMS template audit results.
func OnMnsCardTemplate(r *Router, fn func(ctx context.Context, m *Message, v alicom.MnsCardTemplate) error) {
	OnPayload(r, fn)
}
