package alicom

import (
	"reflect"
	"slices"
	"strings"
	"sync"
)

// fieldNames caches the member names of each payload type; a type's fields never change.
var fieldNames sync.Map // reflect.Type -> []string, sorted

// FieldNames returns the JSON member names a body of messageType is decoded from, sorted, in
// a new slice: the names of its payload's fields as Parse matches them (exactly, in the letter
// case Alicom writes them), including those of embedded structs such as the international
// receipt's fields of SmsReport. It returns nil for a type parsed as Raw. A receiver can use
// it to tell whether a JSON object looks like a message of messageType at all.
func FieldNames(messageType string) []string {
	zero, ok := Zero(messageType)
	if !ok {
		return nil
	}
	t := reflect.TypeOf(zero)
	if names, ok := fieldNames.Load(t); ok {
		return slices.Clone(names.([]string))
	}
	set := map[string]bool{}
	collectFieldNames(t, set, map[reflect.Type]bool{})
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	fieldNames.Store(t, names)
	return slices.Clone(names)
}

// collectFieldNames adds the member names of struct type t to into, by the rules of
// encoding/json/v2, which Parse decodes with: a field tagged "-" and an unexported field are
// not members; the tag's name, else the field's name, is the member's name; an embedded struct
// without a tag name, or a field tagged inline, contributes its own fields instead.
func collectFieldNames(t reflect.Type, into map[string]bool, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return
	}
	seen[t] = true
	for i := range t.NumField() {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := slices.Contains(strings.Split(opts, ","), "inline")
		if inline || (f.Anonymous && name == "" && isStruct(f.Type)) {
			collectFieldNames(f.Type, into, seen)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if !hasTag || name == "" {
			name = f.Name
		}
		into[name] = true
	}
}

func isStruct(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}
