// Package dispatch owns the way one Alicom message reaches the customer's code: the Message a
// handler sees, handler and middleware function types, the Router that picks a handler by message
// type, and the outcome rules (handled, kept for redelivery, dead-lettered, duplicate) that the
// drain and the push endpoint turn into deletes or HTTP statuses.
//
// The contract follows watermill: a handler that returns nil has handled the message and it may
// be deleted; an error keeps it for redelivery; an error wrapped with Permanent sends it to the
// dead-letter path at once.
//
// Router.Dispatch is the one entry point for both carriers. It decodes the body with package
// alicom (a body that cannot be decoded is dead-lettered at once: no retry can fix it), runs
// the handler for the message type inside Recover, Timeout and the customer's middleware, and
// turns the result into an Outcome: nil is Handled; a Permanent error, or any error on a
// delivery whose DequeueCount reached Options.MaxAttempts (a poison message), is
// DeadLettered; other errors are Retry. Nothing is lost on the way: a dead-letter function that
// fails turns the outcome back into Retry. Handled and dead-lettered ids are remembered, so the
// same message delivered again is a Duplicate and its handler is not run twice.
//
// Typed handlers are registered with On (or OnSmsReport, OnSmsUp, ...), which hand the handler
// the decoded receipt by value.
package dispatch
