// Package alicom owns what an Alicom business message is, whichever way it arrives (an MNS
// queue body, an MNS topic push, an item of Alicom's HTTP batch push): the registry of message
// types and their typed payloads (SmsReport, SmsUp, VoiceReport, ...), each type's business
// key, the lenient scalar types that absorb the places where Alibaba's documents contradict
// each other, Beijing time (the zone, and parsing that depends neither on the machine's zone
// nor on tzdata), the normalized JSON form of every payload, and the decoding of an MNS body
// (MD5 check, base64, JSON) into those types. It does no I/O.
//
// The registry (Register, in registry.go) is the one list of message types: Parse and Decode,
// KnownTypes, IsKnown, Zero, TypeOf, TypeNames, Key and ItemID read it, and so do the typed
// handlers of package dispatch. Adding a type is one struct and one Register call.
//
// The one-call path for a queue body is Decode(messageType, body, bodyMD5); DecodeBody and
// Parse are its two halves, and Parse alone turns one item of an HTTP batch push into the same
// value. Every failure is a *DecodeError whose Reason says which step refused the body, and
// which errors.Is matches against ErrMD5Mismatch, ErrBase64, ErrNotJSON or ErrFields. A type
// without a registered payload is not an error: it parses to Raw.
//
// json.Marshal of every registered payload gives the normalized form: times RFC 3339 in
// +08:00 (null when absent), booleans as booleans, quantities and status numbers as numbers,
// identifiers as strings, whatever variant Alicom sent; Raw marshals as the JSON it holds.
package alicom
