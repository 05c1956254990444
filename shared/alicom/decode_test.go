package alicom

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

const smsReportJSON = `{"phone_number":"13000000000","success":true,"biz_id":"900619746936498440^0","out_id":"123456","send_time":"2017-06-01 10:00:00","report_time":"2017-06-01 10:00:05","err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1"}`

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestDecodeBody(t *testing.T) {
	padded := b64(`{"a":"xy"}`) // 10 bytes: needs padding
	if !strings.HasSuffix(padded, "=") {
		t.Fatalf("test body %q should need padding", padded)
	}
	unpadded := strings.TrimRight(padded, "=")
	wrapped := padded[:4] + "\r\n" + padded[4:8] + "\n" + padded[8:]

	tests := []struct {
		name    string
		body    string
		md5     string
		want    string
		wantErr error
	}{
		{name: "a padded body with its upper-case MD5 decodes", body: padded, md5: md5Hex(padded), want: `{"a":"xy"}`},
		{name: "a lower-case MD5 is accepted", body: padded, md5: strings.ToLower(md5Hex(padded)), want: `{"a":"xy"}`},
		{name: "an empty MD5 skips the check", body: padded, want: `{"a":"xy"}`},
		{name: "an MD5 of the decoded JSON instead of the body is a mismatch", body: padded, md5: md5Hex(`{"a":"xy"}`), wantErr: ErrMD5Mismatch},
		{name: "an MD5 that is not hex is a mismatch", body: padded, md5: "not-an-md5", wantErr: ErrMD5Mismatch},
		{name: "the MD5 covers the body as stored, whitespace included", body: padded + "\n", md5: md5Hex(padded), wantErr: ErrMD5Mismatch},
		{name: "an unpadded body decodes", body: unpadded, want: `{"a":"xy"}`},
		{name: "surrounding whitespace and newlines are ignored", body: "\n  " + padded + " \r\n", want: `{"a":"xy"}`},
		{name: "line breaks inside the base64 are ignored", body: wrapped, want: `{"a":"xy"}`},
		{name: "a body that already is a JSON object is taken as is", body: ` {"a":"xy"}`, want: `{"a":"xy"}`},
		{name: "the URL-safe alphabet is refused", body: b64(`{"a":"???>>>"}`)[:8] + "-_-_", wantErr: ErrBase64},
		{name: "text that is not base64 is refused", body: "hello world!", wantErr: ErrBase64},
		{name: "an empty body is not JSON", body: "", wantErr: ErrNotJSON},
		{name: "a blank body is not JSON", body: " \n", wantErr: ErrNotJSON},
		{name: "base64 of plain text is not JSON", body: b64("just text"), wantErr: ErrNotJSON},
		{name: "base64 of a JSON array is not a JSON object", body: b64(`[1,2]`), wantErr: ErrNotJSON},
		{name: "base64 of a JSON string is not a JSON object", body: b64(`"x"`), wantErr: ErrNotJSON},
		{name: "base64 of a truncated object is not JSON", body: b64(`{"a":`), wantErr: ErrNotJSON},
		{name: "base64 of two objects is not one JSON object", body: b64(`{}{}`), wantErr: ErrNotJSON},
		{name: "a plain-JSON body that is broken is not JSON", body: `{"a":}`, wantErr: ErrNotJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBody(tt.body, tt.md5)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("err is %T, want *DecodeError", err)
				}
				if got != nil {
					t.Errorf("data = %q on error, want nil", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("data = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeErrorsSayWhyWithoutTheBody(t *testing.T) {
	secretish := strings.Repeat("客户的短信内容", 20)    // customer text that must not be echoed in full
	body := b64(`{"content":"` + secretish + `"`) // truncated JSON
	tests := []struct {
		name     string
		body     string
		md5      string
		reason   string
		mentions []string
	}{
		{name: "an MD5 mismatch names both MD5 values and the body length", body: body, md5: "0123456789ABCDEF0123456789ABCDEF",
			reason: ReasonMD5Mismatch, mentions: []string{"0123456789ABCDEF0123456789ABCDEF", md5Hex(body), "byte"}},
		{name: "a base64 failure names the body length and the bad byte", body: "%%%" + body,
			reason: ReasonBase64, mentions: []string{"base64", "input byte 0"}},
		{name: "a JSON failure names the decoded length", body: body,
			reason: ReasonJSON, mentions: []string{"not a JSON object", "bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBody(tt.body, tt.md5)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want *DecodeError", err)
			}
			if de.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", de.Reason, tt.reason)
			}
			msg := err.Error()
			for _, m := range tt.mentions {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not mention %q", msg, m)
				}
			}
			if strings.Contains(msg, tt.body) || strings.Contains(msg, "客户的短信内容客户的短信内容") {
				t.Errorf("error repeats the body: %q", msg)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		json    string
		check   func(t *testing.T, v any)
		wantErr error
		errHas  string
		// errHasToo is a second part the error must name, when errHas cannot hold it all.
		errHasToo string
	}{
		{name: "a success boolean is read", typ: TypeSmsReport, json: `{"success":true}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsReport).Success, FlexBool(true)) }},
		{name: "a success string true is read as true", typ: TypeSmsReport, json: `{"success":"true"}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsReport).Success, FlexBool(true)) }},
		{name: "a success string FALSE in capitals is read as false", typ: TypeSmsReport, json: `{"success":"FALSE"}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsReport).Success, FlexBool(false)) }},
		{name: "a success string that is neither true nor false is refused", typ: TypeSmsReport, json: `{"success":"yes"}`,
			wantErr: ErrFields, errHas: `SmsReport body (17 bytes) does not fit the documented fields: json: `, errHasToo: `unmarshal JSON string into Go alicom.FlexBool within "/success"`},
		{name: "an empty success string is refused rather than guessed", typ: TypeSmsReport, json: `{"success":""}`,
			wantErr: ErrFields},
		{name: "a success number 1 is read as true", typ: TypeSmsReport, json: `{"success":1}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsReport).Success, FlexBool(true)) }},
		{name: "a success string 0 is read as false", typ: TypeSmsReport, json: `{"success":"0"}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsReport).Success, FlexBool(false)) }},
		{name: "a success number other than 1 or 0 is refused", typ: TypeSmsReport, json: `{"success":2}`, wantErr: ErrFields},
		{name: "sms_size as a string is kept", typ: TypeSmsReport, json: `{"sms_size":"1,2,3"}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsReport).SmsSize, FlexNumber("1,2,3")) }},
		{name: "sms_size as a number is kept as its digits", typ: TypeSmsReport, json: `{"sms_size":3}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsReport).SmsSize, FlexNumber("3")) }},
		{name: "sms_size as an object is refused", typ: TypeSmsReport, json: `{"sms_size":{}}`, wantErr: ErrFields, errHas: "sms_size"},
		{name: "of a member sent twice the last wins", typ: TypeSmsReport, json: `{"biz_id":"1^2","biz_id":"3^4"}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsReport).BizID, "3^4") }},
		{name: "invalid UTF-8 in a string becomes U+FFFD rather than losing the receipt", typ: TypeSmsUp, json: "{\"content\":\"a\xffb\"}",
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsUp).Content, "a\uFFFDb") }},
		{name: "names match exactly as Alicom writes them", typ: TypeSmsReport, json: `{"Biz_Id":"1^2"}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsReport).BizID, "") }},
		{name: "a missing out_id is empty", typ: TypeSmsReport, json: `{"biz_id":"1^2"}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsReport).OutID, "") }},
		{name: "unknown fields are ignored", typ: TypeSmsReport, json: `{"biz_id":"1^2","new_field":[1,{"x":2}]}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsReport).BizID, "1^2") }},
		{name: "a domestic receipt has no international part", typ: TypeSmsReport, json: smsReportJSON,
			check: func(t *testing.T, v any) {
				r := v.(SmsReport)
				if r.IntlSmsReport != nil || !r.Delivered() {
					t.Errorf("Intl = %v, Delivered = %v", r.IntlSmsReport, r.Delivered())
				}
			}},
		{name: "an international receipt with Status 2 is not delivered", typ: TypeSmsReport, json: `{"To":"65","Status":"2"}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsReport).Delivered(), false) }},
		{name: "a numeric sequence_id keeps its digits", typ: TypeSmsUp, json: `{"sequence_id":1234567890}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsUp).SequenceID, FlexString("1234567890")) }},
		{name: "a sequence_id beyond float64 precision keeps every digit", typ: TypeSmsUp, json: `{"sequence_id":12345678901234567891}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsUp).SequenceID, FlexString("12345678901234567891")) }},
		{name: "a string sequence_id is kept", typ: TypeSmsUp, json: `{"sequence_id":"000123"}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsUp).SequenceID, FlexString("000123")) }},
		{name: "a null sequence_id is empty", typ: TypeSmsUp, json: `{"sequence_id":null}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsUp).SequenceID, FlexString("")) }},
		{name: "a boolean sequence_id is refused", typ: TypeSmsUp, json: `{"sequence_id":true}`, wantErr: ErrFields, errHas: `"/sequence_id"`},
		{name: "a send_time in yyyy-MM-dd HH:mm:ss is Beijing time", typ: TypeSmsUp, json: `{"send_time":"2017-06-01 10:00:00"}`,
			check: func(t *testing.T, v any) { wantInstant(t, v.(SmsUp).SendTime, "2017-06-01T02:00:00Z") }},
		{name: "a send_time in yyyyMMddHHmmss is Beijing time", typ: TypeSmsUp, json: `{"send_time":"20170901000000"}`,
			check: func(t *testing.T, v any) { wantInstant(t, v.(SmsUp).SendTime, "2017-08-31T16:00:00Z") }},
		{name: "an empty send_time is the zero time", typ: TypeSmsUp, json: `{"send_time":""}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsUp).SendTime.IsZero(), true) }},
		{name: "an impossible send_time is refused and named", typ: TypeSmsUp, json: `{"send_time":"2017-02-30 10:00:00"}`,
			wantErr: ErrFields, errHas: `"/send_time"`},
		{name: "a send_time as a number is refused", typ: TypeSmsUp, json: `{"send_time":20170901000000}`, wantErr: ErrFields},
		{name: "emoji and escapes in content survive", typ: TypeSmsUp, json: `{"content":"好👍\ud83c\udf89\n\"x\""}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(SmsUp).Content, "好👍🎉\n\"x\"") }},
		{name: "a duration of 10 is 10 seconds", typ: TypeVoiceReport, json: `{"duration":"10"}`,
			check: func(t *testing.T, v any) { wantSeconds(t, v.(VoiceReport), 10, true) }},
		{name: "a duration of 10秒 is kept as sent and is 10 seconds", typ: TypeVoiceReport, json: `{"duration":"10秒"}`,
			check: func(t *testing.T, v any) {
				wantEq(t, v.(VoiceReport).Duration, Seconds("10秒"))
				wantSeconds(t, v.(VoiceReport), 10, true)
			}},
		{name: "a numeric duration is accepted", typ: TypeVoiceReport, json: `{"duration":7}`,
			check: func(t *testing.T, v any) { wantSeconds(t, v.(VoiceReport), 7, true) }},
		{name: "an empty duration has no seconds", typ: TypeVoiceReport, json: `{"duration":""}`,
			check: func(t *testing.T, v any) { wantSeconds(t, v.(VoiceReport), 0, false) }},
		{name: "an empty ring_time is the zero time", typ: TypeVoiceReport, json: `{"ring_time":"","start_time":"2017-06-01 10:00:05"}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(VoiceReport).RingTime.IsZero(), true) }},
		{name: "extData as an object is kept and returned as is", typ: TypeMnsCardTemplate, json: `{"extData":{"a":1}}`,
			check: func(t *testing.T, v any) { wantExt(t, v.(MnsCardTemplate), `{"a":1}`, `{"a":1}`) }},
		{name: "extData as a string is kept and unwrapped on request", typ: TypeMnsCardTemplate, json: `{"extData":"{\"a\":1}"}`,
			check: func(t *testing.T, v any) { wantExt(t, v.(MnsCardTemplate), `"{\"a\":1}"`, `{"a":1}`) }},
		{name: "a missing extData unwraps to nil", typ: TypeMnsCardTemplate, json: `{}`,
			check: func(t *testing.T, v any) { wantExt(t, v.(MnsCardTemplate), ``, ``) }},
		{name: "an integer approval_status is read", typ: TypeMnsCardTemplate, json: `{"approval_status":2}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(MnsCardTemplate).ApprovalStatus, FlexInt(2)) }},
		{name: "a digit-string approval_status is read", typ: TypeMnsCardTemplate, json: `{"approval_status":"-1"}`,
			check: func(t *testing.T, v any) { wantEq(t, v.(MnsCardTemplate).ApprovalStatus, FlexInt(-1)) }},
		{name: "a fractional approval_status is refused", typ: TypeMnsCardTemplate, json: `{"approval_status":1.5}`,
			wantErr: ErrFields, errHas: "approval_status"},
		{name: "a text approval_status is refused", typ: TypeMnsCardTemplate, json: `{"approval_status":"ok"}`, wantErr: ErrFields},
		{name: "a tmpOps entry with a numeric state is read", typ: TypeMnsCardTemplate, json: `{"tmpOps":[{"state":1,"vendorCode":"CMCC"}]}`,
			check: func(t *testing.T, v any) {
				wantEq(t, v.(MnsCardTemplate).TmpOps[0], CardTemplateOp{State: "1", VendorCode: "CMCC"})
			}},
		{name: "a verification receipt is its own type with SmsReport's fields", typ: TypeDypnsSmsVerifyReport, json: smsReportJSON,
			check: func(t *testing.T, v any) {
				wantEq(t, SmsReport(v.(DypnsSmsVerifyReport)).BizID, "900619746936498440^0")
			}},
		{name: "a voice call status is read", typ: TypeVoiceCallReport, json: `{"call_id":"1^2","status_time":"2017-06-01 10:00:15"}`,
			check: func(t *testing.T, v any) { wantInstant(t, v.(VoiceCallReport).StatusTime, "2017-06-01T02:00:15Z") }},
		{name: "an unknown type is Raw, not an error", typ: "FlowReport", json: `{"x":1}`,
			check: func(t *testing.T, v any) { wantEq(t, string(v.(Raw)), `{"x":1}`) }},
		{name: "an empty type is Raw", typ: "", json: `{"x":1}`,
			check: func(t *testing.T, v any) { wantEq(t, string(v.(Raw)), `{"x":1}`) }},
		{name: "an unknown type must still be a JSON object", typ: "FlowReport", json: `[1]`, wantErr: ErrNotJSON},
		{name: "an unknown type must still be valid JSON", typ: "FlowReport", json: `{"x":}`, wantErr: ErrNotJSON},
		{name: "a known type must be a JSON object", typ: TypeSmsReport, json: `null`, wantErr: ErrNotJSON},
		{name: "a known type must be valid JSON", typ: TypeSmsReport, json: `{"success":true,}`, wantErr: ErrNotJSON},
		{name: "a plain string field with a number is refused and named", typ: TypeSmsReport, json: `{"biz_id":12}`,
			wantErr: ErrFields, errHas: `"/biz_id"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Parse(tt.typ, []byte(tt.json))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				// Only the parts of the JSON library's text that it keeps stable: it renders its
				// modal verb as "cannot" or "unable to" at random per process, on purpose.
				for _, part := range []string{tt.errHas, tt.errHasToo} {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("err %q does not name %q", err, part)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			tt.check(t, v)
		})
	}
}

func TestDecodeKeepsTheJSONOfABodyWhoseFieldsDoNotFit(t *testing.T) {
	body := b64(`{"success":"maybe"}`)
	data, payload, err := Decode(TypeSmsReport, body, "")
	if !errors.Is(err, ErrFields) {
		t.Fatalf("err = %v, want ErrFields", err)
	}
	if string(data) != `{"success":"maybe"}` || payload != nil {
		t.Errorf("data = %q, payload = %v; want the JSON and no payload", data, payload)
	}
	var de *DecodeError
	if !errors.As(err, &de) || de.Type != TypeSmsReport {
		t.Errorf("DecodeError.Type = %v, want SmsReport", de)
	}
}

func TestTypeFromQueueName(t *testing.T) {
	tests := []struct{ name, queue, want string }{
		{"an Alicom queue name yields its type", "Alicom-Queue-1092397003988387-SmsReport", "SmsReport"},
		{"an unknown type is still returned", "Alicom-Queue-1092397003988387-FlowReport", "FlowReport"},
		{"a queue of another owner yields nothing", "my-queue-SmsReport", ""},
		{"a name without a uid yields nothing", "Alicom-Queue-SmsReport", ""},
		{"a name with an empty type yields nothing", "Alicom-Queue-1092397003988387-", ""},
		{"a name with extra dashes yields nothing", "Alicom-Queue-1-Sms-Report", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TypeFromQueueName(tt.queue); got != tt.want {
				t.Errorf("TypeFromQueueName(%q) = %q, want %q", tt.queue, got, tt.want)
			}
		})
	}
}

func TestKnownTypesAreExactlyTheTypedOnes(t *testing.T) {
	for _, typ := range KnownTypes() {
		if z, ok := Zero(typ); !ok || z == nil {
			t.Errorf("Zero(%q) = %v, %v", typ, z, ok)
		}
		if _, err := Parse(typ, []byte(`{}`)); err != nil {
			t.Errorf("Parse(%q, {}) = %v", typ, err)
		}
	}
	if IsKnown("FlowReport") || IsKnown("") {
		t.Error("FlowReport or the empty type is reported known")
	}
	k := KnownTypes()
	k[0] = "changed"
	if KnownTypes()[0] != TypeSmsReport {
		t.Error("KnownTypes shares its slice with callers")
	}
}

func wantEq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func wantInstant(t *testing.T, got Time, rfc3339UTC string) {
	t.Helper()
	if s := got.UTC().Format("2006-01-02T15:04:05Z"); s != rfc3339UTC {
		t.Errorf("instant = %s, want %s", s, rfc3339UTC)
	}
	if got.Location() != Beijing {
		t.Errorf("zone = %v, want Beijing", got.Location())
	}
}

func wantSeconds(t *testing.T, r VoiceReport, n int, ok bool) {
	t.Helper()
	gn, gok := r.DurationSeconds()
	if gn != n || gok != ok {
		t.Errorf("DurationSeconds() = %d, %v; want %d, %v", gn, gok, n, ok)
	}
}

func wantExt(t *testing.T, m MnsCardTemplate, raw, unwrapped string) {
	t.Helper()
	if string(m.ExtData) != raw {
		t.Errorf("ExtData = %s, want %s", m.ExtData, raw)
	}
	got, err := m.ExtDataJSON()
	if err != nil || string(got) != unwrapped {
		t.Errorf("ExtDataJSON() = %s, %v; want %s", got, err, unwrapped)
	}
}
