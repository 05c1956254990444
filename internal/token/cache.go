package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/redact"
	"github.com/alicom-drain/alicom-drain/internal/retry"
)

// CacheOptions configure a Cache. The zero value is usable.
type CacheOptions struct {
	// RefreshBefore is how long before ExpireTime a token is replaced; default 2m (what every
	// official demo does). For tokens that live less than twice as long, half their remaining
	// life is used instead, so a short-lived token is not refetched on every call.
	RefreshBefore time.Duration
	// Now is the clock; default time.Now. Tests pass a controlled clock.
	Now func() time.Time
	// Logger receives one info line per fetch and a warning per failed fetch; default
	// slog.Default(). Nothing logged contains a secret.
	Logger *slog.Logger
	// FetchTimeout bounds one fetch, its retries included, in case the Fetcher does not bound
	// itself; default 30s. The deadline of the caller that started the fetch bounds it too,
	// but not that caller's cancellation: other callers may be waiting for the same token.
	FetchTimeout time.Duration
	// Retry is how a fetch that failed for a passing reason (FetchError.Temporary: Dybaseapi
	// unreachable, 5xx, throttling) is retried; default 3 attempts, 200ms doubling to 2s.
	// No pause outlives the fetch's deadline.
	Retry retry.Policy
	// RejectionHoldoff is how long a token fetched to replace one the queue server rejected is
	// kept even if the server rejects it too; default 1m, about one timer period. It makes a
	// rejection cost at most one fetch per message type per invocation: when fresh tokens are
	// rejected as well, the fault is not the token's and refetching would not mend it.
	RejectionHoldoff time.Duration
}

// retryAfterFailure is how long a previous, still valid token is served after a failed
// refresh before the next refresh attempt, so an outage of Dybaseapi is not hammered by every
// receive of every queue.
const retryAfterFailure = 10 * time.Second

// Cache keeps one token per message type for the life of the process (a warm instance) and
// fetches a new one when less than RefreshBefore remains. It is safe for concurrent use.
type Cache struct {
	f       Fetcher
	opts    CacheOptions
	fetches atomic.Int64

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	tok       Token
	has       bool
	refreshAt time.Time
	retryAt   time.Time // after a failed refresh: no new attempt before this while tok is valid
	call      *call     // the fetch in flight, if any
	fetches   int64     // fetches of this message type
	// replacing is set when a rejection dropped the token, until the next fetch succeeds;
	// replacedAt is when that fetch brought the replacement (see RejectionHoldoff).
	replacing  bool
	replacedAt time.Time
}

type call struct {
	done chan struct{}
	tok  Token
	err  error
}

// NewCache returns a Cache over f.
func NewCache(f Fetcher, opts CacheOptions) (*Cache, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: NewCache needs a Fetcher", ErrInvalidArgument)
	}
	if opts.RefreshBefore < 0 {
		return nil, fmt.Errorf("%w: CacheOptions.RefreshBefore %v: want a positive duration (0 means 2m)", ErrInvalidArgument, opts.RefreshBefore)
	}
	if opts.FetchTimeout < 0 {
		return nil, fmt.Errorf("%w: CacheOptions.FetchTimeout %v: want a positive duration (0 means 30s)", ErrInvalidArgument, opts.FetchTimeout)
	}
	if opts.RejectionHoldoff < 0 {
		return nil, fmt.Errorf("%w: CacheOptions.RejectionHoldoff %v: want a positive duration (0 means 1m)", ErrInvalidArgument, opts.RejectionHoldoff)
	}
	if opts.Retry == (retry.Policy{}) {
		opts.Retry = retry.Policy{Attempts: 3, Backoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second}
	}
	if err := opts.Retry.Validate(); err != nil {
		return nil, fmt.Errorf("%w: CacheOptions.Retry: %v", ErrInvalidArgument, err)
	}
	if opts.RejectionHoldoff == 0 {
		opts.RejectionHoldoff = time.Minute
	}
	if opts.RefreshBefore == 0 {
		opts.RefreshBefore = 2 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.FetchTimeout == 0 {
		opts.FetchTimeout = 30 * time.Second
	}
	return &Cache{f: f, opts: opts, entries: make(map[string]*entry)}, nil
}

// Fetches returns how many token fetches the cache has made (a fetch and its retries count
// once).
func (c *Cache) Fetches() int64 { return c.fetches.Load() }

// Token returns the token for messageType, fetching one when none is cached or the cached one
// is due for refresh. queueName is passed to the Fetcher (Dybaseapi accepts it optionally).
//
// Only one fetch per message type runs at a time; concurrent callers wait for it, each as long
// as its own ctx allows. While a cached token is still valid, only the caller that started a
// refresh waits for it, the others get the cached token at once; and if the refresh fails the
// still valid token is returned (and a warning logged) instead of the error.
func (c *Cache) Token(ctx context.Context, messageType, queueName string) (Token, error) {
	if strings.TrimSpace(messageType) == "" {
		return Token{}, fmt.Errorf("%w: empty message type", ErrInvalidArgument)
	}
	c.mu.Lock()
	e := c.entries[messageType]
	if e == nil {
		e = &entry{}
		c.entries[messageType] = e
	}
	now := c.opts.Now()
	if e.has {
		if now.Before(e.refreshAt) {
			defer c.mu.Unlock()
			return e.tok, nil
		}
		if now.Before(e.tok.ExpireTime) && (e.call != nil || now.Before(e.retryAt)) {
			defer c.mu.Unlock()
			return e.tok, nil
		}
	}
	cl := e.call
	if cl == nil {
		cl = c.startFetch(ctx, e, messageType, queueName)
	}
	c.mu.Unlock()

	select {
	case <-cl.done:
	case <-ctx.Done():
		return Token{}, fmt.Errorf("token: waiting for the %s token: %w", messageType, ctx.Err())
	}
	if cl.err == nil {
		return cl.tok, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.has && c.opts.Now().Before(e.tok.ExpireTime) {
		return e.tok, nil
	}
	return Token{}, cl.err
}

// startFetch runs the Fetcher in its own goroutine; c.mu must be held.
func (c *Cache) startFetch(ctx context.Context, e *entry, messageType, queueName string) *call {
	cl := &call{done: make(chan struct{})}
	e.call = cl
	e.fetches++
	fetches := e.fetches
	c.fetches.Add(1)
	// WithoutCancel keeps the context's values (the platform's credentials live there) but
	// not its cancellation: the fetch serves every waiter, not only the one that started it.
	// The starter's deadline (the invocation's) still bounds it, retries included.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.FetchTimeout)
	if dl, ok := ctx.Deadline(); ok {
		fctx, cancel = withEarlierDeadline(fctx, cancel, dl)
	}
	go func() {
		defer cancel()
		start := time.Now()
		attempts := 0
		var tok Token
		err := retry.Do(fctx, c.opts.Retry, isTemporary, func(ctx context.Context, attempt int) error {
			attempts = attempt
			var err error
			tok, err = c.fetch(ctx, messageType, queueName)
			return err
		})
		if err != nil && attempts == 0 {
			err = &FetchError{MessageType: messageType, Kind: ErrUnavailable, Message: "no time left before the deadline: " + err.Error(), Cause: err}
		}
		took := time.Since(start)

		c.mu.Lock()
		now := c.opts.Now()
		servingPrevious := false
		if err == nil {
			e.tok, e.has = tok, true
			e.refreshAt = c.refreshAt(tok, now, messageType)
			e.retryAt = time.Time{}
			if e.replacing {
				e.replacing, e.replacedAt = false, now
			}
		} else if e.has && now.Before(e.tok.ExpireTime) {
			servingPrevious = true
			e.retryAt = now.Add(retryAfterFailure)
		}
		e.call = nil
		cl.tok, cl.err = tok, err
		c.mu.Unlock()
		// Log before waking the waiters, so a caller that got the result finds the line.
		c.logFetch(fctx, messageType, queueName, tok, err, took, attempts, fetches, servingPrevious)
		close(cl.done)
	}()
	return cl
}

// withEarlierDeadline bounds ctx by dl too, keeping both cancel functions.
func withEarlierDeadline(ctx context.Context, cancel context.CancelFunc, dl time.Time) (context.Context, context.CancelFunc) {
	if cur, ok := ctx.Deadline(); ok && !dl.Before(cur) {
		return ctx, cancel
	}
	dctx, dcancel := context.WithDeadline(ctx, dl)
	return dctx, func() { dcancel(); cancel() }
}

// isTemporary reports whether a fetch failed for a reason that may pass by itself.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (c *Cache) logFetch(ctx context.Context, messageType, queueName string, tok Token, err error, took time.Duration, attempts int, fetches int64, servingPrevious bool) {
	if err == nil {
		c.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "alicom token fetched",
			slog.String("message_type", messageType), slog.String("queue", queueName),
			slog.String("access_key_id", redact.ID(tok.AccessKeyID)),
			slog.Time("expire_time", tok.ExpireTime), slog.Int64("took_ms", took.Milliseconds()),
			slog.Int("attempts", attempts), slog.Int64("fetches", fetches))
		return
	}
	msg := "alicom token fetch failed"
	if servingPrevious {
		msg = "alicom token refresh failed; serving the previous token until it expires"
	}
	c.opts.Logger.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("message_type", messageType), slog.String("queue", queueName),
		slog.String("cause", Cause(err)), slog.Int64("took_ms", took.Milliseconds()),
		slog.Int("attempts", attempts), slog.Int64("fetches", fetches), slog.String("error", err.Error()))
}

// fetch calls the Fetcher, turning a panic or an empty token into an error.
func (c *Cache) fetch(ctx context.Context, messageType, queueName string) (tok Token, err error) {
	defer func() {
		if r := recover(); r != nil {
			tok, err = Token{}, fmt.Errorf("token: the fetcher panicked for message type %q: %v", messageType, r)
		}
	}()
	tok, err = c.f.Fetch(ctx, messageType, queueName)
	if err == nil && (tok.AccessKeyID == "" || tok.AccessKeySecret == "" || tok.SecurityToken == "" || tok.ExpireTime.IsZero()) {
		err = &FetchError{MessageType: messageType, Message: "the fetcher returned an incomplete token", Kind: ErrBadResponse}
	}
	if err != nil {
		return Token{}, err
	}
	return tok, nil
}

// refreshAt decides when tok is replaced; c.mu must be held.
func (c *Cache) refreshAt(tok Token, now time.Time, messageType string) time.Time {
	life := tok.ExpireTime.Sub(now)
	if life <= 0 {
		// Expired on arrival by our clock: the local clock is off, or the service is. The
		// server is the judge, so use the token, but do not refetch on every call; a
		// "token expired" answer from the queue invalidates it anyway.
		c.opts.Logger.Warn("alicom token is already expired by the local clock; check the clock",
			slog.String("message_type", messageType), slog.Time("expire_time", tok.ExpireTime), slog.Time("now", now))
		return now.Add(retryAfterFailure)
	}
	return tok.ExpireTime.Add(-min(c.opts.RefreshBefore, life/2))
}

// drop forgets e's token; c.mu must be held.
func (c *Cache) drop(e *entry) {
	e.tok, e.has, e.refreshAt, e.retryAt = Token{}, false, time.Time{}, time.Time{}
}

// Reject is the queue server's verdict on a token: it refused it (expired, revoked, unknown).
// Reject drops the token if it is still the cached one, and reports whether the next Token
// call may return another token, so the refused call is worth one more try: true when it was
// dropped now or had been replaced already; false when the cache keeps it because it was
// itself fetched to replace a rejected token less than RejectionHoldoff ago (a fresh token
// refused too means the fault is not the token's).
func (c *Cache) Reject(messageType string, stale Token) bool {
	if stale.IsZero() {
		return false
	}
	c.mu.Lock()
	e := c.entries[messageType]
	if e == nil || !e.has || !e.tok.same(stale) {
		c.mu.Unlock()
		return e != nil // replaced already, or being replaced
	}
	now := c.opts.Now()
	if !e.replacedAt.IsZero() && now.Sub(e.replacedAt) < c.opts.RejectionHoldoff {
		c.mu.Unlock()
		c.opts.Logger.Warn("alicom token rejected by the queue server again, right after a refetch; keeping it",
			slog.String("message_type", messageType), slog.String("access_key_id", redact.ID(stale.AccessKeyID)),
			slog.Duration("holdoff", c.opts.RejectionHoldoff))
		return false
	}
	c.drop(e)
	e.replacing = true
	c.mu.Unlock()
	c.opts.Logger.Info("alicom token rejected by the queue server; dropped, the next call fetches a new one",
		slog.String("message_type", messageType), slog.String("access_key_id", redact.ID(stale.AccessKeyID)))
	return true
}

// ForQueue adapts the cache to the MNS driver's credential provider
// (mnsqueue.CredentialProvider) for one message type's queue, without either package importing
// the other.
func (c *Cache) ForQueue(messageType, queueName string) *QueueCredentials {
	return &QueueCredentials{cache: c, messageType: messageType, queueName: queueName}
}

// QueueCredentials hands a queue the current token of one message type and passes the queue
// server's rejections back to the cache. It implements mnsqueue.CredentialProvider.
type QueueCredentials struct {
	cache       *Cache
	messageType string
	queueName   string
}

// Credentials returns the current token's three parts.
func (q *QueueCredentials) Credentials(ctx context.Context) (accessKeyID, accessKeySecret, securityToken string, err error) {
	t, err := q.cache.Token(ctx, q.messageType, q.queueName)
	if err != nil {
		return "", "", "", err
	}
	return t.AccessKeyID, t.AccessKeySecret, t.SecurityToken, nil
}

// ReportRejected passes a rejection of the token with these parts to Cache.Reject and returns
// its answer.
func (q *QueueCredentials) ReportRejected(accessKeyID, securityToken string) bool {
	return q.cache.Reject(q.messageType, Token{AccessKeyID: accessKeyID, SecurityToken: securityToken})
}

// String names the message type and queue (no secrets).
func (q *QueueCredentials) String() string {
	return fmt.Sprintf("token.QueueCredentials{%s %s}", q.messageType, q.queueName)
}

// fetching reports whether a fetch for messageType is in flight (tests).
func (c *Cache) fetching(messageType string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[messageType]
	return e != nil && e.call != nil
}
