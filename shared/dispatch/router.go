package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by NewRouter to zero Options fields.
const (
	// DefaultMaxAttempts is the delivery on which a still-failing message is dead-lettered.
	DefaultMaxAttempts = 5
	// DefaultHandlerTimeout matches MNS's default visibility timeout: a handler still running
	// after it would see its message delivered again to someone else anyway.
	DefaultHandlerTimeout = 30 * time.Second
	// DefaultOutageHorizon is how old a message must be before a destination outage
	// dead-letters it. Alicom's queues keep a message 4 days (MessageRetentionPeriod 345600 s)
	// before MNS drops it unrecorded; 48 hours dead-letters, and so records, a message well
	// before that, while an outage of the receiver of hours, even a weekend's night, dead-letters
	// nothing: every message waits in the queue and is handled once the receiver is back.
	DefaultOutageHorizon = 48 * time.Hour
	// DefaultDedupSize is how many message ids a Router remembers.
	DefaultDedupSize = 10000
	// maxDedupSize bounds DedupSize: the set is allocated up front.
	maxDedupSize = 1 << 24
)

// Options configures a Router. DeadLetter is required; every other zero field means its
// default.
type Options struct {
	// MaxAttempts is the poison threshold: a message that fails on a delivery with
	// DequeueCount >= MaxAttempts is dead-lettered instead of kept (see Poison). 0 means
	// DefaultMaxAttempts; 1 dead-letters on the first failure.
	MaxAttempts int64
	// HandlerTimeout bounds each message's handler (see Timeout). 0 means
	// DefaultHandlerTimeout; a negative value sets no bound beyond the caller's context.
	HandlerTimeout time.Duration
	// OutageHorizon is the age from which a message whose destination is Unavailable is
	// dead-lettered (see Poison). 0 means DefaultOutageHorizon; a negative value never
	// dead-letters for an outage (the queue's retention then decides).
	OutageHorizon time.Duration
	// DeadLetter records messages that will not be handled (see DeadLetter). It is required:
	// a Router must know where a message goes before it may let one go unhandled, and a
	// default would hide that choice (the function's log is the product's record, written
	// by internal/sink; a library default writing to a log nobody keeps would lose
	// messages).
	DeadLetter DeadLetterFunc
	// Fallback handles message types with no handler (and bodies whose type is not known).
	// nil means sending them to the dead-letter path with ErrNoHandler: the message is not
	// handled, and the dead-letter path keeps its body.
	Fallback HandlerFunc
	// DedupSize is how many message ids the Router remembers (see Dedup). 0 means
	// DefaultDedupSize; a negative value turns deduplication (and the in-flight check) off.
	DedupSize int
}

// Validate reports the first field with a value NewRouter would refuse.
func (o Options) Validate() error {
	if o.DeadLetter == nil {
		return errors.New("dispatch: Options.DeadLetter is required: a function that records a message the Router will not handle (e.g. one writing it to your log store), got nil")
	}
	if o.MaxAttempts < 0 {
		return fmt.Errorf("dispatch: Options.MaxAttempts must be >= 1 (or 0 for the default %d), got %d", DefaultMaxAttempts, o.MaxAttempts)
	}
	if o.DedupSize > maxDedupSize {
		return fmt.Errorf("dispatch: Options.DedupSize must be at most %d (or negative to disable), got %d", maxDedupSize, o.DedupSize)
	}
	return nil
}

// Router is a mux of handlers by message type, with the policies that decide each message's
// Outcome around it. It is safe for concurrent Dispatch calls, and handlers may be registered
// while it dispatches (they apply to later messages).
type Router struct {
	timeout     time.Duration
	maxAttempts int64
	dedup       *Dedup       // nil when deduplication is off
	dispatch    DispatchFunc // the policies around route, composed once

	mu       sync.Mutex // serialises registration
	handlers map[string]HandlerFunc
	fallback HandlerFunc
	mws      []Middleware
	routes   atomic.Pointer[routes] // rebuilt on registration, read lock-free by route
}

// routes holds every handler already wrapped in its middleware chain, so Dispatch composes
// nothing per message: once inside Timeout, which runs it on a goroutine of its own, and once
// inside inlineTimeout, for callers that abandon a hung Dispatch themselves (CallerAbandons).
type routes struct {
	byType, inline           map[string]HandlerFunc
	fallback, inlineFallback HandlerFunc
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
	if opts.OutageHorizon == 0 {
		opts.OutageHorizon = DefaultOutageHorizon
	}
	if opts.Fallback == nil {
		opts.Fallback = noHandler
	}
	if opts.DedupSize == 0 {
		opts.DedupSize = DefaultDedupSize
	}
	r := &Router{
		timeout:     opts.HandlerTimeout,
		maxAttempts: opts.MaxAttempts,
		handlers:    make(map[string]HandlerFunc),
		fallback:    opts.Fallback,
	}
	var policies []Policy
	if opts.DedupSize > 0 {
		r.dedup = NewDedup(opts.DedupSize)
		policies = append(policies, Deduplicate(r.dedup))
	}
	policies = append(policies, DeadLetter(opts.DeadLetter), Poison(opts.MaxAttempts, opts.OutageHorizon), Decode())
	r.dispatch = Compose(r.route, policies...)
	r.rebuild()
	return r, nil
}

// Handle registers h for messageType. Like http.ServeMux, it panics on an empty type, a nil
// handler, or a type that already has a handler: those are programming errors, found at
// start-up.
func (r *Router) Handle(messageType string, h HandlerFunc) {
	if messageType == "" {
		panic("dispatch: Handle with an empty message type (use Options.Fallback for untyped messages)")
	}
	if h == nil {
		panic("dispatch: Handle(" + messageType + ") with a nil handler")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.handlers[messageType]; taken {
		panic(fmt.Sprintf("dispatch: Handle(%q): a handler for message type %q is already registered", messageType, messageType))
	}
	r.handlers[messageType] = h
	r.rebuild()
}

// Use appends middleware applied to every handler and to the Fallback. The Router itself
// always wraps, outermost first: Timeout(Options.HandlerTimeout), then Recover, then the
// middleware given to Use in order, then the handler. So a panic in any middleware is
// recovered, every middleware sees the per-message deadline, and a handler that hangs or
// exits its goroutine is abandoned with its message kept.
func (r *Router) Use(mw ...Middleware) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mws = append(r.mws, mw...)
	r.rebuild()
}

// Dedup returns the Router's deduplication memory, for its Stats and Remembers; nil when
// Options.DedupSize turned deduplication off.
func (r *Router) Dedup() *Dedup { return r.dedup }

// rebuild recomputes the wrapped handlers; r.mu must be held (or r not yet shared).
func (r *Router) rebuild() {
	chain := append([]Middleware{Timeout(r.timeout), Recover()}, r.mws...)
	inline := append([]Middleware{inlineTimeout(r.timeout), Recover()}, r.mws...)
	rt := &routes{byType: make(map[string]HandlerFunc, len(r.handlers)), inline: make(map[string]HandlerFunc, len(r.handlers))}
	for typ, h := range r.handlers {
		rt.byType[typ] = Chain(h, chain...)
		rt.inline[typ] = Chain(h, inline...)
	}
	rt.fallback = Chain(r.fallback, chain...)
	rt.inlineFallback = Chain(r.fallback, inline...)
	r.routes.Store(rt)
}

// Dispatch takes one message to its end and says what the carrier must do with it. The
// policies run in this order, each described where it is defined:
//
//  1. Deduplicate: a message this Router finished is a Duplicate; one it is handling now is
//     Retry with ErrInFlight; one whose handler was abandoned at an earlier delivery and still
//     runs fails with ErrInFlight without running the handler again, like a handler error
//     (unless Options.DedupSize < 0).
//  2. DeadLetter: whatever the steps below decide to dead-letter is recorded with
//     Options.DeadLetter before DeadLettered is answered; a failed record is Retry.
//  3. Poison: a failure on the last allowed delivery, or an Unavailable destination past
//     the outage horizon, is dead-lettered; other failures are Retry.
//  4. Decode: the body is decoded into Data, Payload and Key; an undecodable body is
//     dead-lettered at once, an MD5 mismatch is Retry.
//  5. The handler for m.Type, or the Fallback, runs inside Timeout, Recover and the
//     middleware; nil is Handled, a Permanent error is dead-lettered, any other is Retry
//     (see HandlerOutcome). When ctx comes from CallerAbandons, the handler runs on the
//     caller's goroutine instead, except on the message's last delivery.
//
// The error accompanies Retry and DeadLettered, for logging; it is nil for Handled and
// Duplicate. Dispatch does not panic. It returns by the handler timeout plus the time the
// dead-letter function takes, and in any case soon after ctx ends; under CallerAbandons, a
// handler that ignores its context holds Dispatch until it returns, except on the message's
// last delivery.
func (r *Router) Dispatch(ctx context.Context, m *Message) (Outcome, error) {
	if m == nil {
		return Retry, errors.New("dispatch: Dispatch called with a nil message")
	}
	return r.dispatch(ctx, m)
}

// route runs the handler for m.Type, or the Fallback, unless a handler Timeout abandoned
// at an earlier delivery of m still runs (see Deduplicate): running it again beside that one
// is what deduplication exists to prevent, so this delivery fails with ErrInFlight, and Poison
// dead-letters it at the attempt limit.
func (r *Router) route(ctx context.Context, m *Message) (Outcome, error) {
	if f := inFlightOf(ctx); f != nil && f.orphaned {
		return Retry, fmt.Errorf("%w: message %s: its handler, abandoned at an earlier delivery, is still running", ErrInFlight, m.ID)
	}
	rt := r.routes.Load()
	byType, fallback := rt.byType, rt.fallback
	if callerAbandons(ctx) && !r.lastDelivery(m) {
		byType, fallback = rt.inline, rt.inlineFallback
	}
	h, ok := byType[m.Type]
	if !ok {
		h = fallback
	}
	return HandlerOutcome(h(ctx, m))
}

// lastDelivery says whether a failure of m is dead-lettered rather than kept (see Poison): a
// handler that hangs on it must be abandoned by the Router itself, in time for the record.
func (r *Router) lastDelivery(m *Message) bool {
	return m.FinalDelivery || m.DequeueCount >= r.maxAttempts
}

// noHandler is the default Fallback.
func noHandler(_ context.Context, m *Message) error {
	if m.Type == "" {
		return Permanent(fmt.Errorf("%w: the message does not say its type", ErrNoHandler))
	}
	return Permanent(fmt.Errorf("%w %q", ErrNoHandler, m.Type))
}
