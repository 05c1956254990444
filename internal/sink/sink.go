// Package sink owns the built-in handlers a Router can send messages to: Log, the default
// handler that writes each message as one structured log line, and DeadLetterLog, the
// dead-letter function that writes a refused message, raw body included, at error level.
// Both render through log/slog, so under a JSON handler the decoded receipt appears as a
// nested JSON object, ready for a log service to index.
package sink

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// Log returns a handler that logs each message at info level as "alicom message" with the
// attributes message_type, message_id, dequeue_count, source, enqueue_time (omitted when
// unknown), tag (only for pushed messages that have one) and receipt: the decoded JSON object
// as sent. A message that was never decoded (m.Data nil) is logged with its raw body instead
// of receipt. It always returns nil: logging is the handling. A nil logger means
// slog.Default().
func Log(logger *slog.Logger) dispatch.HandlerFunc {
	return func(ctx context.Context, m *dispatch.Message) error {
		l := logger
		if l == nil {
			l = slog.Default()
		}
		if !l.Enabled(ctx, slog.LevelInfo) {
			return nil
		}
		attrs := make([]slog.Attr, 0, 7)
		attrs = append(attrs, messageAttrs(m)...)
		attrs = append(attrs, content(m)...)
		l.LogAttrs(ctx, slog.LevelInfo, "alicom message", attrs...)
		return nil
	}
}

// DeadLetterLog returns a dead-letter function that logs each message at error level as
// "dead-lettered" with message_id, message_type, source, dequeue_count, enqueue_time,
// reason_code (see dispatch.ReasonCode), reason (the error text), body (the raw body exactly as
// MNS stored it: once the message is deleted this line is the only copy left; it is customer
// data, not a secret) and, when the body could be decoded, receipt (the JSON, for reading). It
// always returns nil. A nil logger means slog.Default().
func DeadLetterLog(logger *slog.Logger) dispatch.DeadLetterFunc {
	return func(ctx context.Context, m *dispatch.Message, reason error) error {
		l := logger
		if l == nil {
			l = slog.Default()
		}
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
		l.LogAttrs(ctx, slog.LevelError, "dead-lettered", attrs...)
		return nil
	}
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
