// Package sink owns the built-in destinations a Router sends messages to, each built from
// configuration as a dispatch.HandlerFunc or dispatch.DeadLetterFunc:
//
//   - Log and DeadLetterLog write each message as one structured record through log/slog;
//     LogSink writes the same records straight to a writer, cheaper (see LogSink).
//   - Webhook posts signed Standard Webhooks requests to the user's receiver, batched.
//   - Forward sends the Alicom body unchanged into the user's own MNS queue or topic.
//
// A record is data, not a diagnostic: what a sink writes is the only trace a deleted message
// leaves, so a failed write is an error and the message is kept. A failure of the destination
// itself (receiver down, 5xx, timeout, refused connection) is marked Unavailable so the Router
// keeps the message instead of counting the failure against it.
package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// Log returns a handler that writes each message as one record "alicom message" at info level
// with the attributes message_type, message_id, dequeue_count, source, enqueue_time (omitted
// when unknown), tag (only for pushed messages that have one) and receipt: the decoded JSON
// object as sent. A message that was never decoded (m.Data nil) is written with its raw body
// instead of receipt. A nil logger means slog.Default().
//
// The record is written through the logger's handler whatever the logger's level (LOG_LEVEL
// filters diagnostics, never records), and a write that fails (a full disk, a closed pipe) is
// returned as an Unavailable error: the message is kept.
func Log(logger *slog.Logger) dispatch.HandlerFunc {
	return func(ctx context.Context, m *dispatch.Message) error {
		if err := writeRecord(ctx, logger, slog.LevelInfo, "alicom message", logAttrs(m)); err != nil {
			return dispatch.Unavailable(fmt.Errorf("sink: the record of message %s could not be written: %w", m.ID, err))
		}
		return nil
	}
}

// DeadLetterLog returns a dead-letter function that writes each message as one record
// "dead-lettered" at error level with message_id, message_type, source, dequeue_count,
// enqueue_time, reason_code (see dispatch.ReasonCode), reason (the error text), body (the raw
// body exactly as MNS stored it: once the message is deleted this record is the only copy left;
// it is customer data, not a secret) and, when the body could be decoded, receipt (the JSON, for
// reading). Like Log it ignores the logger's level, and a failed write is an error, so the
// Router keeps the message. A nil logger means slog.Default().
func DeadLetterLog(logger *slog.Logger) dispatch.DeadLetterFunc {
	return func(ctx context.Context, m *dispatch.Message, reason error) error {
		if err := writeRecord(ctx, logger, slog.LevelError, "dead-lettered", deadLetterAttrs(m, reason)); err != nil {
			return dispatch.Unavailable(fmt.Errorf("sink: the dead-letter record of message %s could not be written: %w", m.ID, err))
		}
		return nil
	}
}

// logAttrs are the attributes of Log's record of m (LogSink writes the same ones).
func logAttrs(m *dispatch.Message) []slog.Attr {
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, messageAttrs(m)...)
	return append(attrs, content(m)...)
}

// deadLetterAttrs are the attributes of DeadLetterLog's record of m (LogSink writes the same
// ones).
func deadLetterAttrs(m *dispatch.Message, reason error) []slog.Attr {
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs, messageAttrs(m)...)
	attrs = append(attrs,
		slog.String("reason_code", dispatch.ReasonCode(reason)),
		slog.String("reason", errorText(reason)),
		slog.String("body", m.Body),
	)
	if receipt, ok := receiptJSON(m); ok {
		attrs = append(attrs, slog.Any("receipt", receipt))
	}
	return attrs
}

// writeRecord hands the record straight to the logger's handler. Logger.LogAttrs would first
// ask the handler whether the level is enabled (and drop the record under LOG_LEVEL=warn), and
// would discard the handler's error, which for slog's text and JSON handlers is the write's.
func writeRecord(ctx context.Context, logger *slog.Logger, level slog.Level, msg string, attrs []slog.Attr) error {
	if logger == nil {
		logger = slog.Default()
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	return logger.Handler().Handle(ctx, r)
}

func messageAttrs(m *dispatch.Message) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("message_type", m.Type),
		slog.String("message_id", m.ID),
		slog.Int64("dequeue_count", m.DequeueCount),
		slog.String("source", m.Source),
	}
	if !m.EnqueueTime.IsZero() {
		attrs = append(attrs, slog.Time("enqueue_time", m.EnqueueTime))
	}
	if m.Tag != "" {
		attrs = append(attrs, slog.String("tag", m.Tag))
	}
	return attrs
}

// content is the receipt, or the raw body when there is no valid decoded JSON to show.
func content(m *dispatch.Message) []slog.Attr {
	if receipt, ok := receiptJSON(m); ok {
		return []slog.Attr{slog.Any("receipt", receipt)}
	}
	return []slog.Attr{slog.String("body", m.Body)}
}

// receiptJSON returns m.Data as a json.RawMessage, which slog's JSON handler writes as a
// nested object rather than a string, when it holds valid JSON. An invalid one would make the
// handler write an error in its place, losing the content; the caller logs the body instead.
func receiptJSON(m *dispatch.Message) (json.RawMessage, bool) {
	if len(m.Data) == 0 || !json.Valid(m.Data) {
		return nil, false
	}
	return json.RawMessage(m.Data), true
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
