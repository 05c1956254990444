package dispatch

import (
	"context"
	"errors"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

// Errors the Router puts into the reasons and errors it returns, for errors.Is. The ones that
// belong to one policy are declared in its file.
var (
	// ErrNoHandler is what the default Fallback returns (wrapped with Permanent) for a message
	// type with no handler.
	ErrNoHandler = errors.New("dispatch: no handler for message type")
	// ErrPayloadType is returned (wrapped with Permanent) by a typed handler given a payload
	// of another type than it was registered for.
	ErrPayloadType = errors.New("dispatch: payload is not of the handler's type")
	// ErrHandlerTimeout is the cause of the context a handler is given by Timeout, and is
	// wrapped into the error of a handler that failed, or was abandoned, after its time ran
	// out.
	ErrHandlerTimeout = errors.New("dispatch: handler timed out")
	// ErrHandlerExited is returned by Timeout for a handler that ended its goroutine without
	// returning (runtime.Goexit, which testing.T.FailNow calls).
	ErrHandlerExited = errors.New("dispatch: handler exited without returning (runtime.Goexit)")
)

// permanent marks an error that redelivery cannot cure.
type permanent struct{ err error }

func (p *permanent) Error() string { return "permanent: " + p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Permanent marks err as one that redelivery cannot cure, so the Router dead-letters the
// message at once instead of keeping it for another attempt. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	if IsPermanent(err) {
		return err
	}
	return &permanent{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanent
	return errors.As(err, &p)
}

// unavailable marks a failure of the destination, not of the message.
type unavailable struct{ err error }

func (u *unavailable) Error() string { return "destination unavailable: " + u.err.Error() }
func (u *unavailable) Unwrap() error { return u.err }

// Unavailable marks err as a failure of the destination a handler writes to (a receiver that
// answers 5xx, times out or refuses the connection), not of the message: any other message
// would fail the same way now, and this one will succeed once the destination is back. The
// Router keeps such a message however often it was delivered (Poison dead-letters it only
// past Options.OutageHorizon), and a drain stops receiving from the queue rather than burn
// through it. Unavailable(nil) is nil.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	if IsUnavailable(err) {
		return err
	}
	return &unavailable{err: err}
}

// IsUnavailable reports whether err, or an error it wraps, was marked with Unavailable.
func IsUnavailable(err error) bool {
	var u *unavailable
	return errors.As(err, &u)
}

// Reason codes returned by ReasonCode: short, stable labels for logs and metrics. The codes
// a dead-letter record can carry are:
//
//	md5-mismatch        the body's MD5 did not match on every delivery up to Options.MaxAttempts
//	base64, json, fields the body cannot be decoded (dead-lettered on its first delivery)
//	no-handler          no handler for the message type, and the default Fallback
//	payload-type        a typed handler was given another payload type (a wiring mistake)
//	permanent           the handler returned an error marked Permanent
//	attempts-exhausted  the handler failed (error, panic, timeout) up to Options.MaxAttempts
//	outage-horizon      the destination stayed Unavailable until the message was
//	                    Options.OutageHorizon old
//
// The codes that accompany Retry only are: dead-letter-failed, in-flight, unavailable,
// panic, exited, timeout, canceled and error.
const (
	ReasonMD5Mismatch       = alicom.ReasonMD5Mismatch // "md5-mismatch"
	ReasonBase64            = alicom.ReasonBase64      // "base64"
	ReasonJSON              = alicom.ReasonJSON        // "json"
	ReasonFields            = alicom.ReasonFields      // "fields"
	ReasonNoHandler         = "no-handler"
	ReasonPayloadType       = "payload-type"
	ReasonPermanent         = "permanent"
	ReasonAttemptsExhausted = "attempts-exhausted"
	ReasonOutageHorizon     = "outage-horizon"
	ReasonInFlight          = "in-flight"
	ReasonDeadLetterFailed  = "dead-letter-failed"
	ReasonUnavailable       = "unavailable"
	ReasonTimeout           = "timeout"
	ReasonPanic             = "panic"
	ReasonExited            = "exited"
	ReasonCanceled          = "canceled"
	ReasonError             = "error"
)

// ReasonCode names why a message was dead-lettered or kept, from the error Dispatch returned
// or the reason a DeadLetterFunc was given: one of the Reason* constants. It is "" for nil.
// The most specific cause wins: an MD5 mismatch that exhausted its attempts is
// "md5-mismatch", a missing handler (a Permanent error) is "no-handler".
func ReasonCode(err error) string {
	var de *alicom.DecodeError
	var pe *PanicError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrDeadLetterFailed):
		return ReasonDeadLetterFailed
	case errors.Is(err, ErrOutageHorizon):
		return ReasonOutageHorizon
	case errors.As(err, &de):
		return de.Reason
	case errors.Is(err, ErrInFlight):
		return ReasonInFlight
	case errors.Is(err, ErrAttemptsExhausted):
		return ReasonAttemptsExhausted
	case errors.Is(err, ErrNoHandler):
		return ReasonNoHandler
	case errors.Is(err, ErrPayloadType):
		return ReasonPayloadType
	case IsPermanent(err):
		return ReasonPermanent
	case IsUnavailable(err):
		return ReasonUnavailable
	case errors.As(err, &pe):
		return ReasonPanic
	case errors.Is(err, ErrHandlerExited):
		return ReasonExited
	case errors.Is(err, ErrHandlerTimeout), errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	}
	return ReasonError
}
