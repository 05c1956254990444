package app

import (
	"context"
	"io"
	"log/slog"

	"github.com/alicom-drain/alicom-drain/internal/platform"
)

// NewLogger returns the JSON logger every function writes with: one object per line, which
// both platforms' log services index. Every line logged with an invocation's context carries
// its request_id, whichever package logs it (the router, the sinks, the token cache), so one
// query finds everything an invocation did. A router built with the logger writes its log
// sink's records to w directly, beside the logger (see recordWriter), so w must be safe for
// concurrent Writes, as an *os.File is.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(requestIDHandler{inner: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}), w: w})
}

// recordWriter returns the writer under a logger from NewLogger, where the log sink writes its
// records itself (in the same line format, whatever the level); nil for any other logger.
func recordWriter(l *slog.Logger) io.Writer {
	if h, ok := l.Handler().(requestIDHandler); ok {
		return h.w
	}
	return nil
}

// requestIDHandler adds the request_id of the record's context, unless the logger already has
// one attached with With (the drain's per-invocation logger does).
type requestIDHandler struct {
	inner slog.Handler
	has   bool
	w     io.Writer // what inner writes to
}

func (h requestIDHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.has {
		if id := platform.RequestID(ctx); id != "" {
			r = r.Clone()
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.inner.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := h.has
	for _, a := range attrs {
		has = has || a.Key == "request_id"
	}
	return requestIDHandler{inner: h.inner.WithAttrs(attrs), has: has, w: h.w}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{inner: h.inner.WithGroup(name), has: h.has, w: h.w}
}
