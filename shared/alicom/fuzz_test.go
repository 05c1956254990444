package alicom

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
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
