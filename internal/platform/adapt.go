package platform

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
)

// The FC and Lambda adapters differ only in what the runtime SDKs call things: how an
// invocation describes itself, how an HTTP event reads and is answered, and the type of the
// error document. What is done with them is written once here.

// readInvocation reads what the platform says about the invocation in ctx and returns the
// context the handler runs with.
type readInvocation func(ctx context.Context) (context.Context, Invocation)

// errorDocument makes the error document the platform records from the stable type and message.
type errorDocument func(typ, message string) error

// eventHandler adapts h to a platform's event invocations.
func eventHandler(h Handler, log *slog.Logger, invocation readInvocation, doc errorDocument) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, event json.RawMessage) (any, error) {
		ctx, inv := invocation(ctx)
		trig, err := ParseTrigger(event)
		if err != nil {
			return nil, invocationFailure(ctx, log, doc, err, nil)
		}
		inv.Trigger = trig
		res, err := h(ctx, inv)
		if err != nil {
			return nil, invocationFailure(ctx, log, doc, err, res)
		}
		return res, nil
	}
}

// invocationFailure logs the failure and returns the platform's error document, with the
// stable type rather than the Go type of the error (joinError, wrapError, ...).
func invocationFailure(ctx context.Context, log *slog.Logger, doc errorDocument, err error, result any) error {
	logFailure(ctx, log, "invocation failed", err, result)
	return doc(string(TypeOf(err)), failureMessage(err, result))
}

// httpEventHandler adapts h to a platform's HTTP events of type E: request converts an event,
// and answer makes the platform's R from the status, flattened headers and body (base64 when
// b64 says so).
func httpEventHandler[E, R any](h http.Handler, log *slog.Logger, opts HTTPOptions, invocation readInvocation,
	request func(context.Context, *E, HTTPOptions) (*http.Request, error),
	answer func(status int, headers map[string]string, body string, b64 bool) R,
) func(context.Context, E) (R, error) {
	return func(ctx context.Context, ev E) (R, error) {
		ctx, _ = invocation(ctx)
		req, err := request(ctx, &ev, opts)
		var resp response
		if err != nil {
			resp = badRequest(ctx, log, err)
		} else {
			resp = serve(h, req, opts)
		}
		body, b64 := resp.encodedBody()
		return answer(resp.status, flatten(resp.header), body, b64), nil
	}
}
