package mnsqueue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/valyala/fasthttp"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/queue"
)

// capture keeps a copy of the last request and answers 204.
type capture struct{ req *fasthttp.Request }

func (c *capture) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	c.req = fasthttp.AcquireRequest()
	req.CopyTo(c.req)
	resp.SetStatusCode(fasthttp.StatusNoContent)
	return false, nil
}

// wire is a request as written on the connection, its header lines sorted: the SDK writes its
// headers in map order.
func wire(t *testing.T, req *fasthttp.Request) (requestLine string, headers []string, body string) {
	t.Helper()
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := req.Write(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(b.String(), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	headers = lines[1:]
	slices.Sort(headers)
	return lines[0], headers, body
}

// TestRequestsAreTheSDKs signs and writes the same requests with the SDK's client.Send and
// with setRequest, and compares them as written on the connection: request line, every header
// (Authorization, Content-MD5, Content-Type, Date, x-mns-version, security-token, User-Agent,
// Host, Content-Length) and body.
func TestRequestsAreTheSDKs(t *testing.T) {
	handles := []string{"5F290C926D472878-2-14D9529A8FA-200000001-1dQ+bX/9==", "a&b<c>"}
	for _, endpoint := range []string{config.DefaultMNSEndpoint, "http://127.0.0.1:9911", "http://localhost:9911", "https://mns.example.com"} {
		for _, k := range []keys{
			{id: "LTAI5tExampleKey", secret: "example-secret-0123456789"},
			{id: "STS.NUgYrLnoC37mZZCNnAbez2HFi", secret: "3dZn4T9zBgCbNVJS8vZvnMbgFiKgHiRBsPsWi8HJ", token: "CAIS" + strings.Repeat("x+/=", 150)},
		} {
			for _, tt := range []struct {
				method   ali_mns.Method
				resource string
				body     []byte
			}{
				{ali_mns.GET, "queues/Alicom-Queue-1092397003988387-SmsReport/messages?numOfMessages=16&waitseconds=0", nil},
				{ali_mns.GET, "queues/q/messages?numOfMessages=1&waitseconds=30", nil},
				{ali_mns.DELETE, "queues/q/messages", appendDeleteBody(nil, handles)},
			} {
				name := endpoint + " " + string(tt.method) + " " + tt.resource
				if k.token != "" {
					name += " with a token"
				}
				t.Run(name, func(t *testing.T) {
					c, err := NewSDKClient(SDKClientConfig{Endpoint: endpoint, AccessKeyID: k.id, AccessKeySecret: k.secret, SecurityToken: k.token})
					if err != nil {
						t.Fatal(err)
					}
					sdk := &capture{}
					c.Conns.Transport = sdk
					var msg any
					if tt.body != nil {
						msg = tt.body
					}
					resp, err := c.Send(tt.method, nil, msg, tt.resource)
					if err != nil {
						t.Fatal(err)
					}
					fasthttp.ReleaseResponse(resp)

					q, err := New(Config{Endpoint: endpoint, QueueName: "q", Credentials: StaticKeys{AccessKeyID: k.id, AccessKeySecret: k.secret, SecurityToken: k.token}})
					if err != nil {
						t.Fatal(err)
					}
					ours := fasthttp.AcquireRequest()
					ours.SetBody(tt.body)
					s := q.getSigner(k.secret)
					q.setRequest(ours, s, string(tt.method), []byte("/"+tt.resource), k, string(sdk.req.Header.Peek("Date")))

					sdkLine, sdkHeaders, sdkBody := wire(t, sdk.req)
					line, headers, body := wire(t, ours)
					if line != sdkLine || body != sdkBody {
						t.Errorf("request line and body:\n%q %q\nwant (the SDK's)\n%q %q", line, body, sdkLine, sdkBody)
					}
					if !slices.Equal(headers, sdkHeaders) {
						t.Errorf("headers:\n%s\nwant (the SDK's)\n%s", strings.Join(headers, "\n"), strings.Join(sdkHeaders, "\n"))
					}
					if got, want := ours.Header.Peek("Authorization"), sdk.req.Header.Peek("Authorization"); len(want) == 0 || !bytes.Equal(got, want) {
						t.Errorf("Authorization %q, want %q", got, want)
					}
				})
			}
		}
	}
}

// TestSignatureOfTheDocumentation checks the HMAC against MNS's published example, so the
// comparison with the SDK cannot pass with both wrong.
func TestSignatureOfTheDocumentation(t *testing.T) {
	// GET\n\n\nThu, 09 Jul 2015 03:01:34 GMT\nx-mns-version:2015-06-06\n/MyQueue gives
	// uwx3yeWoILzgmvesW0BQSgfM7b8= with the secret TestAccessSecret. appendAuthorization
	// always signs a Content-Type, so the example is checked through the signer's HMAC.
	q := &Queue{}
	s := q.getSigner("TestAccessSecret")
	s.mac.Write([]byte("GET\n\n\nThu, 09 Jul 2015 03:01:34 GMT\nx-mns-version:2015-06-06\n/MyQueue"))
	if got := base64.StdEncoding.EncodeToString(s.mac.Sum(nil)); got != "uwx3yeWoILzgmvesW0BQSgfM7b8=" {
		t.Fatalf("got %s", got)
	}
}

func TestDateHeaderIsTheSDKsFormat(t *testing.T) {
	d := dateHeader()
	parsed, err := time.Parse(time.RFC1123, d)
	if err != nil || !strings.HasSuffix(d, " GMT") || time.Since(parsed) > 2*time.Second {
		t.Fatalf("Date %q: %v", d, err)
	}
}

// fakeAnswer answers every request with status and body.
type fakeAnswer struct {
	status int
	body   string
}

func (f fakeAnswer) RoundTrip(_ *fasthttp.HostClient, _ *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	resp.SetStatusCode(f.status)
	resp.SetBodyString(f.body)
	return false, nil
}

func TestAnswersMapToTheQueueKinds(t *testing.T) {
	const errorDoc = `<?xml version="1.0" ?><Error xmlns="http://mns.aliyuncs.com/doc/v1"><Code>%s</Code>` +
		`<Message>%s</Message><RequestId>6AB5CE414643340F0020CEFA</RequestId><HostId>http://x</HostId></Error>`
	f := func(code, message string) string {
		return strings.Replace(strings.Replace(errorDoc, "%s", code, 1), "%s", message, 1)
	}
	tok := keys{id: "STS.k", secret: "the-secret", token: "the-token"}
	tests := []struct {
		name    string
		op      string
		answer  fakeAnswer
		k       keys
		want    error
		wantMsg string
	}{
		{"an empty queue", "receive", fakeAnswer{404, f("MessageNotExist", "Message not exist.")}, tok, queue.ErrEmpty, "MNS MessageNotExist (request id 6AB5CE414643340F0020CEFA): Message not exist."},
		{"throttling", "receive", fakeAnswer{400, f("QpsLimitExceeded", "slow down")}, tok, queue.ErrThrottled, "QpsLimitExceeded"},
		{"an expired token", "receive", fakeAnswer{403, f("SecurityTokenExpired", "The security token you provided has expired.")}, tok, queue.ErrTokenExpired, "SecurityTokenExpired"},
		{"a rejected token on delete", "delete", fakeAnswer{403, f("InvalidAccessKeyId", "The access Id you provided is not exist.")}, tok, queue.ErrTokenRejected, "InvalidAccessKeyId"},
		{"a fixed key refused", "delete", fakeAnswer{403, f("InvalidAccessKeyId", "")}, keys{id: "k", secret: "s"}, queue.ErrAccessDenied, "InvalidAccessKeyId"},
		{"a missing queue on delete", "delete", fakeAnswer{404, f("QueueNotExist", "The queue name you provided is not exist.")}, tok, queue.ErrQueueNotExist, "QueueNotExist"},
		{"a server fault", "receive", fakeAnswer{500, f("InternalError", "oops")}, tok, queue.ErrTransport, "InternalError"},
		{"a proxy's page", "delete", fakeAnswer{502, "<html>Bad Gateway</html>"}, tok, queue.ErrTransport, "not MNS XML"},
		{"a secret quoted back is redacted", "receive", fakeAnswer{403, f("SignatureDoesNotMatch", "string to sign with the-secret and the-token")}, tok, queue.ErrTokenRejected, "SignatureDoesNotMatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := New(Config{Endpoint: "http://127.0.0.1:9", QueueName: "q", Credentials: StaticKeys{AccessKeyID: "k", AccessKeySecret: "s"}})
			if err != nil {
				t.Fatal(err)
			}
			q.hc.Transport = tt.answer
			if tt.op == "receive" {
				_, err = q.batchReceive(context.Background(), tt.k, 16, 0)
			} else {
				_, err = q.batchDelete(context.Background(), tt.k, []string{"h"})
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("got %v, want %v mentioning %q", err, tt.want, tt.wantMsg)
			}
			if strings.Contains(err.Error(), "the-secret") || strings.Contains(err.Error(), "the-token") {
				t.Fatalf("a secret in %v", err)
			}
		})
	}
}

func TestAPartialDeleteFailureNamesEachHandle(t *testing.T) {
	answer := fakeAnswer{404, `<?xml version="1.0" ?><Errors xmlns="http://mns.aliyuncs.com/doc/v1">` +
		`<Error><ErrorCode>MessageNotExist</ErrorCode><ErrorMessage>Message not exist.</ErrorMessage><ReceiptHandle>h1</ReceiptHandle></Error>` +
		`<Error><ErrorCode>ReceiptHandleError</ErrorCode><ErrorMessage>The receipt handle you provided is not valid.</ErrorMessage><ReceiptHandle>h&amp;2</ReceiptHandle></Error>` +
		`<Error><ErrorCode>SecurityTokenExpired</ErrorCode><ErrorMessage>expired</ErrorMessage><ReceiptHandle>h3</ReceiptHandle></Error>` +
		`</Errors>`}
	var reported []string
	creds := &rejectCounter{StaticKeys: StaticKeys{AccessKeyID: "STS.k", AccessKeySecret: "s", SecurityToken: "t"}, reported: &reported}
	q, err := New(Config{Endpoint: "http://127.0.0.1:9", QueueName: "q", Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	q.hc.Transport = answer
	failed, err := q.Delete(context.Background(), []string{"h1", "h&2", "h3", "h4"})
	if err != nil || len(failed) != 3 {
		t.Fatalf("got %+v, %v; want 3 failures", failed, err)
	}
	for i, want := range []struct {
		handle string
		kind   error
	}{{"h1", queue.ErrStaleHandle}, {"h&2", queue.ErrStaleHandle}, {"h3", queue.ErrTokenExpired}} {
		if failed[i].ReceiptHandle != want.handle || !errors.Is(failed[i].Err, want.kind) {
			t.Errorf("failure %d: %q %v, want %q %v", i, failed[i].ReceiptHandle, failed[i].Err, want.handle, want.kind)
		}
	}
	if len(reported) != 1 || reported[0] != "t" {
		t.Fatalf("reported %v, want the token once", reported)
	}

	q.hc.Transport = fakeAnswer{404, `<Errors xmlns="http://mns.aliyuncs.com/doc/v1"></Errors>`}
	if _, err := q.Delete(context.Background(), []string{"h1"}); err == nil || !strings.Contains(err.Error(), "without naming a receipt handle") {
		t.Fatalf("got %v", err)
	}

	q.hc.Transport = fakeAnswer{404, `<Errors xmlns="http://mns.aliyuncs.com/doc/v1">` +
		`<Error><ErrorCode>MessageNotExist</ErrorCode><ErrorMessage>Message not exist.</ErrorMessage><ReceiptHandle>h1</ReceiptHandle></Error>` +
		`<Error><ErrorCode>InternalError</ErrorCode><ErrorMessage>oops</ErrorMessage></Error></Errors>`}
	failed, err = q.Delete(context.Background(), []string{"h1", "h2"})
	if failed != nil || !errors.Is(err, queue.ErrTransport) || !strings.Contains(err.Error(), "which messages were deleted is unknown") {
		t.Fatalf("a failure naming no handle: got %+v, %v; want the request failed as a whole", failed, err)
	}
}

type rejectCounter struct {
	StaticKeys
	reported *[]string
}

func (r *rejectCounter) ReportRejected(_, token string) bool {
	*r.reported = append(*r.reported, token)
	return false
}

// An answer that is not MNS XML is quoted shortened in the error. A proxy's page that echoes the
// request's headers quotes the security token, which is longer than what is kept: the token
// must be taken out before the text is cut, or the cut leaves a piece of it that no longer
// matches the token and stays.
func TestAQuotedTokenIsRedactedBeforeTheAnswerIsShortened(t *testing.T) {
	k := keys{id: "STS.k", secret: "the-secret-0123456789", token: "CAIS" + strings.Repeat("0123456789", 60)}
	q, err := New(Config{Endpoint: "http://127.0.0.1:9", QueueName: "q", Credentials: StaticKeys{AccessKeyID: "k", AccessKeySecret: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	q.hc.Transport = fakeAnswer{502, "<html>Bad Gateway; your request: security-token: " + k.token + "</html>"}
	for _, op := range []string{"receive", "delete"} {
		if op == "receive" {
			_, err = q.batchReceive(context.Background(), k, 16, 0)
		} else {
			_, err = q.batchDelete(context.Background(), k, []string{"h"})
		}
		if !errors.Is(err, queue.ErrTransport) || !strings.Contains(err.Error(), "not MNS XML") {
			t.Fatalf("%s: got %v, want ErrTransport for a page that is not MNS XML", op, err)
		}
		if strings.Contains(err.Error(), k.token[:12]) {
			t.Fatalf("%s: a piece of the token is in %v", op, err)
		}
	}
}

// MNS's <Error> messages are a sentence; a server that sends megabytes in one is quoted cut, as
// any other answer is, so one error does not become a log line of the answer's size.
func TestAnErrorAnswersMessageIsQuotedShortened(t *testing.T) {
	long := strings.Repeat("m", 100<<10)
	q, err := New(Config{Endpoint: "http://127.0.0.1:9", QueueName: "q", Credentials: StaticKeys{AccessKeyID: "k", AccessKeySecret: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	k := keys{id: "k", secret: "the-secret"}
	q.hc.Transport = fakeAnswer{500, `<Error><Code>InternalError</Code><Message>` + long + `</Message></Error>`}
	if _, err := q.batchReceive(context.Background(), k, 16, 0); !errors.Is(err, queue.ErrTransport) || len(err.Error()) > 1000 {
		t.Fatalf("receive: got %d bytes of error (%v), want a short ErrTransport", len(err.Error()), errors.Unwrap(err))
	}
	q.hc.Transport = fakeAnswer{404, `<Errors><Error><ErrorCode>ReceiptHandleError</ErrorCode><ErrorMessage>` + long +
		`</ErrorMessage><ReceiptHandle>h</ReceiptHandle></Error></Errors>`}
	failed, err := q.batchDelete(context.Background(), k, []string{"h"})
	if err != nil || len(failed) != 1 || !errors.Is(failed[0].Err, queue.ErrStaleHandle) || len(failed[0].Err.Error()) > 1000 {
		t.Fatalf("delete: got %v, %d failures, want one short ErrStaleHandle", err, len(failed))
	}
}
