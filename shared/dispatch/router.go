package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

// Defaults applied by NewRouter to zero Options fields.
const (
	// DefaultMaxAttempts is the delivery on which a still-failing message is dead-lettered.
	DefaultMaxAttempts = 5
	// DefaultHandlerTimeout matches MNS's default visibility timeout: a handler still running
	// after it would see its message delivered again to someone else anyway.
	DefaultHandlerTimeout = 30 * time.Second
	// DefaultDedupSize is how many finished message ids a Router remembers.
	DefaultDedupSize = 10000
	// maxDedupSize bounds DedupSize: the set is allocated up front.
	maxDedupSize = 1 << 24
)

// Options configures a Router. The zero value is valid and means every default.
type Options struct {
	// MaxAttempts is the poison threshold: a message whose handler fails on a delivery with
	// DequeueCount >= MaxAttempts is dead-lettered instead of kept. 0 means
	// DefaultMaxAttempts; 1 dead-letters on the first failure. A carrier that cannot count
	// deliveries leaves DequeueCount 0, and such messages are never exhausted.
	MaxAttempts int64
	// HandlerTimeout bounds each message's handler through its context (see Timeout). 0 means
	// DefaultHandlerTimeout; a negative value sets no bound beyond the caller's context.
	HandlerTimeout time.Duration
	// DeadLetter records messages that will not be handled. nil means logging each one through
	// Logger at error level with its id, type, source, reason and raw body
	// (sink.DeadLetterLog does the same with more fields).
	DeadLetter DeadLetterFunc
	// Fallback handles message types with no handler (and bodies whose type is not known).
	// nil means sending them to the dead-letter path with ErrNoHandler: the message is not
	// handled, and the dead-letter path keeps its body.
	Fallback HandlerFunc
	// Logger is used by the default DeadLetter. nil means slog.Default().
	Logger *slog.Logger
	// DedupSize is how many finished message ids the Router remembers to answer Duplicate.
	// 0 means DefaultDedupSize; a negative value turns deduplication (and the in-flight check)
	// off.
	DedupSize int
}

// Validate reports the first field with a value NewRouter would refuse.
func (o Options) Validate() error {
	if o.MaxAttempts < 0 {
		return fmt.Errorf("dispatch: Options.MaxAttempts must be >= 1 (or 0 for the default %d), got %d", DefaultMaxAttempts, o.MaxAttempts)
	}
	if o.DedupSize > maxDedupSize {
		return fmt.Errorf("dispatch: Options.DedupSize must be at most %d (or negative to disable), got %d", maxDedupSize, o.DedupSize)
	}
	return nil
}

// Router decodes each message and hands it to the handler registered for its type, through
// the middleware, then decides its Outcome. It is safe for concurrent Dispatch calls, and
// handlers may be registered while it dispatches (they apply to later messages).
type Router struct {
	maxAttempts int64
	timeout     time.Duration
	deadLetter  DeadLetterFunc
	seen        *idSet // nil when deduplication is off

	mu       sync.Mutex // serialises registration
	handlers map[string]HandlerFunc
	fallback HandlerFunc
	mws      []Middleware
	routes   atomic.Pointer[routes] // rebuilt on registration, read lock-free by Dispatch
}

// routes holds every handler already wrapped in its middleware chain, so Dispatch composes
// nothing per message.
type routes struct {
	byType   map[string]HandlerFunc
	fallback HandlerFunc
}

// NewRouter returns a Router configured by opts, after validating them.
func NewRouter(opts Options) (*Router, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.HandlerTimeout == 0 {
		opts.HandlerTimeout = DefaultHandlerTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DeadLetter == nil {
		opts.DeadLetter = logDeadLetter(opts.Logger)
	}
	if opts.Fallback == nil {
		opts.Fallback = noHandler
	}
	if opts.DedupSize == 0 {
		opts.DedupSize = DefaultDedupSize
	}
	r := &Router{
		maxAttempts: opts.MaxAttempts,
		timeout:     opts.HandlerTimeout,
		deadLetter:  opts.DeadLetter,
		handlers:    make(map[string]HandlerFunc),
		fallback:    opts.Fallback,
	}
	if opts.DedupSize > 0 {
		r.seen = newIDSet(opts.DedupSize)
	}
	r.rebuild()
	return r, nil
}

// Handle registers h for messageType, replacing any earlier handler for it. Like
// http.ServeMux, it panics on an empty type or a nil handler: those are programming errors,
// found at start-up.
func (r *Router) Handle(messageType string, h HandlerFunc) {
	if messageType == "" {
		panic("dispatch: Handle with an empty message type (use Options.Fallback for untyped messages)")
	}
	if h == nil {
		panic("dispatch: Handle(" + messageType + ") with a nil handler")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[messageType] = h
	r.rebuild()
}

// Use appends middleware applied to every handler and to the Fallback. The Router itself
// always wraps, outermost first: Recover, then Timeout(Options.HandlerTimeout), then the
// middleware given to Use in order, then the handler. So a panic in any middleware is
// recovered, and every middleware sees the per-message deadline.
func (r *Router) Use(mw ...Middleware) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mws = append(r.mws, mw...)
	r.rebuild()
}

// rebuild recomputes the wrapped handlers; r.mu must be held (or r not yet shared).
func (r *Router) rebuild() {
	chain := append([]Middleware{Recover(), Timeout(r.timeout)}, r.mws...)
	rt := &routes{byType: make(map[string]HandlerFunc, len(r.handlers))}
	for typ, h := range r.handlers {
		rt.byType[typ] = Chain(h, chain...)
	}
	rt.fallback = Chain(r.fallback, chain...)
	r.routes.Store(rt)
}

// Dispatch takes one message to its end and says what the carrier must do with it:
//
//  1. A message whose id this Router already handled or dead-lettered is a Duplicate (its
//     handler is not run again). One whose id another Dispatch call is handling right now is
//     Retry with ErrInFlight.
//  2. An empty m.Type is taken from m.Source when that is an Alicom queue name
//     (Alicom-Queue-<uid>-<Type>). The body is decoded into m.Data and m.Payload (a caller
//     that already has the JSON may set m.Data, and then only Parse runs). A body that cannot
//     be decoded is dead-lettered at once with the *alicom.DecodeError: retrying cannot help.
//  3. The handler for m.Type, or the Fallback, runs inside the middleware.
//  4. nil is Handled. An error marked Permanent is dead-lettered. Any other error is Retry,
//     unless m.DequeueCount >= MaxAttempts: then it is dead-lettered with a reason wrapping
//     ErrAttemptsExhausted and the error.
//  5. If the dead-letter function fails (or panics) the message is Retry with
//     ErrDeadLetterFailed: it stays in the queue, nothing is lost.
//
// The error accompanies Retry and DeadLettered, for logging; it is nil for Handled and
// Duplicate. Only Handled and DeadLettered ids are remembered as finished.
func (r *Router) Dispatch(ctx context.Context, m *Message) (Outcome, error) {
	if m == nil {
		return Retry, errors.New("dispatch: Dispatch called with a nil message")
	}
	if r.seen == nil || m.ID == "" {
		return r.dispatch(ctx, m)
	}
	dup, busy := r.seen.begin(m.ID)
	switch {
	case dup:
		return Duplicate, nil
	case busy:
		return Retry, fmt.Errorf("%w: message %s", ErrInFlight, m.ID)
	}
	out := Retry
	defer func() { r.seen.end(m.ID, out == Handled || out == DeadLettered) }()
	out, err := r.dispatch(ctx, m)
	return out, err
}

func (r *Router) dispatch(ctx context.Context, m *Message) (Outcome, error) {
	if m.Type == "" {
		m.Type = alicom.TypeFromQueueName(m.Source)
	}
	if err := decode(m); err != nil {
		return r.deadLetterMessage(ctx, m, err)
	}
	rt := r.routes.Load()
	h, ok := rt.byType[m.Type]
	if !ok {
		h = rt.fallback
	}
	err := h(ctx, m)
	switch {
	case err == nil:
		return Handled, nil
	case IsPermanent(err):
		return r.deadLetterMessage(ctx, m, err)
	case m.DequeueCount >= r.maxAttempts:
		return r.deadLetterMessage(ctx, m, exhausted(m, r.maxAttempts, err))
	}
	return Retry, err
}

// decode fills m.Data and m.Payload from m.Body, or m.Payload from m.Data when the caller
// supplied the JSON.
func decode(m *Message) error {
	if m.Data == nil {
		data, payload, err := alicom.Decode(m.Type, m.Body, m.BodyMD5)
		if data != nil {
			m.Data = data // kept even when the fields do not fit, so the dead-letter log is readable
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

// deadLetterMessage records m with reason and returns DeadLettered, or Retry when recording
// failed.
func (r *Router) deadLetterMessage(ctx context.Context, m *Message, reason error) (Outcome, error) {
	if err := r.callDeadLetter(ctx, m, reason); err != nil {
		return Retry, fmt.Errorf("%w: %w (dead-letter reason: %w)", ErrDeadLetterFailed, err, reason)
	}
	return DeadLettered, reason
}

// callDeadLetter runs the customer's dead-letter function, recovering a panic into an error:
// a dead-letter path that crashes must keep the message, not take the process down.
func (r *Router) callDeadLetter(ctx context.Context, m *Message, reason error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: stackSummary(3, 8)}
		}
	}()
	return r.deadLetter(ctx, m, reason)
}

// noHandler is the default Fallback.
func noHandler(_ context.Context, m *Message) error {
	if m.Type == "" {
		return Permanent(fmt.Errorf("%w: the message does not say its type", ErrNoHandler))
	}
	return Permanent(fmt.Errorf("%w %q", ErrNoHandler, m.Type))
}

// logDeadLetter is the default DeadLetterFunc.
func logDeadLetter(logger *slog.Logger) DeadLetterFunc {
	return func(ctx context.Context, m *Message, reason error) error {
		logger.LogAttrs(ctx, slog.LevelError, "dead-lettered",
			slog.String("message_id", m.ID),
			slog.String("message_type", m.Type),
			slog.String("source", m.Source),
			slog.Int64("dequeue_count", m.DequeueCount),
			slog.String("reason_code", ReasonCode(reason)),
			slog.String("reason", reason.Error()),
			slog.String("body", m.Body),
		)
		return nil
	}
}
