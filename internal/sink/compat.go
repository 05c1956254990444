package sink

import (
	"errors"

	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// This file holds the stand-ins for two cross-area contracts that land in other branches; each
// is one line to change at merge.

// unavailableError marks a failure of the destination rather than of the message.
//
// TODO(merge): contract 2 — replace the body of unavailable with
// `return dispatch.Unavailable(err)` and of isUnavailable with `return dispatch.IsUnavailable(err)`,
// then delete unavailableError.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// unavailable marks err as a failure of the destination (receiver down: 5xx, timeout, refused
// connection): the Router keeps the message whatever its delivery count, until it reaches the
// outage horizon. unavailable(nil) is nil.
func unavailable(err error) error {
	if err == nil || isUnavailable(err) {
		return err
	}
	return &unavailableError{err: err}
}

// isUnavailable reports whether err was marked with unavailable.
func isUnavailable(err error) bool {
	var u *unavailableError
	return errors.As(err, &u)
}

// keyOf is the event's idempotency key.
//
// TODO(merge): contract 3 — return m.Key (filled by the Router from alicom.Key, the message id
// when the type has no business key).
func keyOf(m *dispatch.Message) string {
	return m.ID
}
