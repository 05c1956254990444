package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"strings"
)

// ErrorType is the stable name of a class of failure. It is the errorType the platform records
// for a failed invocation and the error_type of the failure's log line, so alarms and log
// queries can rely on it.
type ErrorType string

// The classes of failure the functions report.
const (
	// ConfigError: a setting is missing or wrong; nothing will work until it is changed.
	ConfigError ErrorType = "ConfigError"
	// EventError: the invocation's event is not one this function takes (a mis-wired trigger).
	EventError ErrorType = "EventError"
	// CredentialsError: the caller's own keys are missing or were refused.
	CredentialsError ErrorType = "CredentialsError"
	// TokenError: Dybaseapi gave no Alicom queue token.
	TokenError ErrorType = "TokenError"
	// QueueError: a queue could not be drained (missing, access denied, unreachable).
	QueueError ErrorType = "QueueError"
	// InternalError: anything else; a bug if it persists.
	InternalError ErrorType = "InternalError"
)

// Error is a failure with its class. Functions return it (or wrap it) so the platform records
// a meaningful type instead of the Go type of whatever error came last.
type Error struct {
	Type ErrorType
	Err  error
	// Details, when set, is logged with the failure as "details" (for a configuration error:
	// each variable and what it expects).
	Details any
}

// Fail returns err marked with its class; nil stays nil.
func Fail(t ErrorType, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Type: t, Err: err}
}

// Error returns the underlying error's text.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// TypeOf returns the class of err: the type of the first Error in its chain, EventError for an
// event no adapter recognises, InternalError otherwise.
func TypeOf(err error) ErrorType {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Type
	case errors.Is(err, ErrUnknownEvent):
		return EventError
	default:
		return InternalError
	}
}

func detailsOf(err error) any {
	var e *Error
	if errors.As(err, &e) {
		return e.Details
	}
	return nil
}

// failureMessage is the errorMessage the platform records for a failed invocation: the error,
// and the result of the part that worked, so that one failing queue does not hide the report of
// the others. It is JSON so that a destination or a console can read both.
func failureMessage(err error, result any) string {
	if result == nil {
		return err.Error()
	}
	b, merr := json.Marshal(struct {
		Error  string `json:"error"`
		Result any    `json:"result"`
	}{err.Error(), result})
	if merr != nil {
		return err.Error()
	}
	return string(b)
}

// logFailure writes the one line that ends a failed invocation.
func logFailure(ctx context.Context, logger *slog.Logger, msg string, err error, result any) {
	attrs := []slog.Attr{
		slog.String("error_type", string(TypeOf(err))),
		slog.String("error", err.Error()),
	}
	if id := RequestID(ctx); id != "" {
		attrs = append([]slog.Attr{slog.String("request_id", id)}, attrs...)
	}
	if d := detailsOf(err); d != nil {
		attrs = append(attrs, slog.Any("details", d))
	}
	if result != nil {
		attrs = append(attrs, slog.Any("result", result))
	}
	logger.LogAttrs(context.WithoutCancel(ctx), slog.LevelError, msg, attrs...)
}

// routeSDKLog makes the runtime SDKs' own log lines JSON: both write through the standard
// library's log package, in plain text, and both print the error document of every failed
// invocation, which logFailure has already written as the invocation's last line. Those copies
// are dropped; anything else the SDKs say becomes a JSON line of its own.
func routeSDKLog(logger *slog.Logger) {
	log.SetFlags(0)
	log.SetPrefix("")
	log.SetOutput(sdkLog{logger})
}

type sdkLog struct{ logger *slog.Logger }

func (s sdkLog) Write(p []byte) (int, error) {
	text := strings.TrimSpace(string(p))
	if i := strings.IndexByte(text, '{'); i >= 0 {
		var doc struct {
			Type *string `json:"errorType"`
		}
		if json.Unmarshal([]byte(text[i:]), &doc) == nil && doc.Type != nil {
			return len(p), nil
		}
	}
	s.logger.LogAttrs(context.Background(), slog.LevelWarn, "runtime", slog.String("line", string(bytes.TrimSpace(p))))
	return len(p), nil
}
