package dispatch

import (
	"errors"
	"fmt"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

// Errors the Router puts into the reasons and errors it returns, for errors.Is.
var (
	// ErrAttemptsExhausted marks a dead-letter reason: the handler failed on a delivery whose
	// DequeueCount reached Options.MaxAttempts. The handler's last error is wrapped too.
	ErrAttemptsExhausted = errors.New("dispatch: delivery attempts exhausted")
	// ErrNoHandler is what the default Fallback returns (wrapped with Permanent) for a message
	// type with no handler.
	ErrNoHandler = errors.New("dispatch: no handler for message type")
	// ErrPayloadType is returned (wrapped with Permanent) by a typed handler given a payload
	// of another type than it was registered for.
	ErrPayloadType = errors.New("dispatch: payload is not of the handler's type")
	// ErrInFlight is returned with Retry when a message with the same id is being handled by
	// another Dispatch call of this Router right now: running it twice at once would defeat
	// deduplication, and answering Duplicate could delete it before the first run succeeds.
	ErrInFlight = errors.New("dispatch: a message with this id is already being handled")
	// ErrDeadLetterFailed is returned with Retry when the dead-letter function failed: the
	// message stays in the queue and comes back.
	ErrDeadLetterFailed = errors.New("dispatch: dead-letter failed")
	// ErrHandlerTimeout is the cause of the context a handler is given by Timeout, and is
	// wrapped into the error of a handler that failed after its time ran out.
	ErrHandlerTimeout = errors.New("dispatch: handler timed out")
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

// Reason codes returned by ReasonCode: short, stable labels for logs and metrics.
const (
	ReasonMD5Mismatch       = alicom.ReasonMD5Mismatch // "md5-mismatch"
	ReasonBase64            = alicom.ReasonBase64      // "base64"
	ReasonJSON              = alicom.ReasonJSON        // "json"
	ReasonFields            = alicom.ReasonFields      // "fields"
	ReasonNoHandler         = "no-handler"
	ReasonPayloadType       = "payload-type"
	ReasonPermanent         = "permanent"
	ReasonAttemptsExhausted = "attempts-exhausted"
	ReasonInFlight          = "in-flight"
	ReasonDeadLetterFailed  = "dead-letter-failed"
	ReasonTimeout           = "timeout"
	ReasonPanic             = "panic"
	ReasonError             = "error"
)

// ReasonCode names why a message was dead-lettered or kept, from the error Dispatch returned
// or the reason a DeadLetterFunc was given: one of the Reason* constants. It is "" for nil.
func ReasonCode(err error) string {
	var de *alicom.DecodeError
	var pe *PanicError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrDeadLetterFailed):
		return ReasonDeadLetterFailed
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
	case errors.As(err, &pe):
		return ReasonPanic
	case errors.Is(err, ErrHandlerTimeout):
		return ReasonTimeout
	}
	return ReasonError
}

// exhausted builds the dead-letter reason for a message whose last allowed attempt failed.
func exhausted(m *Message, max int64, last error) error {
	return fmt.Errorf("%w: handler failed on delivery %d (limit %d): %w", ErrAttemptsExhausted, m.DequeueCount, max, last)
}
