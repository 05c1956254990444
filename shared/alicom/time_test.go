package alicom

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantUTC string // "" for the zero Time
		wantErr bool
	}{
		{name: "the documented form is Beijing time", in: "2017-06-01 10:00:00", wantUTC: "2017-06-01T02:00:00Z"},
		{name: "the compact form is Beijing time", in: "20170901000000", wantUTC: "2017-08-31T16:00:00Z"},
		{name: "a T separator without an offset is Beijing time", in: "2017-06-01T10:00:00", wantUTC: "2017-06-01T02:00:00Z"},
		{name: "a fraction of a second is accepted", in: "2017-06-01 10:00:00.250", wantUTC: "2017-06-01T02:00:00.25Z"},
		{name: "RFC 3339 keeps the instant it names", in: "2017-06-01T10:00:00Z", wantUTC: "2017-06-01T10:00:00Z"},
		{name: "RFC 3339 in +08:00 round-trips", in: "2017-06-01T10:00:00+08:00", wantUTC: "2017-06-01T02:00:00Z"},
		{name: "the international RFC 1123 form keeps its offset", in: "Thu, 25 Nov 2021 10:27:00 +0800", wantUTC: "2021-11-25T02:27:00Z"},
		{name: "RFC 1123 with another offset keeps the instant", in: "Thu, 25 Nov 2021 10:27:00 -0500", wantUTC: "2021-11-25T15:27:00Z"},
		{name: "a leap day is accepted", in: "2024-02-29 00:00:00", wantUTC: "2024-02-28T16:00:00Z"},
		{name: "an empty string is the zero time", in: "", wantUTC: ""},
		{name: "a non-leap February 29 is refused", in: "2023-02-29 00:00:00", wantErr: true},
		{name: "hour 24 is refused", in: "2017-06-01 24:00:00", wantErr: true},
		{name: "month 13 in the compact form is refused", in: "20171301000000", wantErr: true},
		{name: "a date without a time is refused", in: "2017-06-01", wantErr: true},
		{name: "text is refused", in: "yesterday", wantErr: true},
		{name: "a zone abbreviation is refused rather than guessed", in: "Thu, 25 Nov 2021 10:27:00 Beijing", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTime(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseTime(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTime(%q): %v", tt.in, err)
			}
			if tt.wantUTC == "" {
				if !got.IsZero() {
					t.Errorf("ParseTime(%q) = %v, want zero", tt.in, got)
				}
				return
			}
			if s := got.UTC().Format(time.RFC3339Nano); s != tt.wantUTC {
				t.Errorf("ParseTime(%q) = %s UTC, want %s", tt.in, s, tt.wantUTC)
			}
			if got.Location() != Beijing {
				t.Errorf("zone = %v, want Beijing", got.Location())
			}
		})
	}
}

// TestParsingDoesNotDependOnTheMachinesZone runs the parsers with time.Local set to zones that
// expose the two classic bugs: reading Beijing wall time in the local zone, and time.Parse
// handing back the local zone when an offset happens to match it.
func TestParsingDoesNotDependOnTheMachinesZone(t *testing.T) {
	saved := time.Local
	t.Cleanup(func() { time.Local = saved })
	want := time.Date(2017, 6, 1, 2, 0, 0, 0, time.UTC)
	intlWant := time.Date(2021, 11, 25, 2, 27, 0, 0, time.UTC)

	for _, local := range []*time.Location{
		time.UTC,
		time.FixedZone("EST", -5*3600),
		time.FixedZone("Fake/Shanghai", 8*3600), // same offset, different zone: the result must still be Beijing
		time.FixedZone("NPT", 5*3600+45*60),
	} {
		t.Run("with the local zone "+local.String(), func(t *testing.T) {
			time.Local = local
			var r SmsReport
			if err := json.Unmarshal([]byte(smsReportJSON), &r); err != nil {
				t.Fatal(err)
			}
			if !r.SendTime.Equal(want) || r.SendTime.Location() != Beijing {
				t.Errorf("send_time = %v, want %v in Beijing", r.SendTime.Time, want)
			}
			up, err := Parse(TypeSmsUp, []byte(`{"send_time":"20170601100000"}`))
			if err != nil {
				t.Fatal(err)
			}
			if st := up.(SmsUp).SendTime; !st.Equal(want) || st.Location() != Beijing {
				t.Errorf("compact send_time = %v, want %v in Beijing", st.Time, want)
			}
			intl, err := ParseTime("Thu, 25 Nov 2021 10:27:00 +0800")
			if err != nil {
				t.Fatal(err)
			}
			if !intl.Equal(intlWant) || intl.Location() != Beijing {
				t.Errorf("RFC 1123 = %v, want %v in Beijing", intl.Time, intlWant)
			}
			if s := intl.String(); s != "2021-11-25 10:27:00" {
				t.Errorf("String() = %q, want Beijing wall time", s)
			}
		})
	}
}

func TestTimeMarshalsAsRFC3339InBeijingTimeAndZeroAsNull(t *testing.T) {
	type doc struct {
		At   Time `json:"at"`
		Zero Time `json:"zero"`
	}
	in := doc{At: Time{time.Date(2017, 6, 1, 2, 0, 5, 0, time.UTC)}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"at":"2017-06-01T10:00:05+08:00","zero":null}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	var back doc
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.At.Equal(in.At.Time) || !back.Zero.IsZero() {
		t.Errorf("round trip = %+v, want %+v", back, in)
	}
	text, err := back.Zero.MarshalText()
	if err != nil || len(text) != 0 {
		t.Errorf("zero MarshalText = %q, %v; want empty", text, err)
	}
	text, err = back.At.MarshalText()
	if err != nil || string(text) != "2017-06-01T10:00:05+08:00" {
		t.Errorf("MarshalText = %q, %v", text, err)
	}
}

func TestTypedValuesMarshalBackToTheirWireNames(t *testing.T) {
	v, err := Parse(TypeSmsUp, []byte(`{"phone_number":"13000000000","send_time":"20170901000000","sequence_id":1234567890}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"phone_number":"13000000000","content":"","sign_name":"","send_time":"2017-09-01T00:00:00+08:00","dest_code":"","sequence_id":"1234567890"}`
	if string(b) != want {
		t.Errorf("Marshal = %s\nwant      %s", b, want)
	}
	again, err := Parse(TypeSmsUp, b)
	if err != nil || again != v {
		t.Errorf("re-parse = %#v, %v; want %#v", again, err, v)
	}
}
