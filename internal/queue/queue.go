// Package queue owns the narrow boundary between the drain and a message queue: the Message the
// drain receives, the Queue interface (receive, delete, change visibility), the error values the
// drain decides on, and the aliyun-mns-go-sdk implementation. SDK errors become these values here
// and nowhere else.
package queue

import (
	"context"
	"errors"
	"time"
)

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

// Queue is what the drain needs from a queue. Implementations do not retry; the drain does.
type Queue interface {
	// Name is the queue's name, for reports and logs.
	Name() string
	// Receive returns up to max (1..16) messages, waiting up to wait for the first one.
	// An empty queue is ErrEmpty.
	Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error)
	// Delete deletes messages by receipt handle (at most 16). Handles that could not be deleted
	// are returned as failures; err is set only when the request as a whole failed.
	Delete(ctx context.Context, handles []string) (failed []DeleteFailure, err error)
	// ChangeVisibility makes a received message invisible for d from now and returns its new
	// receipt handle; the old one stops working.
	ChangeVisibility(ctx context.Context, handle string, d time.Duration) (string, error)
}

// Errors a Queue returns, so callers decide without knowing the SDK.
var (
	ErrEmpty          = errors.New("queue: no message available")
	ErrQueueNotExist  = errors.New("queue: queue does not exist")
	ErrStaleHandle    = errors.New("queue: receipt handle expired or superseded")
	ErrAccessDenied   = errors.New("queue: access denied")
	ErrTokenExpired   = errors.New("queue: security token expired")
	ErrThrottled      = errors.New("queue: throttled")
	ErrTransport      = errors.New("queue: transport failure")
	ErrInvalidRequest = errors.New("queue: invalid request")
)
