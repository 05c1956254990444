package alicom

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestFieldNames(t *testing.T) {
	tests := []struct {
		name        string
		messageType string
		want        []string // among the names
		wantNot     []string
	}{
		{name: "a domestic receipt's names are those Alicom writes",
			messageType: TypeSmsReport, want: []string{"phone_number", "biz_id", "success", "sign_name"},
			wantNot: []string{"PhoneNumber", "phone_Number", "IntlSmsReport"}},
		{name: "the international receipt's names are part of SmsReport's, in their own letter case",
			messageType: TypeSmsReport, want: []string{"To", "Status", "MessageId", "SmsSize", "TaskId"},
			wantNot: []string{"to", "MessageID", "TaskID"}},
		{name: "an inbound SMS has its own names",
			messageType: TypeSmsUp, want: []string{"content", "dest_code", "sequence_id"},
			wantNot: []string{"biz_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FieldNames(tt.messageType)
			if !slices.IsSorted(got) {
				t.Errorf("FieldNames(%s) = %v, not sorted", tt.messageType, got)
			}
			for _, n := range tt.want {
				if !slices.Contains(got, n) {
					t.Errorf("FieldNames(%s) = %v, lacks %q", tt.messageType, got, n)
				}
			}
			for _, n := range tt.wantNot {
				if slices.Contains(got, n) {
					t.Errorf("FieldNames(%s) = %v, has %q", tt.messageType, got, n)
				}
			}
		})
	}
}

func TestFieldNamesOfATypeParsedAsRawIsNil(t *testing.T) {
	for _, typ := range []string{"FlowReport", "NoSuchType", ""} {
		if got := FieldNames(typ); got != nil {
			t.Errorf("FieldNames(%q) = %v, want nil", typ, got)
		}
	}
}

func TestFieldNamesReturnsACopyTheCallerMayChange(t *testing.T) {
	a := FieldNames(TypeSmsUp)
	a[0] = "changed"
	if b := FieldNames(TypeSmsUp); b[0] == "changed" {
		t.Error("a caller's change reached the next caller")
	}
}

// Every name FieldNames lists is one Parse fills: an object holding only that member, set to
// a value of the field's kind, parses to a payload that differs from the zero payload.
func TestEveryFieldNameIsOneParseDecodes(t *testing.T) {
	samples := []json.RawMessage{json.RawMessage(`"1"`), json.RawMessage(`1`), json.RawMessage(`true`),
		json.RawMessage(`"2017-01-01 11:12:13"`), json.RawMessage(`{"a":1}`), json.RawMessage(`[{"a":1}]`)}
	for _, typ := range KnownTypes() {
		zero, _ := Zero(typ)
		zeroJSON, _ := json.Marshal(zero)
		for _, name := range FieldNames(typ) {
			filled := false
			for _, v := range samples {
				body, _ := json.Marshal(map[string]json.RawMessage{name: v})
				p, err := Parse(typ, body)
				if err != nil {
					continue
				}
				if got, _ := json.Marshal(p); string(got) != string(zeroJSON) {
					filled = true
					break
				}
			}
			if !filled {
				t.Errorf("%s: member %q is listed, but no value of it changes the parsed payload", typ, name)
			}
		}
	}
}
