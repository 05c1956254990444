package alicom

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// A small JSON reader for the flat objects Alicom sends. encoding/json spends most of a
// receipt's decode time in its validating pre-scan and its reflection walk; this reader
// validates and walks the object in one pass. It is deliberately partial: whenever it meets
// something it does not handle exactly as encoding/json would (an escaped key, a key that only
// matches a field without regard to case, a value of the wrong kind, deep nesting, any
// error), it gives up and the caller falls back to encoding/json, which then produces the
// result or the error. The invariant, checked by FuzzFastPathAgreesWithEncodingJSON and
// FuzzFastPathFieldValues: when the reader succeeds, encoding/json would have succeeded with
// the same value.

// maxFastDepth bounds nesting on the fast path; deeper documents go to encoding/json.
const maxFastDepth = 32

// objIter walks the members of one top-level JSON object, validating as it goes.
type objIter struct {
	data    []byte
	src     string // a copy of data: string fields are cut from it, one allocation for all
	pos     int
	key     []byte // the key without quotes
	keyEsc  bool   // the key contains an escape, so key is not its decoded text
	val     []byte // the member's value, exactly as written
	valAt   int    // where val starts in data (and src)
	started bool
	done    bool // the closing brace and only whitespace after it were read
	failed  bool
}

// next advances to the next member and reports whether there is one. After it returns false,
// ok says whether the whole document was one valid object.
func (it *objIter) next() bool {
	if it.failed || it.done {
		return false
	}
	it.ws()
	if !it.started {
		it.started = true
		if !it.eat('{') {
			return it.fail()
		}
		it.ws()
		if it.eat('}') {
			return it.end()
		}
	} else {
		switch {
		case it.eat(','):
			it.ws()
		case it.eat('}'):
			return it.end()
		default:
			return it.fail()
		}
	}
	start := it.pos
	esc, ok := it.str()
	if !ok {
		return it.fail()
	}
	it.key, it.keyEsc = it.data[start+1:it.pos-1], esc
	it.ws()
	if !it.eat(':') {
		return it.fail()
	}
	it.ws()
	start = it.pos
	if !it.value(0) {
		return it.fail()
	}
	it.val, it.valAt = it.data[start:it.pos], start
	return true
}

// ok reports whether the document was one complete, valid object.
func (it *objIter) ok() bool { return it.done && !it.failed }

func (it *objIter) fail() bool {
	it.failed = true
	return false
}

func (it *objIter) end() bool {
	it.ws()
	if it.pos != len(it.data) {
		return it.fail()
	}
	it.done = true
	return false
}

func (it *objIter) ws() {
	for it.pos < len(it.data) {
		switch it.data[it.pos] {
		case ' ', '\t', '\n', '\r':
			it.pos++
		default:
			return
		}
	}
}

func (it *objIter) eat(c byte) bool {
	if it.pos < len(it.data) && it.data[it.pos] == c {
		it.pos++
		return true
	}
	return false
}

// value skips one valid JSON value.
func (it *objIter) value(depth int) bool {
	if it.pos >= len(it.data) || depth > maxFastDepth {
		return false
	}
	switch c := it.data[it.pos]; {
	case c == '"':
		_, ok := it.str()
		return ok
	case c == '{':
		it.pos++
		it.ws()
		if it.eat('}') {
			return true
		}
		for {
			if _, ok := it.str(); !ok {
				return false
			}
			it.ws()
			if !it.eat(':') {
				return false
			}
			it.ws()
			if !it.value(depth + 1) {
				return false
			}
			it.ws()
			if it.eat('}') {
				return true
			}
			if !it.eat(',') {
				return false
			}
			it.ws()
		}
	case c == '[':
		it.pos++
		it.ws()
		if it.eat(']') {
			return true
		}
		for {
			if !it.value(depth + 1) {
				return false
			}
			it.ws()
			if it.eat(']') {
				return true
			}
			if !it.eat(',') {
				return false
			}
			it.ws()
		}
	case c == 't':
		return it.lit("true")
	case c == 'f':
		return it.lit("false")
	case c == 'n':
		return it.lit("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return it.num()
	}
	return false
}

func (it *objIter) lit(s string) bool {
	if len(it.data)-it.pos >= len(s) && string(it.data[it.pos:it.pos+len(s)]) == s {
		it.pos += len(s)
		return true
	}
	return false
}

// plainByte marks the bytes a string literal may hold as they are: everything except the
// quote, the backslash and control characters.
var plainByte = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

// str skips a string literal and reports whether it held an escape.
func (it *objIter) str() (esc, ok bool) {
	if !it.eat('"') {
		return false, false
	}
	data := it.data
	for {
		i := it.pos
		for i < len(data) && plainByte[data[i]] {
			i++
		}
		it.pos = i
		if i >= len(data) {
			return false, false
		}
		switch data[i] {
		case '"':
			it.pos++
			return esc, true
		case '\\':
			esc = true
			it.pos++
			if it.pos >= len(data) {
				return false, false
			}
			switch data[it.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				it.pos++
			case 'u':
				if len(data)-it.pos < 5 {
					return false, false
				}
				for _, h := range data[it.pos+1 : it.pos+5] {
					if !isHex(h) {
						return false, false
					}
				}
				it.pos += 5
			default:
				return false, false
			}
		default: // a control character
			return false, false
		}
	}
}

// num skips a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (it *objIter) num() bool {
	it.eat('-')
	switch {
	case it.eat('0'):
	case it.pos < len(it.data) && '1' <= it.data[it.pos] && it.data[it.pos] <= '9':
		it.digits()
	default:
		return false
	}
	if it.eat('.') {
		if it.digits() == 0 {
			return false
		}
	}
	if it.eat('e') || it.eat('E') {
		if !it.eat('+') {
			it.eat('-')
		}
		if it.digits() == 0 {
			return false
		}
	}
	return true
}

func (it *objIter) digits() int {
	n := 0
	for it.pos < len(it.data) && '0' <= it.data[it.pos] && it.data[it.pos] <= '9' {
		it.pos++
		n++
	}
	return n
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// newObjIter returns an iterator over data that cuts strings from one shared copy.
func newObjIter(data []byte) objIter {
	return objIter{data: data, src: string(data)}
}

// plainString returns the current value when it is a string literal without escapes and with
// valid UTF-8, cut from src without allocating; ok is false for anything else.
func (it *objIter) plainString() (s string, ok bool) {
	v := it.val
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	in := v[1 : len(v)-1]
	if bytes.IndexByte(in, '\\') >= 0 || !utf8.Valid(in) {
		return "", false
	}
	return it.src[it.valAt+1 : it.valAt+len(v)-1], true
}

// setString stores the current value into dst the way encoding/json does for a string field:
// null leaves dst alone; any other kind of value is refused (the caller falls back and lets
// encoding/json word the error).
func (it *objIter) setString(dst *string) bool {
	if s, ok := it.plainString(); ok {
		*dst = s
		return true
	}
	switch it.val[0] {
	case '"':
		s, err := unquote(it.val)
		if err != nil {
			return false
		}
		*dst = s
		return true
	case 'n':
		return true
	}
	return false
}

// setFlex stores the current value into dst exactly as FlexString.UnmarshalJSON would, cutting
// the text from src where it can.
func (it *objIter) setFlex(dst *FlexString) bool {
	if s, ok := it.plainString(); ok {
		*dst = FlexString(s)
		return true
	}
	if c := it.val[0]; c == '-' || ('0' <= c && c <= '9') {
		// The iterator has already checked the number's grammar.
		*dst = FlexString(it.src[it.valAt : it.valAt+len(it.val)])
		return true
	}
	return dst.UnmarshalJSON(it.val) == nil
}

// validObject reports whether data is one valid JSON object. False may also mean "not sure"
// (deep nesting); callers confirm a false with encoding/json.
func validObject(data []byte) bool {
	it := objIter{data: data}
	for it.next() {
	}
	return it.ok()
}

// unknownKey reports whether an unmatched key is safe to skip: encoding/json also matches a
// key to a field without regard to case (with Unicode folding), so a key that might match one
// of the lower-cased names that way sends the document to encoding/json.
func unknownKey(key []byte, lowerNames []string) bool {
	for _, c := range key {
		if c >= 0x80 {
			return false
		}
	}
	for _, n := range lowerNames {
		if len(n) == len(key) && equalFoldBytes(key, n) {
			return false
		}
	}
	return true
}

// equalFoldBytes is equalFold for a byte slice, without converting it to a string.
func equalFoldBytes(b []byte, lowerASCII string) bool {
	if len(b) != len(lowerASCII) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lowerASCII[i] {
			return false
		}
	}
	return true
}

// lowerAll folds the ASCII letters of field names, once, for unknownKey.
func lowerAll(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}
