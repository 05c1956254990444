package alicom

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// withRegistry lets a test register types and puts the package's registry back afterwards.
func withRegistry(t *testing.T) {
	t.Helper()
	saved := current.Load()
	t.Cleanup(func() { current.Store(saved) })
}

func TestTheRegistryListsEveryTypeOnce(t *testing.T) {
	typed := []string{TypeSmsReport, TypeSmsUp, TypeVoiceReport, TypeVoiceCallReport, TypeDypnsSmsVerifyReport, TypeMnsCardTemplate}
	if got := KnownTypes(); !slices.Equal(got, typed) {
		t.Errorf("KnownTypes() = %v, want %v", got, typed)
	}
	names := TypeNames()
	for _, n := range append(typed, "FlowReport", "SignSmsReport", "TemplateSmsReport", "GlobeSmsReport") {
		if !slices.Contains(names, n) {
			t.Errorf("TypeNames() = %v lacks %s", names, n)
		}
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("TypeNames() lists %s twice", n)
		}
		seen[n] = true
	}
	tests := []struct {
		name    string
		typ     string
		known   bool
		payload any
	}{
		{"a typed message type is known and has its zero payload", TypeSmsReport, true, SmsReport{}},
		{"a verification receipt has its own payload type", TypeDypnsSmsVerifyReport, true, DypnsSmsVerifyReport{}},
		{"a type known only by name is not typed", "FlowReport", false, nil},
		{"a type never heard of is not typed", "NoSuchReport", false, nil},
		{"the empty type is not typed", "", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zero, ok := Zero(tt.typ)
			if ok != tt.known || IsKnown(tt.typ) != tt.known || zero != tt.payload {
				t.Errorf("Zero = %#v, %v; IsKnown = %v; want %#v, %v", zero, ok, IsKnown(tt.typ), tt.payload, tt.known)
			}
			if tt.known && TypeOf(zero) != tt.typ {
				t.Errorf("TypeOf(%T) = %q, want %q", zero, TypeOf(zero), tt.typ)
			}
		})
	}
	for _, v := range []any{nil, Raw(`{}`), &SmsReport{}, struct{}{}} {
		if got := TypeOf(v); got != "" {
			t.Errorf("TypeOf(%T) = %q, want none", v, got)
		}
	}
}

type testOrderReport struct {
	OrderID string `json:"order_id"`
	At      Time   `json:"at"`
}

func (r testOrderReport) Key() string { return r.OrderID }

func TestRegisterAddsATypeEverywhereAtOnce(t *testing.T) {
	withRegistry(t)
	Register[testOrderReport]("SignSmsReport") // known by name until now: becomes typed in place
	if !IsKnown("SignSmsReport") || TypeOf(testOrderReport{}) != "SignSmsReport" || !slices.Contains(KnownTypes(), "SignSmsReport") {
		t.Fatalf("SignSmsReport is not typed after Register: KnownTypes %v", KnownTypes())
	}
	if n := len(TypeNames()); n != len(slices.Compact(slices.Sorted(slices.Values(TypeNames())))) {
		t.Errorf("TypeNames lists a name twice: %v", TypeNames())
	}
	_, v, err := Decode("SignSmsReport", b64(`{"order_id":"o-1","at":"20170901000000"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	r := v.(testOrderReport)
	if r.OrderID != "o-1" || r.At.String() != "2017-09-01 00:00:00" {
		t.Errorf("payload = %+v", r)
	}
	if k := Key("SignSmsReport", r); k != "o-1" {
		t.Errorf("Key = %q, want the Key method's o-1", k)
	}
	if _, err := Parse("SignSmsReport", []byte(`{"order_id":1}`)); !errors.Is(err, ErrFields) {
		t.Errorf("Parse of a bad field = %v, want ErrFields", err)
	}
}

func TestRegisterRefusesAmbiguity(t *testing.T) {
	tests := []struct {
		name  string
		call  func()
		names string
	}{
		{"an empty message type", func() { Register[testOrderReport]("") }, "empty"},
		{"a type that already has a payload", func() { Register[testOrderReport](TypeSmsReport) }, "SmsReport"},
		{"a payload already registered under another name", func() { Register[SmsUp]("SmsUp2") }, "SmsUp"},
		{"a pointer payload", func() { Register[*testOrderReport]("X1") }, "ptr"},
		{"an interface payload", func() { Register[error]("X2") }, "interface"},
		{"Raw", func() { Register[Raw]("X3") }, "Raw"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" panics", func(t *testing.T) {
			withRegistry(t)
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tt.names) {
					t.Errorf("recover() = %q, want a message naming %q", msg, tt.names)
				}
			}()
			tt.call()
		})
	}
}

func TestKey(t *testing.T) {
	report := SmsReport{BizID: "1^2", PhoneNumber: "130"}
	compact, _ := Parse(TypeSmsUp, []byte(`{"phone_number":"130","dest_code":"9","sequence_id":5,"send_time":"20170601100000"}`))
	dashed, _ := Parse(TypeSmsUp, []byte(`{"phone_number":"130","dest_code":"9","sequence_id":"5","send_time":"2017-06-01 10:00:00"}`))
	tests := []struct {
		name    string
		typ     string
		payload any
		want    string
	}{
		{"a receipt is keyed by biz_id and phone_number", TypeSmsReport, report, "1^2:130"},
		{"a verification receipt is keyed like a receipt", TypeDypnsSmsVerifyReport, DypnsSmsVerifyReport(report), "1^2:130"},
		{"a receipt without biz_id has no key", TypeSmsReport, SmsReport{PhoneNumber: "130"}, ""},
		{"a receipt without phone_number has no key", TypeSmsReport, SmsReport{BizID: "1^2"}, ""},
		{"an international receipt is keyed by MessageId and To", TypeSmsReport, SmsReport{IntlSmsReport: &IntlSmsReport{MessageID: "m", To: "65"}}, "m:65"},
		{"an inbound SMS with a compact send_time", TypeSmsUp, compact, "130:9:5:20170601100000"},
		{"an inbound SMS with a dashed send_time has the same key", TypeSmsUp, dashed, "130:9:5:20170601100000"},
		{"an inbound SMS without sequence_id has no key", TypeSmsUp, SmsUp{PhoneNumber: "130"}, ""},
		{"a voice record is keyed by call_id", TypeVoiceReport, VoiceReport{CallID: "c"}, "c"},
		{"a voice status is keyed by call_id, status and time", TypeVoiceCallReport, VoiceCallReport{CallID: "c", StatusCode: "200010"}, "c:200010:"},
		{"a card template audit has no key", TypeMnsCardTemplate, MnsCardTemplate{TemplateCode: "T"}, ""},
		{"a payload of another type has no key", TypeSmsUp, report, ""},
		{"a pointer to the payload has no key", TypeSmsReport, &report, ""},
		{"Raw has no key", "FlowReport", Raw(`{"biz_id":"1"}`), ""},
		{"nil has no key", TypeSmsReport, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Key(tt.typ, tt.payload); got != tt.want {
				t.Errorf("Key = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestItemID(t *testing.T) {
	item := []byte(`{"template_code":"T","approval_status":1}`)
	spaced := []byte("{ \"template_code\": \"T\",\n \"approval_status\": 1 }")
	other := []byte(`{"template_code":"T","approval_status":2}`)
	p, _ := Parse(TypeMnsCardTemplate, item)
	id := ItemID(TypeMnsCardTemplate, p, item)
	tests := []struct {
		name string
		got  string
		want func(string) bool
	}{
		{"an item with a business key is identified by it",
			ItemID(TypeSmsReport, SmsReport{BizID: "1^2", PhoneNumber: "130"}, []byte(`{}`)),
			func(s string) bool { return s == "1^2:130" }},
		{"an item without a key is identified by a hash of its JSON", id,
			func(s string) bool { return strings.HasPrefix(s, "sha256-") && len(s) == len("sha256-")+32 }},
		{"whitespace does not change the hash", ItemID(TypeMnsCardTemplate, p, spaced),
			func(s string) bool { return s == id }},
		{"another item has another hash", ItemID(TypeMnsCardTemplate, p, other),
			func(s string) bool { return s != id }},
		{"an item that is not JSON is hashed as given", ItemID("FlowReport", nil, []byte("{oops")),
			func(s string) bool { return strings.HasPrefix(s, "sha256-") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.want(tt.got) {
				t.Errorf("ItemID = %q", tt.got)
			}
		})
	}
}

func TestAnMD5MismatchIsItsOwnErrorForEveryType(t *testing.T) {
	body := b64(smsReportJSON)
	for _, typ := range append(TypeNames(), "") {
		_, _, err := Decode(typ, body, strings.Repeat("0", 32))
		var de *DecodeError
		if !errors.Is(err, ErrMD5Mismatch) || !errors.As(err, &de) || de.Reason != ReasonMD5Mismatch {
			t.Errorf("Decode(%q) with a wrong MD5 = %v, want ErrMD5Mismatch in a *DecodeError", typ, err)
		}
		if errors.Is(err, ErrNotJSON) || errors.Is(err, ErrFields) || errors.Is(err, ErrBase64) {
			t.Errorf("Decode(%q): an MD5 mismatch also matches another reason: %v", typ, err)
		}
	}
}
