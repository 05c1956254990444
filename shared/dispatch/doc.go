// Package dispatch owns the way one Alicom message reaches the customer's code: the Message a
// handler sees, the handler and middleware function types, the Router (a mux of handlers by
// message type, shaped like net/http's ServeMux), and the policies that decide each message's
// Outcome (Handled, Retry, DeadLettered, Duplicate), which the drain and the push endpoints
// turn into deletes or HTTP statuses.
//
// The handler contract follows watermill: nil means handled and the message may be deleted;
// an error keeps it for redelivery; an error marked Permanent sends it to the dead-letter
// path at once; an error marked Unavailable says the destination, not the message, failed.
//
// Each rule lives once, in a piece of its own, and the Router composes them; carriers (the
// drain, the push endpoints) only call Router.Dispatch. Around a handler, as Middleware:
// Timeout (a handler that hangs or exits its goroutine is abandoned, its message kept) and
// Recover (a panic is an error). A carrier that abandons a hung Dispatch itself says so with
// CallerAbandons, and the Router then runs handlers on the carrier's goroutine instead of one
// of Timeout's, except on a message's last delivery, where only the Router's own abandonment
// leaves time to dead-letter it. Around the whole message, as Policy over DispatchFunc, from
// the outside in: Deduplicate (a message this process finished is a Duplicate; one whose
// handler still runs, even abandoned, is not run again beside it), DeadLetter (record before
// letting go; a failed record keeps the message), Poison (a message failing up to
// Options.MaxAttempts, or whose destination stays Unavailable past Options.OutageHorizon, is
// dead-lettered) and Decode (an undecodable body is dead-lettered at once, an MD5 mismatch is
// retried as a transport fault).
//
// Nothing is lost on the way: only Handled, DeadLettered (after the dead-letter function
// returned nil) and Duplicate let a message go (Outcome.Settled), and every other end,
// including the zero Outcome, a panic, runtime.Goexit and a handler abandoned at its timeout,
// is Retry or the dead-letter path. ReasonCode names every reason with a stable code.
//
// Typed handlers are registered with On (or OnSmsReport, OnSmsUp, ...), which hand the handler
// the decoded receipt by value.
package dispatch
