// Package mnslocal is a local emulator of the Alibaba Cloud MNS queue REST API and of the
// Dybaseapi QueryTokenForMnsQueue RPC that hands out STS tokens for Alicom queues.
//
// It owns everything an MNS client can observe: queue semantics (visibility, receipt
// handles, priorities, delays, retention, long polling), the wire format (status codes,
// XML namespace and layout, headers), request authentication (MNS HMAC-SHA1 signatures,
// Date skew, customer keys and the STS credentials it issues itself, with per-queue scope),
// the Dybaseapi RPC (signature version 1.0, JSON or XML answers), topics with signed HTTP
// push (XML, JSON and SIMPLIFIED notifications, RSA-SHA1 signatures by a key whose
// certificate it serves, retries per notify strategy), injected latency and faults, and
// statistics. Official MNS SDKs of any language work against it unchanged
// apart from their endpoint.
//
// It deliberately shares no code with the client side of this project: a bug copied into
// both halves would hide itself in every test.
//
// Tests start it with Start(Config{Addr: "127.0.0.1:0"}) and stop it with Close;
// cmd/mnslocal serves it as a standalone program.
package mnslocal
