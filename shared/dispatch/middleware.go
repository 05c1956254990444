package dispatch

// Chain wraps h with mws so that mws[0] is the outermost: Chain(h, a, b) runs a, then b, then h.
func Chain(h HandlerFunc, mws ...Middleware) HandlerFunc {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
