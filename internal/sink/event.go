package sink

import (
	"encoding/json"
	"fmt"

	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// Event is the JSON object the webhook sink posts for one message, and what the MNS
// dead-letter queue receives: the public contract documented in docs/webhook.md, which
// receivers in other languages implement. Keep the field names.
type Event struct {
	// Type is the Alicom message type (SmsReport, SmsUp, ...).
	Type string `json:"type"`
	// MessageID is the MNS message id.
	MessageID string `json:"message_id"`
	// DequeueCount is how many times the queue has delivered the message, this time included.
	DequeueCount int64 `json:"dequeue_count"`
	// EnqueueTime is when the message entered the queue, RFC 3339 in UTC; null when unknown.
	EnqueueTime *string `json:"enqueue_time"`
	// Source is the queue (or topic) the message came from.
	Source string `json:"source"`
	// Key is the idempotency key: the business key where the type has one (SmsReport:
	// biz_id and phone_number), else the message id.
	Key string `json:"key"`
	// Data is the typed fields, normalized: times RFC 3339 in +08:00, booleans as booleans,
	// numbers as numbers, whatever variant Alicom sent. null when the body could not be read.
	Data json.RawMessage `json:"data"`
	// Raw is the decoded JSON text exactly as Alicom sent it; "" when the body could not be
	// decoded.
	Raw string `json:"raw"`
	// DeadLetter is set on dead-letter events only.
	DeadLetter *DeadLetterInfo `json:"dead_letter,omitempty"`
	// Body is the MNS message body exactly as stored (base64 of the JSON), on dead-letter
	// events only: when the body could not be decoded it is the only copy left.
	Body string `json:"body,omitempty"`
}

// DeadLetterInfo says why a message was dead-lettered.
type DeadLetterInfo struct {
	// ReasonCode is one of dispatch's Reason* codes (attempts-exhausted, permanent, json, ...).
	ReasonCode string `json:"reason_code"`
	// Reason is the error text.
	Reason string `json:"reason"`
}

// Batch is the body of a webhook request carrying more than one event.
type Batch struct {
	Messages []Event `json:"messages"`
}

// BatchAnswer is what a receiver may answer to a batch (AWS Lambda's partial-batch shape): the
// events listed failed and are kept for redelivery, every other one was handled.
type BatchAnswer struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
}

// BatchItemFailure names one failed event by its message_id.
type BatchItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}

// enqueueTimeFormat is RFC 3339 with milliseconds, the precision MNS keeps.
const enqueueTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// NewEvent builds the event of a decoded message. The data field is json.Marshal of the typed
// payload, which shared/alicom guarantees to be the normalized form.
func NewEvent(m *dispatch.Message) (Event, error) {
	e := Event{
		Type: m.Type, MessageID: m.ID, DequeueCount: m.DequeueCount, Source: m.Source,
		Key: m.Key, Raw: string(m.Data), Data: json.RawMessage("null"),
	}
	if !m.EnqueueTime.IsZero() {
		t := m.EnqueueTime.UTC().Format(enqueueTimeFormat)
		e.EnqueueTime = &t
	}
	if m.Payload != nil {
		data, err := json.Marshal(m.Payload)
		if err != nil {
			return Event{}, fmt.Errorf("sink: the payload of message %s (%s) does not marshal: %w", m.ID, m.Type, err)
		}
		e.Data = data
	}
	return e, nil
}

// NewDeadLetterEvent builds the dead-letter event of a message: the event, whatever of it
// could be decoded, plus the reason and the raw MNS body.
func NewDeadLetterEvent(m *dispatch.Message, reason error) Event {
	e, err := NewEvent(m)
	if err != nil {
		// The payload cannot be shown; the raw text and body still say everything.
		m2 := *m
		m2.Payload = nil
		e, _ = NewEvent(&m2)
	}
	e.DeadLetter = &DeadLetterInfo{ReasonCode: dispatch.ReasonCode(reason), Reason: errorText(reason)}
	e.Body = m.Body
	return e
}
