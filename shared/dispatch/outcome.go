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
