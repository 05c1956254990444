package mnsqueue

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"

	"github.com/alicom-drain/alicom-drain/internal/queue"
)

// answer is a BatchReceiveMessage answer as MNS (and the emulator) writes it.
const answer = `<?xml version="1.0" ?>
<Messages xmlns="http://mns.aliyuncs.com/doc/v1">
  <Message>
    <MessageId>5F290C926D472878-2-14D9529A8FA-200000001</MessageId>
    <ReceiptHandle>5F290C926D472878-2-14D9529A8FA-200000001-1dQ+bX/9==</ReceiptHandle>
    <MessageBodyMD5>C5DD56A39F5F7BB8B3337C6D11B6D8C7</MessageBodyMD5>
    <MessageBody>eyJhIjoiPD4mIn0=</MessageBody>
    <EnqueueTime>1250700979248</EnqueueTime>
    <NextVisibleTime>1250700799348</NextVisibleTime>
    <FirstDequeueTime>1250700779318</FirstDequeueTime>
    <DequeueCount>3</DequeueCount>
    <Priority>8</Priority>
  </Message>
  <Message>
    <MessageId>A</MessageId>
    <ReceiptHandle>A-x</ReceiptHandle>
    <MessageBodyMD5>00</MessageBodyMD5>
    <MessageBody>&lt;xml a=&quot;1&quot;&gt; &amp; &apos;é&#233;&#x1F600;&apos;</MessageBody>
    <EnqueueTime>1</EnqueueTime>
    <NextVisibleTime>2</NextVisibleTime>
    <FirstDequeueTime>3</FirstDequeueTime>
    <DequeueCount>1</DequeueCount>
    <Priority>16</Priority>
  </Message>
</Messages>`

func sdkDecode(body []byte) ([]queue.Message, error) {
	var out ali_mns.BatchMessageReceiveResponse
	err := ali_mns.NewAliMNSDecoder().Decode(bytes.NewReader(body), &out)
	return fromSDK(out.Messages), err
}

// sameFields compares what the drain reads of a message.
func sameFields(a, b []queue.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.ReceiptHandle != y.ReceiptHandle || x.Body != y.Body ||
			x.BodyMD5 != y.BodyMD5 || !x.EnqueueTime.Equal(y.EnqueueTime) || !x.NextVisibleTime.Equal(y.NextVisibleTime) ||
			!x.FirstDequeueTime.Equal(y.FirstDequeueTime) || x.DequeueCount != y.DequeueCount || x.Priority != y.Priority {
			return false
		}
	}
	return true
}

func TestDecodeBatchAgreesWithTheSDKOnAnMNSAnswer(t *testing.T) {
	got, ok := decodeBatch([]byte(answer))
	if !ok {
		t.Fatal("declined a plain MNS answer")
	}
	want, err := sdkDecode([]byte(answer))
	if err != nil {
		t.Fatal(err)
	}
	if !sameFields(got, want) || len(got) != 2 {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got[1].Body != `<xml a="1"> & 'éé😀'` {
		t.Fatalf("entities: %q", got[1].Body)
	}
}

func TestDecodeBatchDeclinesWhatItDoesNotModel(t *testing.T) {
	tests := []struct{ name, from, to string }{
		{"a CDATA section", "<MessageBody>eyJhIjoiPD4mIn0=</MessageBody>", "<MessageBody><![CDATA[x]]></MessageBody>"},
		{"a comment", "<Priority>8</Priority>", "<Priority>8</Priority><!-- c -->"},
		{"an attribute on a field", "<DequeueCount>3</DequeueCount>", `<DequeueCount a="1">3</DequeueCount>`},
		{"a namespace prefix", "<DequeueCount>3</DequeueCount>", "<m:DequeueCount>3</m:DequeueCount>"},
		{"a nested element", "<Priority>8</Priority>", "<Priority><x>8</x></Priority>"},
		{"a mismatched end tag", "<Priority>8</Priority>", "<Priority>8</Prio>"},
		{"an unknown entity", "eyJhIjoiPD4mIn0=", "a&nbsp;b"},
		{"a bare ampersand", "eyJhIjoiPD4mIn0=", "a & b"},
		{"a character XML forbids", "eyJhIjoiPD4mIn0=", "&#0;"},
		{"a carriage return encoding/xml would rewrite", "eyJhIjoiPD4mIn0=", "a\r\nb"},
		{"a count that is not a number", "<DequeueCount>3</DequeueCount>", "<DequeueCount>three</DequeueCount>"},
		{"a message without a receipt handle", "<ReceiptHandle>A-x</ReceiptHandle>", ""},
		{"a message that never ends", "  </Message>\n</Messages>", ""},
		{"a control character in the namespace (found by FuzzDecodeBatch)", `xmlns="http://mns.aliyuncs.com/doc/v1"`, "xmlns=\"\x1f\""},
		{"a space in the namespace", `xmlns="http://mns.aliyuncs.com/doc/v1"`, `xmlns="http://mns aliyuncs"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(answer, tt.from, tt.to, 1)
			if body == answer {
				t.Fatal("the case changes nothing")
			}
			if got, ok := decodeBatch([]byte(body)); ok {
				t.Fatalf("accepted: %+v", got)
			}
		})
	}
}

// FuzzDecodeBatch holds the fast decoder to the SDK's: whatever it accepts, encoding/xml must
// accept too and read the same fields. Declining is always allowed (the SDK then decodes).
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(answer))
	f.Add([]byte(`<Messages><Message><MessageId>1</MessageId><ReceiptHandle>h</ReceiptHandle><MessageBody>&#x41;&amp;</MessageBody></Message></Messages>`))
	f.Add([]byte(`<Messages><Message><MessageId>1</MessageId><ReceiptHandle>h</ReceiptHandle><Extra>x</Extra></Message></Messages>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := decodeBatch(body)
		if !ok {
			return
		}
		want, err := sdkDecode(body)
		if err != nil {
			t.Fatalf("accepted what encoding/xml refuses (%v): %q", err, body)
		}
		if !sameFields(got, want) {
			t.Fatalf("disagrees with encoding/xml on %q:\n got %+v\nwant %+v", body, got, want)
		}
	})
}

// BenchmarkReceiveDecode measures decoding a two-message receive answer with the fast decoder
// and with the SDK's encoding/xml decoder it replaces.
func BenchmarkReceiveDecode(b *testing.B) {
	body := []byte(answer)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodeBatch(body); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sdkDecode(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestDeleteBodyIsWhatTheSDKMarshals(t *testing.T) {
	tests := []struct {
		name    string
		handles []string
	}{
		{"one MNS handle", []string{"5F290C926D472878-2-14D9529A8FA-200000001-1dQ+bX/9=="}},
		{"a full batch", strings.Split(strings.Repeat("h-1,", 15)+"h-16", ",")},
		{"handles with characters XML escapes", []string{`a<b>&c`, `q"u'o`, "tab\there", "cr\r\nlf"}},
		{"handles that are not UTF-8", []string{"\xff\xfe", "ok"}},
		{"handles with control characters and characters XML forbids", []string{"a\x01b", "\uFFFE", "é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := xml.Marshal(ali_mns.ReceiptHandles{ReceiptHandles: tt.handles})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendDeleteBody(nil, tt.handles); string(got) != string(want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}
