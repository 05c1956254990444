package alicom

import (
	"strings"
	"time"
)

// Beijing is Beijing time (China Standard Time, UTC+8) as a fixed zone, the zone of every time
// Alicom writes without an offset: message bodies and the expiry of a queue token. China has
// kept UTC+8 without daylight saving since 1991, so a fixed zone is exact for every receipt,
// and unlike Asia/Shanghai it needs no tzdata on a slim runtime image. It is exported so
// that the module defines the zone once.
var Beijing = time.FixedZone("CST", 8*60*60)

// Time is an instant in an Alicom message. It parses, independently of the machine's zone:
//
//   - "2006-01-02 15:04:05" and "20060102150405" (the documented forms) as Beijing time,
//     a fraction of a second after the seconds allowed;
//   - "2006-01-02T15:04:05" without an offset as Beijing time;
//   - RFC 3339 with an offset ("2017-06-01T10:00:00+08:00", which is also what it marshals
//     to) and RFC 1123 with a numeric offset ("Thu, 25 Nov 2021 10:27:00 +0800", the
//     international receipt), at the instant they name.
//
// The result is always in the Beijing zone. An empty string or null is the zero Time, not an
// error, because receipts send "" for an event that did not happen (a call that never rang).
//
// Time marshals to JSON as an RFC 3339 string in +08:00, and the zero Time as null (not "",
// which is not a time; null reads back as the zero Time). As text (MarshalText) the zero Time
// is the empty string.
type Time struct {
	time.Time
}

// ParseTime parses s in any form Time accepts (see Time).
func ParseTime(s string) (Time, error) {
	var t Time
	err := t.parse([]byte(s))
	return t, err
}

// UnmarshalJSON accepts a JSON string in one of the forms listed on Time, or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = trimSpace(b)
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	if len(b) == 0 || b[0] != '"' {
		return typeError(describe(b)+" (want a time string)", t)
	}
	if len(b) >= 2 && b[len(b)-1] == '"' {
		inner := b[1 : len(b)-1]
		if !containsByte(inner, '\\') {
			return t.parse(inner)
		}
	}
	s, err := unquote(b)
	if err != nil {
		return err
	}
	return t.parse([]byte(s))
}

// MarshalJSON writes RFC 3339 in +08:00, or null for the zero Time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(time.RFC3339Nano)+2)
	b = append(b, '"')
	b = t.In(Beijing).AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// UnmarshalText accepts the forms listed on Time; empty text is the zero Time.
func (t *Time) UnmarshalText(b []byte) error {
	return t.parse(trimSpace(b))
}

// MarshalText writes RFC 3339 in +08:00, or nothing for the zero Time.
func (t Time) MarshalText() ([]byte, error) {
	return t.AppendText(nil)
}

// AppendText appends what MarshalText returns to b. It shadows time.Time's method, which would
// otherwise render the zero Time as year 1 and other times in their own zone.
func (t Time) AppendText(b []byte) ([]byte, error) {
	if t.IsZero() {
		return b, nil
	}
	return t.In(Beijing).AppendFormat(b, time.RFC3339Nano), nil
}

// String formats the time as "2006-01-02 15:04:05" in Beijing time, the form Alicom sends,
// or "" for the zero Time.
func (t Time) String() string {
	if t.IsZero() {
		return ""
	}
	return t.In(Beijing).Format(time.DateTime)
}

// compact formats t as yyyyMMddHHmmss in Beijing time, "" for the zero Time: the form used
// in business keys, the same whichever form the time arrived in.
func (t Time) compact() string {
	if t.IsZero() {
		return ""
	}
	return t.In(Beijing).Format("20060102150405")
}

// Layouts tried after the fast path for the two documented forms fails, chosen by the
// text's first byte so the usual case does not pay for failed attempts.
var (
	// numericLayouts start with the year.
	numericLayouts = []string{
		time.DateTime,    // with a fraction of a second, which Parse accepts after the seconds
		time.RFC3339Nano, // also matches RFC 3339 without a fraction
		"2006-01-02T15:04:05",
	}
	// rfc1123Layouts start with the day of the week.
	rfc1123Layouts = []string{time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 -0700"}
)

func (t *Time) parse(b []byte) error {
	if len(b) == 0 {
		t.Time = time.Time{}
		return nil
	}
	if v, ok := parseFixed(b); ok {
		t.Time = v
		return nil
	}
	s := strings.TrimSpace(string(b))
	layouts := numericLayouts
	if s != "" && (s[0] < '0' || s[0] > '9') {
		layouts = rfc1123Layouts
	}
	for _, layout := range layouts {
		// ParseInLocation reads zone-less layouts as Beijing time; a parsed numeric offset
		// wins over it, and In(Beijing) then moves the instant into Beijing so the result
		// never depends on time.Local (time.Parse would reuse time.Local's zone name for a matching offset).
		if v, err := time.ParseInLocation(layout, s, Beijing); err == nil {
			// An offset can push a year-0000 or year-9999 time out of four digits in
			// Beijing time, where RFC 3339 cannot write it back.
			if y := v.In(Beijing).Year(); y < 0 || y > 9999 {
				break
			}
			t.Time = v.In(Beijing)
			return nil
		}
	}
	return typeError("string "+quoteShort(b)+" (want yyyy-MM-dd HH:mm:ss, yyyyMMddHHmmss, RFC 3339 or RFC 1123 with a numeric zone)", t)
}

// parseFixed reads "2006-01-02 15:04:05" (or with a 'T') and "20060102150405" without
// allocating: these are nearly every time Alicom sends, several per message.
func parseFixed(b []byte) (time.Time, bool) {
	var y, mo, d, h, mi, s int
	var ok bool
	switch len(b) {
	case 19:
		if b[4] != '-' || b[7] != '-' || (b[10] != ' ' && b[10] != 'T') || b[13] != ':' || b[16] != ':' {
			return time.Time{}, false
		}
		y, ok = atoi(b[0:4])
		mo, ok = atoiAnd(ok, b[5:7])
		d, ok = atoiAnd(ok, b[8:10])
		h, ok = atoiAnd(ok, b[11:13])
		mi, ok = atoiAnd(ok, b[14:16])
		s, ok = atoiAnd(ok, b[17:19])
	case 14:
		y, ok = atoi(b[0:4])
		mo, ok = atoiAnd(ok, b[4:6])
		d, ok = atoiAnd(ok, b[6:8])
		h, ok = atoiAnd(ok, b[8:10])
		mi, ok = atoiAnd(ok, b[10:12])
		s, ok = atoiAnd(ok, b[12:14])
	default:
		return time.Time{}, false
	}
	if !ok || mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || h > 23 || mi > 59 || s > 59 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, 0, Beijing), true
}

func atoi(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func atoiAnd(ok bool, b []byte) (int, bool) {
	if !ok {
		return 0, false
	}
	return atoi(b)
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}
