package dispatch

import (
	"context"
	"time"
)

// Message is one business message on its way to a handler, whatever carried it (a queue
// receive or a push). Transport fields are set by the caller; Data, Payload and Key are
// filled by the Router when it decodes the body.
type Message struct {
	// ID is the MNS message id.
	ID string
	// Type is the Alicom message type (SmsReport, SmsUp, ...); empty when the source does not say.
	Type string
	// Source names where the message came from: a queue name or a topic name.
	Source string
	// Body is the message body exactly as MNS stored it (for Alicom: base64 of a JSON object).
	Body string
	// BodyMD5 is the upper-case hex MD5 MNS reported for Body; empty skips the check.
	BodyMD5 string
	// DequeueCount is how many times the message was delivered, this time included: the
	// queue's count, or for a carrier that cannot count (0) the deliveries this Router saw
	// (see Dedup).
	DequeueCount int64
	// EnqueueTime is when the message entered the queue (or was published to a topic); the
	// zero time when unknown.
	EnqueueTime time.Time
	// FirstDequeueTime is when the queue first delivered the message.
	FirstDequeueTime time.Time
	// Tag is the topic message tag of a pushed message.
	Tag string
	// FinalDelivery says the carrier will not deliver this message again (Alicom's last push
	// of an item): a failure is then dead-lettered whatever its kind, a destination that is
	// down included, because keeping the message would lose it.
	FinalDelivery bool

	// Data is the decoded JSON document (nil until decoded).
	Data []byte
	// Payload is the typed value decoded from Data: alicom.SmsReport, alicom.SmsUp, ... or
	// alicom.Raw for a type the package does not know.
	Payload any
	// Key is the idempotency key a sink may use to write the message at most once: the
	// business key where the message type has one, else the message id. A caller may set it;
	// the Router fills it when empty (see Decode).
	Key string
}

// HandlerFunc handles one message. Nil means handled (delete it); an error keeps the message
// for redelivery, unless it is wrapped with Permanent.
type HandlerFunc func(ctx context.Context, m *Message) error

// Middleware wraps a handler with a policy (recovery, timeout, ...).
type Middleware func(h HandlerFunc) HandlerFunc

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

// DeadLetterFunc records a message that will not be handled, with the reason. Only after it
// returns nil may the message be deleted; an error keeps the message in the queue.
type DeadLetterFunc func(ctx context.Context, m *Message, reason error) error

// Outcome says what became of a dispatched message and so what its carrier must do with it.
// The zero Outcome is Retry: a result nobody set keeps the message.
type Outcome int

const (
	// Retry: the message was not handled; keep it so it is delivered again.
	Retry Outcome = iota
	// Handled: a handler succeeded; delete the message.
	Handled
	// DeadLettered: the message was recorded on the dead-letter path; delete it.
	DeadLettered
	// Duplicate: a message with this id was already handled or dead-lettered by this Router;
	// delete it without running the handler again.
	Duplicate
)
