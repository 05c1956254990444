package alicom

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary bodies and MD5s through Decode, DecodeBody and Parse for every
// type: none may panic, every failure must be a *DecodeError with a known reason, and every
// success must hand back a JSON object.
func FuzzDecode(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.typ, fx.body(), "")
		f.Add(fx.typ, string(fx.json), md5Hex(string(fx.json)))
	}
	f.Add("SmsReport", b64(`{"success":"x"}`), "")
	f.Add("SmsUp", b64(`{"send_time":"2017-02-29 10:00:00"}`), "")
	f.Add("SmsUp", "e30", "")
	f.Add("", "", "")
	f.Add("MnsCardTemplate", b64(`{"approval_status":"99999999999999999999"}`), "")

	types := append(KnownTypes(), "FlowReport", "")
	f.Fuzz(func(t *testing.T, typ, body, bodyMD5 string) {
		for _, ty := range append(types, typ) {
			data, payload, err := Decode(ty, body, bodyMD5)
			if err != nil {
				checkDecodeError(t, err)
				continue
			}
			if payload == nil || !json.Valid(data) || trimSpace(data)[0] != '{' {
				t.Fatalf("Decode(%q) succeeded with payload %v and data %q", ty, payload, data)
			}
			checkNormalized(t, ty, payload)
		}
		data, err := DecodeBody(body, bodyMD5)
		if err != nil {
			checkDecodeError(t, err)
			data = []byte(body)
		}
		for _, ty := range append(types, typ) {
			if _, err := Parse(ty, data); err != nil {
				checkDecodeError(t, err)
			}
		}
		// Whatever decodes must also survive the raw-bytes path of base64.
		_, _ = DecodeBody(base64.StdEncoding.EncodeToString([]byte(body)), "")
	})
}

// FuzzParse feeds arbitrary JSON to Parse as one item of an HTTP batch push (or a decoded
// queue body) for every type: none may panic, a failure is a *DecodeError, a success is the
// registered payload (or Raw) and holds the normalized-form contract.
func FuzzParse(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.typ, fx.json)
	}
	f.Add("SmsReport", []byte(`{"To":"65","Status":6,"SmsSize":"1","SendDate":"Thu, 25 Nov 2021 10:27:00 +0800"}`))
	f.Add("SmsReport", []byte(`{"success":1,"sms_size":1e2,"biz_id":"1^2","phone_number":"1"}`))
	f.Add("VoiceReport", []byte(`{"duration":"-3秒","ring_time":null}`))
	f.Add("MnsCardTemplate", []byte(`{"extData":"\"[1]\"","tmpOps":[{"state":null}]}`))
	f.Fuzz(func(t *testing.T, typ string, item []byte) {
		for _, ty := range append(TypeNames(), typ) {
			v, err := Parse(ty, item)
			if err != nil {
				checkDecodeError(t, err)
				continue
			}
			zero, typed := Zero(ty)
			if typed && reflect.TypeOf(v) != reflect.TypeOf(zero) {
				t.Fatalf("Parse(%q) = %T, want %T", ty, v, zero)
			}
			if _, raw := v.(Raw); !typed && !raw {
				t.Fatalf("Parse(%q) = %T, want Raw", ty, v)
			}
			checkNormalized(t, ty, v)
		}
	})
}

// checkNormalized holds the contract on the normalized form: every payload marshals, the
// result parses back as the same type, and normalizing again changes nothing; the key and the
// item id are the same for the normalized form as for the original.
func checkNormalized(t *testing.T, typ string, payload any) {
	t.Helper()
	norm, err := json.Marshal(payload)
	if err != nil {
		t.Fatalf("Marshal(%#v): %v", payload, err)
	}
	again, err := Parse(typ, norm)
	if err != nil {
		t.Fatalf("Parse(%q) of the normalized form %s: %v", typ, norm, err)
	}
	norm2, err := json.Marshal(again)
	if err != nil || string(norm2) != string(norm) {
		t.Fatalf("normalizing %q twice changed it:\n first %s\nsecond %s (%v)", typ, norm, norm2, err)
	}
	if k1, k2 := Key(typ, payload), Key(typ, again); k1 != k2 {
		t.Fatalf("Key(%q) = %q for the original, %q for the normalized form %s", typ, k1, k2, norm)
	}
	if id := ItemID(typ, payload, norm); id == "" {
		t.Fatalf("ItemID(%q) is empty", typ)
	}
}

// FuzzParseTime checks the time parsers: ParseTime and Time.UnmarshalJSON agree, never panic,
// fail only with an error that names the field type, return Beijing times that survive the
// normalized JSON round trip, and the allocation-free reader of the two documented forms
// agrees with time.ParseInLocation.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2017-06-01 10:00:00", "20170901000000", "2017-06-01T10:00:00", "2017-06-01 10:00:00.250",
		"2017-06-01T10:00:00Z", "2017-06-01T10:00:00+08:00", "Thu, 25 Nov 2021 10:27:00 +0800",
		"Thu, 5 Nov 2021 10:27:00 -0500", "2024-02-29 00:00:00", "2023-02-29 00:00:00", "",
		"9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00+14:00", "2017-06-01 24:00:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		var viaJSON Time
		jsonErr := json.Unmarshal(mustMarshalString(t, s), &viaJSON)
		if (err == nil) != (jsonErr == nil) || !got.Equal(viaJSON.Time) {
			t.Fatalf("ParseTime(%q) = %v, %v; UnmarshalJSON = %v, %v", s, got, err, viaJSON, jsonErr)
		}
		if err != nil {
			var te *json.UnmarshalTypeError
			if !errors.As(err, &te) {
				t.Fatalf("ParseTime(%q) error is %T, want *json.UnmarshalTypeError", s, err)
			}
			return
		}
		if got.IsZero() {
			return
		}
		if got.Location() != Beijing {
			t.Fatalf("ParseTime(%q) is in %v, want Beijing", s, got.Location())
		}
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("Marshal(%v): %v", got, err)
		}
		var back Time
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(got.Time) {
			t.Fatalf("round trip of %q through %s = %v, %v", s, b, back, err)
		}
		if v, ok := parseFixed([]byte(s)); ok {
			layout := time.DateTime
			if len(s) == 14 {
				layout = "20060102150405"
			}
			std, err := time.ParseInLocation(layout, strings.Replace(s, "T", " ", 1), Beijing)
			if err != nil || !std.Equal(v) {
				t.Fatalf("parseFixed(%q) = %v; time.ParseInLocation = %v, %v", s, v, std, err)
			}
		}
	})
}

func mustMarshalString(t *testing.T, s string) []byte {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is %T, want *DecodeError", err, err)
	}
	switch de.Reason {
	case ReasonMD5Mismatch, ReasonBase64, ReasonJSON, ReasonFields:
	default:
		t.Fatalf("unknown reason %q", de.Reason)
	}
	_ = err.Error()
}
