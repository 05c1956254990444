// Command noophandler is the drain function with a handler that does nothing, for cmd/bench
// only: shared/app.Main wired as functions/alicom-drain is, with a no-op handler registered for
// every known message type in place of the log sink. The bench runs it beside the function to
// tell the client's own CPU per message (signing, request building, receive decoding,
// dispatch, delete) from the sink's (the log sink's JSON record and its write).
package main

import (
	"context"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/app"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

func main() {
	app.Main(func(r *dispatch.Router) {
		for _, t := range alicom.KnownTypes() {
			r.Handle(t, func(context.Context, *dispatch.Message) error { return nil })
		}
	})
}
