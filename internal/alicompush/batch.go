package alicompush

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

// ErrNotBatch: the body is not a JSON array of objects (answered 400).
var ErrNotBatch = errors.New("alicompush: body is not a JSON array of objects")

// ErrTypeMismatch: the items do not look like messages of the type the path names (answered
// 422): most likely the console's callback URL for one type points at another type's path.
var ErrTypeMismatch = errors.New("alicompush: items do not match the message type of the path")

// ParseBatch splits a push body into its items, each a JSON object as sent. Errors wrap
// ErrNotBatch and say where the body went wrong, without quoting it.
func ParseBatch(body []byte) ([]json.RawMessage, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, fmt.Errorf("%w: invalid JSON at byte %d of %d", ErrNotBatch, syn.Offset, len(body))
		case errors.As(err, &typ):
			return nil, fmt.Errorf("%w: the body is a JSON %s", ErrNotBatch, typ.Value)
		}
		return nil, fmt.Errorf("%w: %d bytes that do not parse as JSON (%v)", ErrNotBatch, len(body), err)
	}
	if items == nil {
		return nil, fmt.Errorf("%w: the body is JSON null", ErrNotBatch)
	}
	for i, it := range items {
		if t := bytes.TrimLeft(it, " \t\r\n"); len(t) == 0 || t[0] != '{' {
			return nil, fmt.Errorf("%w: item %d is not an object", ErrNotBatch, i)
		}
	}
	return items, nil
}

// checkType returns an error wrapping ErrTypeMismatch when an item of a type the alicom
// registry knows does not look like a message of that type: it has none of the type's fields,
// or more of another registered type's fields than of its own (an SmsUp sent to the
// SmsReport path shares phone_number, send_time and sign_name with a receipt, but has
// content, dest_code and sequence_id besides). A receipt always carries most of its fields,
// whatever variant of the schema Alicom sent, so a member Alicom adds later does not make it
// a mismatch. Items of other types are not checked.
func checkType(messageType string, items []json.RawMessage) error {
	own := fieldsOf(messageType)
	if own == nil {
		return nil
	}
	for i, it := range items {
		var members map[string]json.RawMessage
		if err := json.Unmarshal(it, &members); err != nil {
			return fmt.Errorf("%w: item %d: %v", ErrNotBatch, i, err)
		}
		mine := own.count(members)
		if mine == 0 {
			names := make([]string, 0, len(members))
			for name := range members {
				names = append(names, name)
			}
			slices.Sort(names)
			return fmt.Errorf("%w: item %d of %s has none of its fields (it has %s)", ErrTypeMismatch, i, messageType, quoteNames(names))
		}
		for _, other := range alicom.KnownTypes() {
			if other == messageType {
				continue
			}
			if theirs := fieldsOf(other).count(members); theirs > mine {
				return fmt.Errorf("%w: item %d of %s looks like a %s: it has %d of that type's fields and %d of its own", ErrTypeMismatch, i, messageType, other, theirs, mine)
			}
		}
	}
	return nil
}

// fieldSet is the JSON member names of a registered type (alicom.FieldNames).
type fieldSet map[string]bool

// count returns how many of members are fields of the set.
func (f fieldSet) count(members map[string]json.RawMessage) int {
	n := 0
	for name := range members {
		if f[name] {
			n++
		}
	}
	return n
}

var fieldCache sync.Map // message type -> fieldSet

// fieldsOf returns the member names of the registry's type for messageType, matched exactly
// as the registry's decoder matches them, or nil for a type parsed as Raw.
func fieldsOf(messageType string) fieldSet {
	if f, ok := fieldCache.Load(messageType); ok {
		return f.(fieldSet)
	}
	names := alicom.FieldNames(messageType)
	if names == nil {
		return nil
	}
	f := make(fieldSet, len(names))
	for _, n := range names {
		f[n] = true
	}
	fieldCache.Store(messageType, f)
	return f
}

// itemID is the message id of an item, prefixed with its type: alicom.ItemID, the business key
// where the type has one, so that a receipt Alicom sends twice, in any batch, is recognised;
// else a digest of the item's compacted JSON, which a retry of the same batch repeats byte for
// byte.
func itemID(messageType string, payload any, raw []byte) string {
	return messageType + "/" + alicom.ItemID(messageType, payload, raw)
}

// quoteNames renders attacker-chosen member names for a log line: a few, quoted, truncated.
func quoteNames(names []string) string {
	const max = 5
	var b strings.Builder
	for i, n := range names {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(names)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(n))
	}
	if b.Len() == 0 {
		return "no members"
	}
	return b.String()
}

// quote renders an untrusted value for logs: truncated, then Go-quoted.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
