package alicompush

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
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
// registry knows has none of that type's fields: a receipt always carries some, whatever
// variant of the schema Alicom sent. Items of other types are not checked.
func checkType(messageType string, items []json.RawMessage) error {
	fields := fieldsOf(messageType)
	if fields == nil {
		return nil
	}
	for i, it := range items {
		var members map[string]json.RawMessage
		if err := json.Unmarshal(it, &members); err != nil {
			return fmt.Errorf("%w: item %d: %v", ErrNotBatch, i, err)
		}
		match := false
		names := make([]string, 0, len(members))
		for name := range members {
			if fields[strings.ToLower(name)] {
				match = true
				break
			}
			names = append(names, name)
		}
		if !match {
			return fmt.Errorf("%w: item %d of %s has none of its fields (it has %s)", ErrTypeMismatch, i, messageType, quoteNames(names))
		}
	}
	return nil
}

var fieldCache sync.Map // message type -> map[string]bool, lower-cased JSON names

// fieldsOf returns the JSON member names of the registry's type for messageType, lower-cased
// (encoding/json matches names case-insensitively too), or nil for a type parsed as Raw.
func fieldsOf(messageType string) map[string]bool {
	if f, ok := fieldCache.Load(messageType); ok {
		return f.(map[string]bool)
	}
	zero, ok := alicom.Zero(messageType)
	if !ok {
		return nil
	}
	fields := map[string]bool{}
	collectFields(reflect.TypeOf(zero), fields)
	fieldCache.Store(messageType, fields)
	return fields
}

func collectFields(t reflect.Type, into map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			collectFields(f.Type, into)
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		into[strings.ToLower(name)] = true
	}
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
