package dispatch

// Chain wraps h with mws so that mws[0] is the outermost: Chain(h, a, b) runs a, then b, then h.
func Chain(h HandlerFunc, mws ...Middleware) HandlerFunc {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

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
