package dispatch

import "strconv"

// String names the outcome for logs: "handled", "retry", "dead-lettered" or "duplicate".
func (o Outcome) String() string {
	switch o {
	case Handled:
		return "handled"
	case Retry:
		return "retry"
	case DeadLettered:
		return "dead-lettered"
	case Duplicate:
		return "duplicate"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Settled reports whether the carrier may let the message go (delete it from the queue, or
// answer a push with success): true for Handled, DeadLettered and Duplicate. Every other
// value, Retry and any value outside the four, keeps the message.
func (o Outcome) Settled() bool {
	return o == Handled || o == DeadLettered || o == Duplicate
}
