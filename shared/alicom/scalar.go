package alicom

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FlexString is a string that the wire sends either as a JSON string or as a JSON number. A
// number is kept as its literal text, digit for digit (no float64 round trip), so
// 98765432109876543210 stays "98765432109876543210". null is "". It marshals as a JSON
// string.
type FlexString string

// UnmarshalJSON accepts a JSON string, a JSON number or null.
func (s *FlexString) UnmarshalJSON(b []byte) error {
	b = trimSpace(b)
	if len(b) == 0 {
		return typeError("empty value", s)
	}
	switch c := b[0]; {
	case c == '"':
		v, err := unquote(b)
		if err != nil {
			return err
		}
		*s = FlexString(v)
		return nil
	case c == '-' || ('0' <= c && c <= '9'):
		if !json.Valid(b) {
			return typeError("malformed number "+quoteShort(b), s)
		}
		*s = FlexString(b)
		return nil
	case string(b) == "null":
		*s = ""
		return nil
	}
	return typeError(describe(b)+" (want a string or a number)", s)
}

// MarshalJSON writes the value as a JSON string, which every consumer can hold without losing
// digits.
func (s FlexString) MarshalJSON() ([]byte, error) {
	return json.Marshal(string(s))
}

// String returns the text as sent.
func (s FlexString) String() string { return string(s) }

// FlexNumber is a quantity or an enumerated status that the wire sends either as a JSON number
// or as a string (sms_size "1" or 1, Status "2" or 2). It keeps the text as sent, digit for
// digit; null is "". It marshals as a JSON number whenever the text is one, so every variant
// normalizes to the same JSON, and as a JSON string otherwise (the "1,2,3" an old document
// shows for sms_size), so nothing is lost.
type FlexNumber string

// UnmarshalJSON accepts a JSON string, a JSON number or null.
func (n *FlexNumber) UnmarshalJSON(b []byte) error {
	return (*FlexString)(n).UnmarshalJSON(b)
}

// MarshalJSON writes the text as a JSON number when it is one, else as a JSON string; the
// empty text is null.
func (n FlexNumber) MarshalJSON() ([]byte, error) {
	s := strings.TrimSpace(string(n))
	if s == "" {
		return []byte("null"), nil
	}
	if isNumber(s) {
		return []byte(s), nil
	}
	return json.Marshal(string(n))
}

// String returns the text as sent.
func (n FlexNumber) String() string { return string(n) }

// Int returns the value as an int, and false when the text is not a whole number.
func (n FlexNumber) Int() (int, bool) {
	v, err := strconv.Atoi(strings.TrimSpace(string(n)))
	return v, err == nil
}

// Seconds is a duration in seconds as the wire sends it: a number (10), a string of digits
// ("10"), or digits with the unit ("10秒"). It keeps the text as sent and marshals as a JSON
// number of seconds when Int can read it, else as the text (a JSON string), or null when empty.
type Seconds string

// UnmarshalJSON accepts a JSON string, a JSON number or null.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	return (*FlexString)(s).UnmarshalJSON(b)
}

// Int returns the whole number of seconds, accepting the "10秒" form, and false when the text
// is empty, negative or not a whole number of seconds.
func (s Seconds) Int() (int, bool) {
	t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(s)), "秒"))
	n, err := strconv.Atoi(t)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// MarshalJSON writes the number of seconds, the text when it is not one, or null when empty.
func (s Seconds) MarshalJSON() ([]byte, error) {
	if n, ok := s.Int(); ok {
		return strconv.AppendInt(nil, int64(n), 10), nil
	}
	if strings.TrimSpace(string(s)) == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(s))
}

// String returns the text as sent.
func (s Seconds) String() string { return string(s) }

// isNumber reports whether s is exactly one JSON number literal.
func isNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}

// FlexBool is a boolean that the wire sends as a JSON boolean, as the string "true" or "false"
// (any letter case), or as 1 or 0 (number or string). null is false. It marshals as a JSON
// boolean.
type FlexBool bool

// UnmarshalJSON accepts true, false, "true", "false" (any case), 1, 0, "1", "0" and null;
// anything else, the empty string included, is an error rather than a guess.
func (v *FlexBool) UnmarshalJSON(b []byte) error {
	b = trimSpace(b)
	switch string(b) {
	case "true", "1", `"1"`:
		*v = true
		return nil
	case "false", "null", "0", `"0"`:
		*v = false
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		s, err := unquote(b)
		if err != nil {
			return err
		}
		switch {
		case equalFold(s, "true"):
			*v = true
			return nil
		case equalFold(s, "false"):
			*v = false
			return nil
		}
	}
	return typeError(describe(b)+` (want true, false, "true", "false", 1 or 0)`, v)
}

// MarshalJSON writes a JSON boolean.
func (v FlexBool) MarshalJSON() ([]byte, error) {
	if v {
		return []byte("true"), nil
	}
	return []byte("false"), nil
}

// FlexInt is an integer that the wire sends either as a JSON number or as a string of digits
// (an optional sign allowed). null is 0. A fraction, an exponent, an empty string or text is
// an error. It marshals as a JSON number.
type FlexInt int64

// UnmarshalJSON accepts an integer JSON number, a string holding one, or null.
func (n *FlexInt) UnmarshalJSON(b []byte) error {
	b = trimSpace(b)
	if string(b) == "null" {
		*n = 0
		return nil
	}
	digits := b
	if len(b) > 0 && b[0] == '"' {
		s, err := unquote(b)
		if err != nil {
			return err
		}
		digits = []byte(s)
	}
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return typeError(describe(b)+" (want an integer or a string of digits)", n)
	}
	*n = FlexInt(v)
	return nil
}

// MarshalJSON writes a JSON number.
func (n FlexInt) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(n), 10), nil
}

// unquote returns the content of the JSON string literal b. The common case, no escapes and
// valid UTF-8, costs one allocation; anything else goes through encoding/json so escapes and
// invalid bytes are treated exactly as for a plain string field.
func unquote(b []byte) (string, error) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		in := b[1 : len(b)-1]
		if bytes.IndexByte(in, '\\') < 0 && bytes.IndexByte(in, '"') < 0 && !hasControl(in) && utf8.Valid(in) {
			return string(in), nil
		}
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", err
	}
	return s, nil
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

func equalFold(s, ascii string) bool {
	if len(s) != len(ascii) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != ascii[i] {
			return false
		}
	}
	return true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// typeError builds the error for a value a scalar type refuses. The decoder wraps it with the
// place of the value in the document ("/success"), so the message names the field without this
// package knowing it.
func typeError(value string, target any) error {
	return &json.UnmarshalTypeError{Value: value, Type: reflect.TypeOf(target).Elem()}
}

// describe names a JSON value for an error message, with its text cut short: the message must
// say what was wrong without carrying the customer's body.
func describe(b []byte) string {
	if len(b) == 0 {
		return "empty value"
	}
	switch c := b[0]; {
	case c == '"':
		return "string " + quoteShort(b[1:max(1, len(b)-1)])
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "boolean " + string(b)
	case c == 'n':
		return "null"
	default:
		return "number " + quoteShort(b)
	}
}

// maxQuoted bounds how much of a bad value an error message repeats.
const maxQuoted = 40

func quoteShort(b []byte) string {
	if len(b) > maxQuoted {
		cut := maxQuoted
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		return strconv.Quote(string(b[:cut])) + "..."
	}
	return strconv.Quote(string(b))
}
