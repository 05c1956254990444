package alicom

import (
	"encoding/base64"
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
