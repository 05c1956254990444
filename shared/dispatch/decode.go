package dispatch

import (
	"context"
	"errors"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

// Decode is the policy that turns the body into what a handler reads before next runs:
//
//   - an empty Type is taken from Source when that is an Alicom queue name
//     (Alicom-Queue-<uid>-<Type>);
//   - Data and Payload are decoded from Body (a caller that already has the JSON may set Data,
//     and then only the payload is parsed);
//   - an empty Key is filled: the business key for the type, else the message id.
//
// A body whose MD5 does not match is a transport fault: the copy MNS keeps is intact, so the
// answer is Retry with the *alicom.DecodeError, and Poison dead-letters it only if the
// mismatch persists to the attempt limit (reason code "md5-mismatch"). Any other body that
// cannot be decoded (not base64, not a JSON object, fields that do not fit the type) is
// DeadLettered at once with the *alicom.DecodeError: no redelivery can change it.
func Decode() Policy {
	return func(next DispatchFunc) DispatchFunc {
		return func(ctx context.Context, m *Message) (Outcome, error) {
			if m.Type == "" {
				m.Type = alicom.TypeFromQueueName(m.Source)
			}
			err := decode(m)
			if m.Key == "" && err == nil {
				m.Key = alicom.Key(m.Type, m.Payload)
			}
			if m.Key == "" {
				m.Key = m.ID
			}
			switch {
			case err == nil:
				return next(ctx, m)
			case errors.Is(err, alicom.ErrMD5Mismatch):
				return Retry, err
			}
			return DeadLettered, err
		}
	}
}

// decode fills m.Data and m.Payload from m.Body, or m.Payload from m.Data when the caller
// supplied the JSON.
func decode(m *Message) error {
	if m.Data == nil {
		data, payload, err := alicom.Decode(m.Type, m.Body, m.BodyMD5)
		if data != nil {
			m.Data = data // kept even when the fields do not fit, so the dead-letter record is readable
		}
		if err != nil {
			return err
		}
		m.Payload = payload
		return nil
	}
	if m.Payload == nil {
		payload, err := alicom.Parse(m.Type, m.Data)
		if err != nil {
			return err
		}
		m.Payload = payload
	}
	return nil
}
