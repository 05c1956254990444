// Package mnspush owns the receiving end of MNS topic push: it verifies that an HTTP request
// really comes from MNS (RSA-SHA1 signature over the request as received, checked with the
// public key of a certificate fetched only from allow-listed URLs, a Date window against
// replays, the body bound to the signature through Content-MD5), parses the notification in
// its XML, JSON or SIMPLIFIED format, and hands the message to the same dispatch as the
// queue drain, answering MNS with the status that makes it stop or retry. Deduplication,
// panic recovery and the poison rule are the Router's; this package only bounds the dispatch
// by the time MNS waits for an answer.
//
// The package knows no platform: Endpoint is an http.Handler (served by internal/push beside
// Alicom's push), and its Handle method takes a plain Request that is already read.
package mnspush
