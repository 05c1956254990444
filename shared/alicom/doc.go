// Package alicom owns what an Alicom business message is once it leaves the queue: the typed
// bodies (SmsReport, SmsUp, VoiceReport, ...), the lenient scalar types that absorb the places
// where Alibaba's documents contradict each other, Beijing-time parsing that does not depend on
// the machine's zone or on tzdata, and the decoding of an MNS body (MD5 check, base64, JSON)
// into those types. It does no I/O.
//
// The one-call path is Decode(messageType, body, bodyMD5). DecodeBody and Parse are its two
// halves for callers that need them apart. Every failure is a *DecodeError whose Reason says
// which step refused the body, and which errors.Is matches against ErrMD5Mismatch, ErrBase64,
// ErrNotJSON or ErrFields. A type the package does not model is not an error: it parses to Raw.
package alicom
