// Package queue is the narrow boundary between the drain and a message queue: the Message the
// drain receives, the Queue interface (receive, delete), the error kinds the drain decides on,
// and the counter drivers report each request they send to (WithRequestCounter). It imports
// no SDK. Drivers live in their own packages (mnsqueue for Alibaba Cloud MNS,
// memqueue in memory) and return errors that wrap these kinds, so callers decide with errors.Is
// without knowing the driver; queuetest holds the conformance suite every driver passes.
package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// MaxBatch is the most messages one receive or delete can carry (MNS's limit).
const MaxBatch = 16

// MaxWait is the longest long poll MNS accepts; drivers cut longer waits to it.
const MaxWait = 30 * time.Second

// Message is one message as the queue delivered it.
type Message struct {
	ID               string
	ReceiptHandle    string
	Body             string
	BodyMD5          string
	DequeueCount     int64
	Priority         int64
	EnqueueTime      time.Time
	FirstDequeueTime time.Time
	NextVisibleTime  time.Time
}

// DeleteFailure names one receipt handle a batch delete could not delete and why.
type DeleteFailure struct {
	ReceiptHandle string
	Err           error
}

// Queue is what the drain needs from a queue. Implementations do not retry transport
// failures; the drain does.
type Queue interface {
	// Name is the queue's name, for reports and logs.
	Name() string
	// Receive returns up to max (1..MaxBatch) messages, waiting up to wait for the first one.
	// An empty queue is ErrEmpty.
	Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error)
	// Delete deletes messages by receipt handle (at most MaxBatch). Handles that could not be
	// deleted are returned as failures; err is set only when the request as a whole failed.
	Delete(ctx context.Context, handles []string) (failed []DeleteFailure, err error)
}

// Error kinds a Queue's errors wrap, so callers decide without knowing the driver.
var (
	ErrEmpty         = errors.New("queue: no message available")
	ErrQueueNotExist = errors.New("queue: queue does not exist")
	ErrStaleHandle   = errors.New("queue: receipt handle expired or superseded")
	// ErrAccessDenied means the credentials are valid but may not do this (a RAM policy, a
	// token scoped to another queue). A new token will not help.
	ErrAccessDenied = errors.New("queue: access denied")
	// ErrTokenRejected means the server refused the request's temporary token itself: expired,
	// revoked, unknown to the server (its issuer forgot the key) or not matching its secret.
	// A driver whose credentials can be refreshed has already fetched a new token and retried
	// once before returning it, so the caller should not retry: the fresh token was rejected
	// too, or there is none. Each driver documents which answers map here.
	ErrTokenRejected = errors.New("queue: security token rejected")
	// ErrTokenExpired is the ErrTokenRejected case of a token the server says has expired;
	// an error of this kind matches ErrTokenRejected too (and is not worth a retry either).
	ErrTokenExpired error = &subKind{"queue: security token expired", ErrTokenRejected}
	// ErrCredentials means the driver's credential provider could not provide credentials
	// (for an Alicom queue: the token could not be fetched); the provider's error is wrapped
	// too, and ErrTransport as well when the provider said its failure may pass. The request
	// that needed them was not sent.
	ErrCredentials    = errors.New("queue: credentials unavailable")
	ErrThrottled      = errors.New("queue: throttled")
	ErrTransport      = errors.New("queue: transport failure")
	ErrInvalidRequest = errors.New("queue: invalid request")
)

// subKind is an error kind that is a case of a broader one.
type subKind struct {
	msg    string
	parent error
}

func (k *subKind) Error() string { return k.msg }
func (k *subKind) Unwrap() error { return k.parent }

type requestCounterKey struct{}

// WithRequestCounter returns ctx carrying n: a driver called with the returned context (or one
// derived from it) adds one to n for every request it sends to its server. So a call that sent
// none (its credentials could not be had, its arguments were invalid) counts nothing, and one
// that sent two (a rejected token replaced within the call) counts two: n is what the server
// saw, and billed.
func WithRequestCounter(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, requestCounterKey{}, n)
}

// CountRequest adds one to the counter ctx carries, if any. Drivers call it for every request
// they send, just before sending it.
func CountRequest(ctx context.Context) {
	if n, ok := ctx.Value(requestCounterKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
}
