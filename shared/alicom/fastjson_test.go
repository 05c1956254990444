package alicom

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fastParsers maps each known type to its one-pass reader and a fresh target for
// encoding/json, so the two can be compared.
var fastParsers = map[string]struct {
	fast func(data []byte) (any, bool)
	slow func(data []byte) (any, error)
}{
	TypeSmsReport: {
		func(d []byte) (any, bool) { var v SmsReport; ok := fastSmsReport(d, &v); return v, ok },
		func(d []byte) (any, error) { var v SmsReport; err := json.Unmarshal(d, &v); return v, err },
	},
	TypeSmsUp: {
		func(d []byte) (any, bool) { var v SmsUp; ok := fastSmsUp(d, &v); return v, ok },
		func(d []byte) (any, error) { var v SmsUp; err := json.Unmarshal(d, &v); return v, err },
	},
	TypeVoiceReport: {
		func(d []byte) (any, bool) { var v VoiceReport; ok := fastVoiceReport(d, &v); return v, ok },
		func(d []byte) (any, error) { var v VoiceReport; err := json.Unmarshal(d, &v); return v, err },
	},
	TypeVoiceCallReport: {
		func(d []byte) (any, bool) { var v VoiceCallReport; ok := fastVoiceCallReport(d, &v); return v, ok },
		func(d []byte) (any, error) { var v VoiceCallReport; err := json.Unmarshal(d, &v); return v, err },
	},
	TypeMnsCardTemplate: {
		func(d []byte) (any, bool) { var v MnsCardTemplate; ok := fastCardTemplate(d, &v); return v, ok },
		func(d []byte) (any, error) { var v MnsCardTemplate; err := json.Unmarshal(d, &v); return v, err },
	},
}

func TestEverySampleBodyTakesTheFastPath(t *testing.T) {
	for _, f := range loadFixtures(t) {
		p, ok := fastParsers[f.typ]
		if f.typ == TypeDypnsSmsVerifyReport {
			p, ok = fastParsers[TypeSmsReport], true
		}
		if !ok {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			if _, ok := p.fast(f.json); !ok {
				t.Errorf("the one-pass reader declined %s; it would be decoded by the slow path", f.name)
			}
		})
	}
}

func TestFastPathDeclinesWhatItCannotMirror(t *testing.T) {
	tests := []struct{ name, typ, json string }{
		{"a key matching a field only without regard to case is declined", TypeSmsReport, `{"Success":true}`},
		{"a key with a Unicode folding match is declined", TypeSmsReport, `{"ſuccess":true}`},
		{"an escaped key is declined", TypeSmsReport, `{"succ\u0065ss":true}`},
		{"a string field holding a number is declined", TypeSmsReport, `{"biz_id":1}`},
		{"a bad time is declined", TypeSmsUp, `{"send_time":"x"}`},
		{"trailing text is declined", TypeSmsUp, `{"content":"x"} x`},
		{"a trailing comma is declined", TypeSmsUp, `{"content":"x",}`},
		{"a missing colon is declined", TypeSmsUp, `{"content" "x"}`},
		{"a number with a leading zero is declined", TypeSmsUp, `{"x":01}`},
		{"a bare minus is declined", TypeSmsUp, `{"x":-}`},
		{"an exponent without digits is declined", TypeSmsUp, `{"x":1e}`},
		{"a bad escape is declined", TypeSmsUp, `{"content":"\x"}`},
		{"a short unicode escape is declined", TypeSmsUp, `{"content":"\u12"}`},
		{"a raw control character is declined", TypeSmsUp, "{\"content\":\"a\tb\"}"},
		{"an unterminated string is declined", TypeSmsUp, `{"content":"abc`},
		{"deep nesting is declined", TypeSmsUp, `{"x":` + repeat("[", 40) + repeat("]", 40) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := fastParsers[tt.typ].fast([]byte(tt.json)); ok {
				t.Errorf("fast path accepted %s", tt.json)
			}
		})
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

// FuzzFastPathAgreesWithEncodingJSON holds the one-pass reader to its invariant: whenever it
// accepts a document, encoding/json accepts it too and yields the same value; and it accepts
// only valid JSON objects.
func FuzzFastPathAgreesWithEncodingJSON(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.json)
	}
	for _, s := range []string{
		`{"success":"TRUE","success":null,"biz_id":"a","biz_id":null}`,
		`{"To":null}`, `{"sms_size":-0.5e+3}`, `{"tmpOps":[{"state":1}],"tmpOps":[{"desc":"x"}]}`,
		`{"extData":null}`, `{"content":"\ud800"}`, "{\"content\":\"\xff\"}", `{"a":{"b":[1,2,{"c":null}]}}`,
		`{"PHONE_NUMBER":"1"}`, `{"phone_numbeR":"1"}`, `{ "x" : [ ] , "y" : { } }`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if validObject(data) && !json.Valid(data) {
			t.Fatalf("validObject accepted invalid JSON %q", data)
		}
		for typ, p := range fastParsers {
			fast, ok := p.fast(data)
			if !ok {
				continue
			}
			slow, err := p.slow(data)
			if err != nil {
				t.Fatalf("%s: fast path accepted %q, encoding/json refused it: %v", typ, data, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%s: for %q\nfast %#v\nslow %#v", typ, data, fast, slow)
			}
		}
	})
}

// fieldNames lists every wire name per type, in the case the fast path matches exactly.
var fieldNames = map[string][]string{
	TypeSmsReport: {"phone_number", "success", "biz_id", "out_id", "send_time", "report_time", "err_code",
		"err_msg", "sms_size", "To", "Status", "MessageId", "SmsSize", "SendDate", "ReceiveDate",
		"ErrorCode", "ErrorDescription", "TaskId"},
	TypeSmsUp: {"phone_number", "content", "sign_name", "send_time", "dest_code", "sequence_id"},
	TypeVoiceReport: {"call_id", "originate_time", "ring_time", "start_time", "end_time", "caller", "callee",
		"duration", "status_code", "early_media_code", "hangup_direction", "status_msg", "out_id", "dtmf",
		"voice_type", "dialog_id", "toll_type"},
	TypeVoiceCallReport: {"call_id", "status_code", "smart_status_code", "status_time", "out_id", "dtmf"},
	TypeMnsCardTemplate: {"template_code", "approval_status", "desc", "extData", "tmpOps"},
}

// FuzzFastPathFieldValues builds objects from real field names and fuzzed values, which
// random mutation of whole documents rarely reaches, and holds the fast path to the same
// invariant as FuzzFastPathAgreesWithEncodingJSON.
func FuzzFastPathFieldValues(f *testing.F) {
	for _, v := range []string{`"x"`, `1`, `-0.5e3`, `null`, `true`, `"true"`, `"2017-06-01 10:00:00"`,
		`"20170901000000"`, `"Thu, 25 Nov 2021 10:27:00 +0800"`, `{"a":[1]}`, `[{"state":1}]`, `"\u00e9"`, `"10秒"`} {
		f.Add(uint8(0), v, uint8(1), `"y"`)
	}
	f.Fuzz(func(t *testing.T, k1 uint8, v1 string, k2 uint8, v2 string) {
		for typ, names := range fieldNames {
			doc := []byte(`{"` + names[int(k1)%len(names)] + `":` + v1 + `,"` + names[int(k2)%len(names)] + `":` + v2 + `}`)
			p := fastParsers[typ]
			fast, ok := p.fast(doc)
			if !ok {
				continue
			}
			slow, err := p.slow(doc)
			if err != nil {
				t.Fatalf("%s: fast path accepted %q, encoding/json refused it: %v", typ, doc, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%s: for %q\nfast %#v\nslow %#v", typ, doc, fast, slow)
			}
		}
	})
}
