// Package dispatch owns the way one Alicom message reaches the customer's code: the Message a
// handler sees, handler and middleware function types, the Router that picks a handler by message
// type, and the outcome rules (handled, kept for redelivery, dead-lettered, duplicate) that the
// drain and the push endpoint turn into deletes or HTTP statuses.
//
// The contract follows watermill: a handler that returns nil has handled the message and it may
// be deleted; an error keeps it for redelivery; an error wrapped with Permanent sends it to the
// dead-letter path at once.
package dispatch
