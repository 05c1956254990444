package dispatch

import "context"

// DispatchFunc takes one message to its Outcome. Router.Dispatch is one; so is each stage of
// the pipeline the Router builds from Policies.
type DispatchFunc func(ctx context.Context, m *Message) (Outcome, error)

// Policy wraps a DispatchFunc with one rule about outcomes: it may answer without calling
// next (Deduplicate), prepare the message (Decode), or change what next decided (Poison,
// DeadLetter). Middleware is the same idea one level down, around a handler's error.
//
// Inside a pipeline DeadLettered means "to be dead-lettered": the DeadLetter policy, outside
// the ones that decide it, records the message and keeps it (Retry) when recording fails.
type Policy func(next DispatchFunc) DispatchFunc

// Compose wraps d with ps so that ps[0] is the outermost: Compose(d, a, b) runs a, then b,
// then d.
func Compose(d DispatchFunc, ps ...Policy) DispatchFunc {
	for i := len(ps) - 1; i >= 0; i-- {
		d = ps[i](d)
	}
	return d
}

// HandlerOutcome is the outcome rule for a handler's error: nil is Handled, an error marked
// Permanent is DeadLettered, any other error is Retry. The error is returned with it.
func HandlerOutcome(err error) (Outcome, error) {
	switch {
	case err == nil:
		return Handled, nil
	case IsPermanent(err):
		return DeadLettered, err
	}
	return Retry, err
}
