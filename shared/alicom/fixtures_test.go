package alicom

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// fixtureDir holds the sample bodies shared with other packages' tests.
const fixtureDir = "../../events/messages"

// fixture is one sample body read from events/messages.
type fixture struct {
	name string // file name without .json
	typ  string // message type: the name up to the first '-'
	json []byte // the pretty-printed JSON as stored
}

// body is the fixture as it would sit on an Alicom queue: standard padded base64.
func (f fixture) body() string { return base64.StdEncoding.EncodeToString(f.json) }

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no fixtures found in %s", fixtureDir)
	}
	sort.Strings(paths)
	var out []fixture
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		typ, _, _ := strings.Cut(name, "-")
		out = append(out, fixture{name: name, typ: typ, json: b})
	}
	return out
}

func cst(y int, mo time.Month, d, h, mi, s int) Time {
	return Time{time.Date(y, mo, d, h, mi, s, 0, Beijing)}
}

// wantFixtures is what each sample body must decode to. A fixture without an entry fails the
// test, so a new sample cannot go unchecked.
var wantFixtures = map[string]any{
	"SmsReport": SmsReport{
		PhoneNumber: "13000000000", Success: true, BizID: "900619746936498440^0", OutID: "123456",
		SendTime: cst(2017, 6, 1, 10, 0, 0), ReportTime: cst(2017, 6, 1, 10, 0, 5),
		ErrCode: "DELIVERED", ErrMsg: "用户接收成功", SmsSize: "1",
	},
	"SmsReport-success-string": SmsReport{
		PhoneNumber: "13000000000", Success: false, BizID: "1234^345", OutID: "",
		SendTime: cst(2017, 6, 1, 10, 0, 0), ReportTime: cst(2017, 6, 1, 10, 0, 5),
		ErrCode: "UNKNOW", ErrMsg: "未知异常", SmsSize: "1,2,3",
	},
	"SmsReport-sms-size-number": SmsReport{
		PhoneNumber: "13000000000", Success: true, BizID: "900619746936498440^0",
		SendTime: cst(2017, 6, 1, 10, 0, 0), ReportTime: cst(2017, 6, 1, 10, 0, 5),
		ErrCode: "DELIVERED", ErrMsg: "用户接收成功", SmsSize: "2",
	},
	"SmsReport-intl": SmsReport{IntlSmsReport: &IntlSmsReport{
		To: "6581234567", Status: "1", MessageID: "100803030012345", SmsSize: "1",
		SendDate: cst(2021, 11, 25, 10, 27, 0), ReceiveDate: cst(2021, 11, 25, 10, 27, 5),
		ErrorCode: "DELIVERED", ErrorDescription: "success", TaskID: "10086",
	}},
	"SmsReport-success-number": SmsReport{
		PhoneNumber: "13000000000", Success: true, BizID: "900619746936498443^0", OutID: "order-10",
		SendTime: cst(2017, 6, 1, 10, 0, 0), ReportTime: cst(2017, 6, 1, 10, 0, 5),
		ErrCode: "DELIVERED", ErrMsg: "用户接收成功", SmsSize: "1",
	},
	"SmsReport-push-newer-fields": SmsReport{
		PhoneNumber: "13000000000", Success: true, BizID: "900619746936498442^0", OutID: "order-9",
		SendTime: cst(2017, 6, 1, 10, 0, 0), ReportTime: cst(2017, 6, 1, 10, 0, 5),
		ErrCode: "DELIVERED", ErrMsg: "用户接收成功", SmsSize: "1",
		MessageID: "900619746936498442", RequestID: "F655A8D5-B967-440B-8683-DAD6FF8DE990",
		SignName: "阿里云", TemplateCode: "SMS_123456789",
	},
	"SmsReport-intl-status-number": SmsReport{IntlSmsReport: &IntlSmsReport{
		To: "6581234568", Status: "2", MessageID: "100803030012346", SmsSize: "1",
		SendDate: cst(2021, 11, 25, 10, 27, 0), ReceiveDate: cst(2021, 11, 25, 10, 28, 0),
		ErrorCode: "UNDELIV", ErrorDescription: "undelivered",
	}},
	"DypnsSmsVerifyReport": DypnsSmsVerifyReport{
		PhoneNumber: "13000000000", Success: true, BizID: "900619746936498441^0", OutID: "verify-42",
		SendTime: cst(2017, 6, 1, 10, 0, 0), ReportTime: cst(2017, 6, 1, 10, 0, 3),
		ErrCode: "DELIVERED", ErrMsg: "用户接收成功", SmsSize: "1",
	},
	"SmsUp": SmsUp{
		PhoneNumber: "13000000000", Content: "TD", SignName: "阿里云",
		SendTime: cst(2017, 6, 1, 10, 0, 0), DestCode: "123456", SequenceID: "1234567890",
	},
	"SmsUp-compact-time": SmsUp{
		PhoneNumber: "13000000000", Content: "收到",
		SendTime: cst(2017, 9, 1, 0, 0, 0), DestCode: "123456", SequenceID: "1234567891",
	},
	"SmsUp-sequence-string": SmsUp{
		PhoneNumber: "13000000000", Content: "TD", SignName: "阿里云",
		SendTime: cst(2017, 6, 1, 10, 0, 0), DestCode: "123456", SequenceID: "123456",
	},
	"SmsUp-emoji": SmsUp{
		PhoneNumber: "13000000000", Content: "好的👍 🎉 \"谢谢\"", SignName: "阿里云",
		SendTime: cst(2017, 6, 1, 10, 0, 0), DestCode: "123456", SequenceID: "98765432109876543210",
	},
	"VoiceReport": VoiceReport{
		CallID:        "100001616500^100001871490",
		OriginateTime: cst(2017, 6, 1, 10, 0, 0), RingTime: cst(2017, 6, 1, 10, 0, 2),
		StartTime: cst(2017, 6, 1, 10, 0, 5), EndTime: cst(2017, 6, 1, 10, 0, 15),
		Caller: "057188773344", Callee: "13000000000", Duration: "10", StatusCode: "200010",
		EarlyMediaCode: "", HangupDirection: "1", StatusMsg: "用户挂机", OutID: "voice-order-7",
		Dtmf: "1", VoiceType: "tts", DialogID: "", TollType: "LOCAL",
	},
	"VoiceReport-duration-unit": VoiceReport{
		CallID:        "100001616501^100001871491",
		OriginateTime: cst(2017, 6, 1, 10, 0, 0),
		StartTime:     cst(2017, 6, 1, 10, 0, 5), EndTime: cst(2017, 6, 1, 10, 0, 15),
		Caller: "057188773344", Callee: "13000000000", Duration: "10秒", StatusCode: "200010",
		StatusMsg: "用户挂机", OutID: "voice-order-8",
	},
	"VoiceCallReport": VoiceCallReport{
		CallID: "100001616500^100001871490", StatusCode: "200010", SmartStatusCode: "",
		StatusTime: cst(2017, 6, 1, 10, 0, 15), OutID: "voice-order-7", Dtmf: "1",
	},
	"MnsCardTemplate": MnsCardTemplate{
		TemplateCode: "CARD_SMS_1234", ApprovalStatus: 1, Desc: "审核通过",
		ExtData: []byte("{\n    \"cardType\": \"IMAGE_AND_TEXT\"\n  }"),
		TmpOps: []CardTemplateOp{
			{State: "1", Desc: "审核通过", VendorCode: "CMCC"},
			{State: "2", Desc: "模板内容不符合规范", VendorCode: "CUCC"},
		},
	},
	"MnsCardTemplate-extdata-string": MnsCardTemplate{
		TemplateCode: "CARD_SMS_1235", ApprovalStatus: 2, Desc: "审核未通过",
		ExtData: []byte(`"{\"cardType\":\"IMAGE_AND_TEXT\"}"`),
		TmpOps:  []CardTemplateOp{{State: "2", Desc: "模板内容不符合规范", VendorCode: "CMCC"}},
	},
	"FlowReport": Raw(nil), // compared as the fixture's own bytes below
}

func TestEverySampleBodyDecodesToItsDocumentedValue(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			want, ok := wantFixtures[f.name]
			if !ok {
				t.Fatalf("fixture %s has no expectation in wantFixtures", f.name)
			}
			data, got, err := Decode(f.typ, f.body(), md5Hex(f.body()))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if string(data) != string(f.json) {
				t.Errorf("decoded data differs from the fixture")
			}
			if _, isRaw := want.(Raw); isRaw {
				want = Raw(f.json)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("payload:\n got %#v\nwant %#v", got, want)
			}
			// Parse on its own must agree with the combined path.
			alone, err := Parse(f.typ, f.json)
			if err != nil || !reflect.DeepEqual(alone, got) {
				t.Errorf("Parse alone = %#v, %v; want the Decode result", alone, err)
			}
		})
	}
}

func TestEveryKnownTypeHasASampleBody(t *testing.T) {
	have := map[string]bool{}
	for _, f := range loadFixtures(t) {
		have[f.typ] = true
	}
	for _, typ := range KnownTypes() {
		if !have[typ] {
			t.Errorf("no sample body %s.json in %s", typ, fixtureDir)
		}
	}
}

// wantKeys is the business key of each sample (Key), "" where the type has none. A fixture
// without an entry fails the test.
var wantKeys = map[string]string{
	"SmsReport":                      "900619746936498440^0:13000000000",
	"SmsReport-success-string":       "1234^345:13000000000",
	"SmsReport-success-number":       "900619746936498443^0:13000000000",
	"SmsReport-sms-size-number":      "900619746936498440^0:13000000000",
	"SmsReport-push-newer-fields":    "900619746936498442^0:13000000000",
	"SmsReport-intl":                 "100803030012345:6581234567",
	"SmsReport-intl-status-number":   "100803030012346:6581234568",
	"DypnsSmsVerifyReport":           "900619746936498441^0:13000000000",
	"SmsUp":                          "13000000000:123456:1234567890:20170601100000",
	"SmsUp-compact-time":             "13000000000:123456:1234567891:20170901000000",
	"SmsUp-sequence-string":          "13000000000:123456:123456:20170601100000",
	"SmsUp-emoji":                    "13000000000:123456:98765432109876543210:20170601100000",
	"VoiceReport":                    "100001616500^100001871490",
	"VoiceReport-duration-unit":      "100001616501^100001871491",
	"VoiceCallReport":                "100001616500^100001871490:200010:20170601100015",
	"MnsCardTemplate":                "",
	"MnsCardTemplate-extdata-string": "",
	"FlowReport":                     "",
}

func TestEverySampleHasItsBusinessKey(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			want, ok := wantKeys[f.name]
			if !ok {
				t.Fatalf("fixture %s has no expectation in wantKeys", f.name)
			}
			v, err := Parse(f.typ, f.json)
			if err != nil {
				t.Fatal(err)
			}
			if got := Key(f.typ, v); got != want {
				t.Errorf("Key = %q, want %q", got, want)
			}
		})
	}
}

// update rewrites the golden files of the normalized form: go test -run Normalizes -update.
var update = flag.Bool("update", false, "rewrite testdata/normalized/*.json from the current output")

// TestEverySampleNormalizesToItsGoldenJSON holds the normalized-form contract on every sample
// variant: json.Marshal of the payload is testdata/normalized/<fixture>.json (compared
// compact; the files are indented to be read). Variants of one receipt (success "false" or
// 1, sms_size "2" or 2, Status "2" or 2) thereby show the same JSON types.
func TestEverySampleNormalizesToItsGoldenJSON(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			_, v, err := Decode(f.typ, f.body(), "")
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "normalized", f.name+".json")
			if *update {
				var out bytes.Buffer
				if err := json.Indent(&out, got, "", "  "); err != nil {
					t.Fatal(err)
				}
				out.WriteByte('\n')
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run Normalizes -update to create it)", err)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, golden); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if string(got) != want.String() {
				t.Errorf("json.Marshal(payload) =\n%s\nwant (%s)\n%s", got, path, want.String())
			}
			checkNormalized(t, f.typ, v)
		})
	}
}

// TestPushItemsParseLikeQueueBodies holds the HTTP batch push contract: every sample, sent as
// an item of the JSON array Alicom POSTs, parses with Parse into the same value as the queue
// body, and gets an ItemID that is its business key when it has one and is stable otherwise.
func TestPushItemsParseLikeQueueBodies(t *testing.T) {
	byType := map[string][]fixture{}
	for _, f := range loadFixtures(t) {
		byType[f.typ] = append(byType[f.typ], f)
	}
	for typ, fs := range byType {
		t.Run(typ, func(t *testing.T) {
			var batch bytes.Buffer
			batch.WriteByte('[')
			for i, f := range fs {
				if i > 0 {
					batch.WriteString(", ")
				}
				batch.Write(f.json)
			}
			batch.WriteByte(']')
			var items []json.RawMessage
			if err := json.Unmarshal(batch.Bytes(), &items); err != nil {
				t.Fatal(err)
			}
			for i, item := range items {
				f := fs[i]
				fromPush, err := Parse(typ, item)
				if err != nil {
					t.Fatalf("%s: Parse: %v", f.name, err)
				}
				_, fromQueue, err := Decode(typ, f.body(), md5Hex(f.body()))
				if err != nil {
					t.Fatalf("%s: Decode: %v", f.name, err)
				}
				if _, raw := fromQueue.(Raw); raw {
					if !bytes.Equal(bytes.TrimSpace(fromPush.(Raw)), bytes.TrimSpace(fromQueue.(Raw))) {
						t.Errorf("%s: Raw differs: push %s, queue %s", f.name, fromPush, fromQueue)
					}
				} else if !reflect.DeepEqual(fromPush, fromQueue) {
					t.Errorf("%s: push item = %#v, queue body = %#v", f.name, fromPush, fromQueue)
				}
				id := ItemID(typ, fromPush, item)
				if key := wantKeys[f.name]; key != "" && id != key {
					t.Errorf("%s: ItemID = %q, want the business key %q", f.name, id, key)
				}
				if again := ItemID(typ, fromPush, f.json); id != again {
					t.Errorf("%s: ItemID differs with the item's whitespace: %q and %q", f.name, id, again)
				}
			}
		})
	}
}
