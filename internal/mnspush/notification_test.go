package mnspush_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/mnspush"
	"github.com/alicom-drain/alicom-drain/internal/mnspush/mnspushtest"
)

// guideXML is the body of an XML push as MNS sends it (the topic push guide's first message).
const guideXML = `<?xml version="1.0" encoding="utf-8"?>
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

const guideJSON = `{"TopicOwner":"1269128356620446","TopicName":"MyTopic1","Subscriber":"1269128356620446",` +
	`"SubscriptionName":"MyTopic1-Sub1","MessageId":"F6EA56633844DBFC-1-154BDFB8059-200000004",` +
	`"MessageMD5":"075C3D4AEB2D2F2D6A4C17C9D6DBBEBB","MessageTag":"","Message":"I am test message 0.",` +
	`"PublishTime":"1463476256857"}`

func TestTheTopicPushGuidesNotificationsParseInEveryFormat(t *testing.T) {
	want := mnspush.Notification{
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
		format mnspush.Format
		want   mnspush.Format
	}{
		{"XML recognised", http.Header{"Content-Type": {"text/xml;charset=utf-8"}}, guideXML, mnspush.FormatAuto, mnspush.FormatXML},
		{"XML pinned", nil, guideXML, mnspush.FormatXML, mnspush.FormatXML},
		{"JSON recognised", http.Header{"Content-Type": {"application/json"}}, guideJSON, mnspush.FormatAuto, mnspush.FormatJSON},
		{"JSON with a numeric PublishTime", nil, `{"MessageId":"F6EA56633844DBFC-1-154BDFB8059-200000004","Message":"I am test message 0.","PublishTime":1463476256857,"TopicOwner":"1269128356620446","TopicName":"MyTopic1","Subscriber":"1269128356620446","SubscriptionName":"MyTopic1-Sub1","MessageMD5":"075c3d4aeb2d2f2d6a4c17c9d6dbbebb"}`, mnspush.FormatJSON, mnspush.FormatJSON},
		{"SIMPLIFIED recognised", simplifiedHeaders, "I am test message 0.", mnspush.FormatAuto, mnspush.FormatSimplified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := mnspush.ParseNotification(tt.header, []byte(tt.body), tt.format)
			if err != nil {
				t.Fatal(err)
			}
			w := want
			w.Format = tt.want
			if tt.want == mnspush.FormatSimplified {
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
		n, err := mnspush.ParseNotification(h, []byte(body), mnspush.FormatAuto)
		if err != nil || n.Format != mnspush.FormatSimplified || n.Message != body || n.MessageID != "ID-1" {
			t.Errorf("%q: %+v, %v", body, n, err)
		}
	}
}

func equal(a, b mnspush.Notification) bool {
	return a.Format == b.Format && a.TopicOwner == b.TopicOwner && a.TopicName == b.TopicName &&
		a.Subscriber == b.Subscriber && a.SubscriptionName == b.SubscriptionName &&
		a.MessageID == b.MessageID && a.MessageMD5 == b.MessageMD5 && a.MessageTag == b.MessageTag &&
		a.Message == b.Message && a.PublishTime.Equal(b.PublishTime)
}

// FuzzParseNotification checks that no body makes the parser panic, that every refusal is an
// ErrMalformed, and that whatever parses survives a round trip through the encoder of its
// format unchanged.
func FuzzParseNotification(f *testing.F) {
	f.Add([]byte(guideXML), "text/xml;charset=utf-8", uint8(0), "")
	f.Add([]byte(guideJSON), "application/json", uint8(0), "")
	f.Add([]byte("I am test message 0."), "text/plain", uint8(0), "F6EA56633844DBFC-1-154BDFB8059-200000004")
	f.Add([]byte(guideXML), "", uint8(1), "")
	f.Add([]byte(guideJSON), "", uint8(2), "")
	f.Add([]byte(`{"MessageId":"1","Message":"x","PublishTime":12}`), "", uint8(0), "")
	f.Add([]byte(`<Notification xmlns="a"><MessageId> 1 </MessageId><Message>&lt;&#xD;&#x10FFFF;</Message></Notification><!-- c -->`), "", uint8(0), "")
	f.Add([]byte(`<a:Notification xmlns:a="x"><a:MessageId>1</a:MessageId><Message/></a:Notification>`), "text/xml", uint8(0), "")
	f.Add([]byte("\ufeff  <Notification>"), "text/xml", uint8(0), "")
	f.Add([]byte(`{"MessageId":"\ud800","Message":"\u0000","MessageMD5":null}`), "", uint8(0), "")
	f.Add([]byte(""), "", uint8(3), "id")
	formats := []mnspush.Format{mnspush.FormatAuto, mnspush.FormatXML, mnspush.FormatJSON, mnspush.FormatSimplified}
	f.Fuzz(func(t *testing.T, body []byte, ctype string, format uint8, headerID string) {
		h := http.Header{}
		h.Set("Content-Type", ctype)
		if headerID != "" {
			h.Set("X-Mns-Message-Id", headerID)
		}
		fm := formats[int(format)%len(formats)]
		n, err := mnspush.ParseNotification(h, body, fm)
		if err != nil {
			if !errors.Is(err, mnspush.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if n.MessageID == "" {
			t.Fatal("parsed a notification without a message id")
		}
		var again mnspush.Notification
		switch n.Format {
		case mnspush.FormatXML:
			again, err = mnspush.ParseNotification(nil, mnspushtest.EncodeXML(n), mnspush.FormatXML)
		case mnspush.FormatJSON:
			again, err = mnspush.ParseNotification(nil, mnspushtest.EncodeJSON(n), mnspush.FormatJSON)
		case mnspush.FormatSimplified:
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
