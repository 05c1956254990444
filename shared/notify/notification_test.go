package notify_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/notify"
	"github.com/alicom-drain/alicom-drain/shared/notify/notifytest"
)

// seedXML is the body of an XML push as MNS sends it (seed 004's first message).
const seedXML = `<?xml version="1.0" encoding="utf-8"?>
<Notification xmlns="http://mns.aliyuncs.com/doc/v1/">
  <TopicOwner>1269128356620446</TopicOwner>
  <TopicName>MyTopic1</TopicName>
  <Subscriber>1269128356620446</Subscriber>
  <SubscriptionName>MyTopic1-Sub1</SubscriptionName>
  <MessageId>F6EA56633844DBFC-1-154BDFB8059-200000004</MessageId>
  <MessageMD5>075C3D4AEB2D2F2D6A4C17C9D6DBBEBB</MessageMD5>
  <MessageTag></MessageTag>
  <Message>I am test message 0.</Message>
  <PublishTime>1463476256857</PublishTime>
</Notification>`

const seedJSON = `{"TopicOwner":"1269128356620446","TopicName":"MyTopic1","Subscriber":"1269128356620446",` +
	`"SubscriptionName":"MyTopic1-Sub1","MessageId":"F6EA56633844DBFC-1-154BDFB8059-200000004",` +
	`"MessageMD5":"075C3D4AEB2D2F2D6A4C17C9D6DBBEBB","MessageTag":"","Message":"I am test message 0.",` +
	`"PublishTime":"1463476256857"}`

func TestTheSeedNotificationsParseInEveryFormat(t *testing.T) {
	want := notify.Notification{
		TopicOwner: "1269128356620446", TopicName: "MyTopic1", Subscriber: "1269128356620446",
		SubscriptionName: "MyTopic1-Sub1", MessageID: "F6EA56633844DBFC-1-154BDFB8059-200000004",
		MessageMD5: "075C3D4AEB2D2F2D6A4C17C9D6DBBEBB", Message: "I am test message 0.",
		PublishTime: time.UnixMilli(1463476256857),
	}
	simplifiedHeaders := http.Header{
		"X-Mns-Message-Id": {want.MessageID}, "X-Mns-Topic-Name": {"MyTopic1"},
		"X-Mns-Topic-Owner": {"1269128356620446"}, "X-Mns-Subscriber": {"1269128356620446"},
		"X-Mns-Subscription-Name": {"MyTopic1-Sub1"}, "X-Mns-Publish-Time": {"1463476256857"},
	}
	tests := []struct {
		name   string
		header http.Header
		body   string
		format notify.Format
		want   notify.Format
	}{
		{"XML recognised", http.Header{"Content-Type": {"text/xml;charset=utf-8"}}, seedXML, notify.FormatAuto, notify.FormatXML},
		{"XML pinned", nil, seedXML, notify.FormatXML, notify.FormatXML},
		{"JSON recognised", http.Header{"Content-Type": {"application/json"}}, seedJSON, notify.FormatAuto, notify.FormatJSON},
		{"JSON with a numeric PublishTime", nil, `{"MessageId":"F6EA56633844DBFC-1-154BDFB8059-200000004","Message":"I am test message 0.","PublishTime":1463476256857,"TopicOwner":"1269128356620446","TopicName":"MyTopic1","Subscriber":"1269128356620446","SubscriptionName":"MyTopic1-Sub1","MessageMD5":"075c3d4aeb2d2f2d6a4c17c9d6dbbebb"}`, notify.FormatJSON, notify.FormatJSON},
		{"SIMPLIFIED recognised", simplifiedHeaders, "I am test message 0.", notify.FormatAuto, notify.FormatSimplified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := notify.ParseNotification(tt.header, []byte(tt.body), tt.format)
			if err != nil {
				t.Fatal(err)
			}
			w := want
			w.Format = tt.want
			if tt.want == notify.FormatSimplified {
				w.MessageMD5 = ""
			}
			if !equal(n, w) {
				t.Errorf("got  %+v\nwant %+v", n, w)
			}
		})
	}
}

func TestABodyThatOnlyLooksLikeAFormatIsSimplified(t *testing.T) {
	h := http.Header{"X-Mns-Message-Id": {"ID-1"}, "Content-Type": {"text/plain;charset=utf-8"}}
	for _, body := range []string{
		`{"phone_number":"13000000000","success":true}`, // an Alicom receipt published as JSON
		`<html>not a notification</html>`,
		`eyJwaG9uZV9udW1iZXIiOiIxMzAwMDAwMDAwMCJ9`, // base64 JSON, Alicom style
		`{broken`,
	} {
		n, err := notify.ParseNotification(h, []byte(body), notify.FormatAuto)
		if err != nil || n.Format != notify.FormatSimplified || n.Message != body || n.MessageID != "ID-1" {
			t.Errorf("%q: %+v, %v", body, n, err)
		}
	}
}

func equal(a, b notify.Notification) bool {
	return a.Format == b.Format && a.TopicOwner == b.TopicOwner && a.TopicName == b.TopicName &&
		a.Subscriber == b.Subscriber && a.SubscriptionName == b.SubscriptionName &&
		a.MessageID == b.MessageID && a.MessageMD5 == b.MessageMD5 && a.MessageTag == b.MessageTag &&
		a.Message == b.Message && a.PublishTime.Equal(b.PublishTime)
}

// FuzzParseNotification checks that no body makes the parser panic, that every refusal is an
// ErrMalformed, and that whatever parses survives a round trip through the encoder of its
// format unchanged.
func FuzzParseNotification(f *testing.F) {
	f.Add([]byte(seedXML), "text/xml;charset=utf-8", uint8(0), "")
	f.Add([]byte(seedJSON), "application/json", uint8(0), "")
	f.Add([]byte("I am test message 0."), "text/plain", uint8(0), "F6EA56633844DBFC-1-154BDFB8059-200000004")
	f.Add([]byte(seedXML), "", uint8(1), "")
	f.Add([]byte(seedJSON), "", uint8(2), "")
	f.Add([]byte(`{"MessageId":"1","Message":"x","PublishTime":12}`), "", uint8(0), "")
	f.Add([]byte(`<Notification xmlns="a"><MessageId> 1 </MessageId><Message>&lt;&#xD;&#x10FFFF;</Message></Notification><!-- c -->`), "", uint8(0), "")
	f.Add([]byte(`<a:Notification xmlns:a="x"><a:MessageId>1</a:MessageId><Message/></a:Notification>`), "text/xml", uint8(0), "")
	f.Add([]byte("\ufeff  <Notification>"), "text/xml", uint8(0), "")
	f.Add([]byte(`{"MessageId":"\ud800","Message":"\u0000","MessageMD5":null}`), "", uint8(0), "")
	f.Add([]byte(""), "", uint8(3), "id")
	formats := []notify.Format{notify.FormatAuto, notify.FormatXML, notify.FormatJSON, notify.FormatSimplified}
	f.Fuzz(func(t *testing.T, body []byte, ctype string, format uint8, headerID string) {
		h := http.Header{}
		h.Set("Content-Type", ctype)
		if headerID != "" {
			h.Set("X-Mns-Message-Id", headerID)
		}
		fm := formats[int(format)%len(formats)]
		n, err := notify.ParseNotification(h, body, fm)
		if err != nil {
			if !errors.Is(err, notify.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if n.MessageID == "" {
			t.Fatal("parsed a notification without a message id")
		}
		var again notify.Notification
		switch n.Format {
		case notify.FormatXML:
			again, err = notify.ParseNotification(nil, notifytest.EncodeXML(n), notify.FormatXML)
		case notify.FormatJSON:
			again, err = notify.ParseNotification(nil, notifytest.EncodeJSON(n), notify.FormatJSON)
		case notify.FormatSimplified:
			if n.Message != string(body) {
				t.Fatalf("SIMPLIFIED message %q differs from the body %q", n.Message, body)
			}
			return
		default:
			t.Fatalf("parsed with format %q", n.Format)
		}
		if err != nil {
			t.Fatalf("re-encoded %s notification does not parse: %v\n%+v", n.Format, err, n)
		}
		if !equal(n, again) {
			t.Fatalf("round trip changed the notification:\n got  %+v\nfrom %+v", again, n)
		}
	})
}
