package alicom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	jsonv2 "github.com/go-json-experiment/json"
)

// The registry is the one list of message types: Parse, Decode, KnownTypes, IsKnown, Zero,
// TypeOf, TypeNames, Key and ItemID all read it, and so do dispatch's typed handlers. Adding a
// type to this package is one struct (with a Key method if the type has a business key) and
// one Register call in init below.
func init() {
	Register[SmsReport](TypeSmsReport)
	Register[SmsUp](TypeSmsUp)
	Register[VoiceReport](TypeVoiceReport)
	Register[VoiceCallReport](TypeVoiceCallReport)
	Register[DypnsSmsVerifyReport](TypeDypnsSmsVerifyReport)
	Register[MnsCardTemplate](TypeMnsCardTemplate)

	// Types Alicom documents without a struct here (their field lists are unconfirmed or
	// rarely used): their bodies parse to Raw, but their names are known, so an MNS topic
	// push can be typed by its MessageTag.
	registerNames("FlowReport", "SignSmsReport", "TemplateSmsReport", "VoiceRecordReport",
		"VoiceRTASRReport", "GlobeSmsReport")
}

// Keyer is implemented by payload types that carry a business key: an identity that belongs to
// the event itself (ids Alicom assigns, or fields that together do not repeat), stable across
// redeliveries and across delivery modes (queue, MNS topic push, HTTP batch push). Key calls
// the method of a registered payload.
type Keyer interface {
	// Key returns the business key, or "" when the fields that make it up are missing.
	Key() string
}

// entry is one registered message type. A name registered without a struct has a nil goType
// and parses to Raw.
type entry struct {
	name   string
	goType reflect.Type
	zero   any
	parse  func(data []byte) (any, error)
}

// registry is replaced whole on every registration (copy on write), so lookups on the hot
// path are one atomic load and a map read, without a lock.
type registry struct {
	byName map[string]*entry
	byType map[reflect.Type]*entry
	order  []*entry // registration order
}

var (
	current    atomic.Pointer[registry]
	registerMu sync.Mutex // serialises writers; readers never take it
)

func lookup(messageType string) *entry {
	if r := current.Load(); r != nil {
		return r.byName[messageType]
	}
	return nil
}

// Register makes T the payload of messageType: Parse and Decode decode bodies of that type
// into a T (returned by value), Zero returns T's zero value, TypeOf maps a T back to
// messageType, and when T implements Keyer, Key and ItemID use its Key method. Bodies are
// decoded with encoding/json/v2 and unmarshalOptions (member names match T's json names
// exactly, unlike encoding/json), so T's fields (or their types' UnmarshalJSON methods) decide
// what is accepted; the contract of this package is that json.Marshal of a registered payload
// gives the normalized form (times RFC 3339 in +08:00, booleans as booleans, numbers as
// numbers), so a T registered from outside should keep it too.
//
// Register is meant to be called from an init function or a package-level variable
// declaration; it is safe to call concurrently with everything else, but messages parsed
// before it returns are not re-typed. It panics when messageType is empty or already has a
// payload type, when T is already the payload of another type, and when T is an interface, a
// pointer or Raw: each would make a type's payload ambiguous.
func Register[T any](messageType string) {
	t := reflect.TypeFor[T]()
	switch {
	case messageType == "":
		panic("alicom: Register with an empty message type")
	case t.Kind() == reflect.Interface || t.Kind() == reflect.Pointer:
		panic(fmt.Sprintf("alicom: Register[%s](%q): the payload must be a concrete value type, not %s", t, messageType, t.Kind()))
	case t == reflect.TypeFor[Raw]():
		panic(fmt.Sprintf("alicom: Register[Raw](%q): unregistered types already parse to Raw", messageType))
	}
	add(&entry{
		name:   messageType,
		goType: t,
		zero:   *new(T),
		parse: func(data []byte) (any, error) {
			var v T
			if err := jsonv2.Unmarshal(data, &v, unmarshalOptions); err != nil {
				return nil, err
			}
			return v, nil
		},
	})
}

// registerNames lists message types that have no struct: known by name, parsed to Raw.
func registerNames(names ...string) {
	for _, n := range names {
		add(&entry{name: n})
	}
}

func add(e *entry) {
	registerMu.Lock()
	defer registerMu.Unlock()
	var order []*entry
	if old := current.Load(); old != nil {
		order = slices.Clone(old.order)
	}
	replaced := false
	for i, o := range order {
		if o.name == e.name {
			if o.goType != nil {
				panic(fmt.Sprintf("alicom: message type %q is already registered with payload %s", e.name, o.goType))
			}
			order[i] = e // a name-only entry becomes typed, keeping its place
			replaced = true
			continue
		}
		if e.goType != nil && o.goType == e.goType {
			panic(fmt.Sprintf("alicom: %s is already the payload of %q; it cannot also be that of %q", e.goType, o.name, e.name))
		}
	}
	if !replaced {
		order = append(order, e)
	}
	next := &registry{byName: map[string]*entry{}, byType: map[reflect.Type]*entry{}, order: order}
	for _, o := range order {
		next.byName[o.name] = o
		if o.goType != nil {
			next.byType[o.goType] = o
		}
	}
	current.Store(next)
}

// KnownTypes returns the message types that parse into a typed value, in registration order,
// in a new slice the caller may keep. Every other type parses to Raw.
func KnownTypes() []string {
	var out []string
	for _, e := range current.Load().order {
		if e.goType != nil {
			out = append(out, e.name)
		}
	}
	return out
}

// TypeNames returns every message type name the registry holds, in registration order and in
// a new slice: the typed ones (KnownTypes) and the ones Alicom documents whose bodies this
// package keeps as Raw (FlowReport, SignSmsReport, ...). A receiver that types messages by a
// name it is given, such as an MNS topic push by its MessageTag, matches against this list.
func TypeNames() []string {
	order := current.Load().order
	out := make([]string, len(order))
	for i, e := range order {
		out[i] = e.name
	}
	return out
}

// IsKnown reports whether Parse decodes messageType into a typed value rather than Raw.
func IsKnown(messageType string) bool {
	e := lookup(messageType)
	return e != nil && e.goType != nil
}

// Zero returns the zero payload value Parse produces for messageType (for example SmsReport{}
// for "SmsReport"), and false for a type parsed as Raw. Routers use it to check at
// registration that a typed handler asks for the type it will be given.
func Zero(messageType string) (any, bool) {
	if e := lookup(messageType); e != nil && e.goType != nil {
		return e.zero, true
	}
	return nil, false
}

// TypeOf returns the message type whose payload has the dynamic type of payload (for example
// "SmsReport" for an SmsReport value), or "" for Raw, nil and types never registered. It is
// how a typed handler finds the message type from the payload type it takes.
func TypeOf(payload any) string {
	if payload == nil {
		return ""
	}
	if e := current.Load().byType[reflect.TypeOf(payload)]; e != nil {
		return e.name
	}
	return ""
}

// Key returns the business key of a payload of messageType (see Keyer), so the same receipt
// has the same key however often and by whichever route (queue, MNS topic push, HTTP batch
// push) it arrives. It returns "" when the type has no business key, when the payload is not
// the registered payload of messageType (Raw included), and when the fields that make up the
// key are missing. The keys are:
//
//   - SmsReport and DypnsSmsVerifyReport: biz_id + ":" + phone_number; for an international
//     receipt MessageId + ":" + To.
//   - SmsUp: phone_number + ":" + dest_code + ":" + sequence_id + ":" + send_time as
//     yyyyMMddHHmmss in Beijing time (so both documented time forms give the same key);
//     Alicom gives an inbound SMS no id of its own, and sequence_id is not documented to be
//     unique on its own. Needs phone_number and sequence_id.
//   - VoiceReport: call_id (one record per call).
//   - VoiceCallReport: call_id + ":" + status_code + ":" + status_time as yyyyMMddHHmmss (a
//     call reports several statuses).
//   - MnsCardTemplate: none; a template is audited again after every change and the result
//     carries nothing that tells two audits apart.
func Key(messageType string, payload any) string {
	e := lookup(messageType)
	if e == nil || e.goType == nil || payload == nil || reflect.TypeOf(payload) != e.goType {
		return ""
	}
	if k, ok := payload.(Keyer); ok {
		return k.Key()
	}
	return ""
}

// ItemID returns a stable message id for one item of an Alicom HTTP batch push, which, unlike
// an MNS message, comes without an id: the business key (Key) when the type has one and the
// item fills it, otherwise "sha256-" followed by the first 32 hex digits of the SHA-256 of
// the item's JSON with insignificant whitespace removed (raw as given when it is not valid
// JSON). Alicom retries a batch with the same items, so a retried item gets the same id and
// deduplication recognises it.
func ItemID(messageType string, payload any, raw []byte) string {
	if k := Key(messageType, payload); k != "" {
		return k
	}
	var buf bytes.Buffer
	data := raw
	if json.Compact(&buf, raw) == nil {
		data = buf.Bytes()
	}
	sum := sha256.Sum256(data)
	return "sha256-" + hex.EncodeToString(sum[:16])
}
