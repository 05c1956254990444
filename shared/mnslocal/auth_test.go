package mnslocal

import (
	"net/http"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/dybaseapi"
	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

func TestSignatureMatchesTheOfficialTestVector(t *testing.T) {
	const want = "uwx3yeWoILzgmvesW0BQSgfM7b8="
	sts := "GET\n\n\nThu, 09 Jul 2015 03:01:34 GMT\nx-mns-version:2015-06-06\n/MyQueue"
	if got := mnsSignature("TestAccessSecret", sts); got != want {
		t.Fatalf("signature of the official vector: got %s, want %s", got, want)
	}
	// The same string rebuilt from a request as the server sees it.
	r := &http.Request{Method: "GET", RequestURI: "/MyQueue", Header: http.Header{}}
	r.Header.Set("Date", "Thu, 09 Jul 2015 03:01:34 GMT")
	r.Header.Set("x-mns-version", "2015-06-06")
	r.Header.Set("security-token", "not signed")
	if got := mnsStringToSign(r, r.Header.Get("Date")); got != sts {
		t.Fatalf("string to sign:\n%q\nwant\n%q", got, sts)
	}
}

func TestAuthenticationFailures(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	send := func(c ali_mns.MNSClient) error {
		_, err := ali_mns.NewMNSQueue("q", c).SendMessage(ali_mns.MessageSendRequest{MessageBody: "x", Priority: 8})
		return err
	}
	t.Run("a wrong secret is SignatureDoesNotMatch", func(t *testing.T) {
		wantCode(t, send(newSDKClient(t, srv, DefaultAccessKeyID, "wrong", "")), "SignatureDoesNotMatch")
	})
	t.Run("an unknown key is InvalidAccessKeyId", func(t *testing.T) {
		wantCode(t, send(newSDKClient(t, srv, "someone", DefaultAccessKeySecret, "")), "InvalidAccessKeyId")
	})
	t.Run("an unknown STS key is InvalidAccessKeyId", func(t *testing.T) {
		wantCode(t, send(newSDKClient(t, srv, "STS.unknown", "s", "token")), "InvalidAccessKeyId")
	})

	tests := []struct {
		name   string
		req    rawRequest
		status int
		code   string
	}{
		{"a tampered query is SignatureDoesNotMatch",
			rawRequest{method: "GET", target: "/queues/q/messages?numOfMessages=16", signTarget: "/queues/q/messages?numOfMessages=1"},
			403, "SignatureDoesNotMatch"},
		{"a tampered path is SignatureDoesNotMatch",
			rawRequest{method: "GET", target: "/queues/q", signTarget: "/queues/other"},
			403, "SignatureDoesNotMatch"},
		{"a Date 20 minutes old is TimeExpired",
			rawRequest{method: "GET", target: "/queues/q", date: time.Now().Add(-20 * time.Minute).UTC().Format(http.TimeFormat)},
			408, "TimeExpired"},
		{"a Date 20 minutes ahead is TimeExpired",
			rawRequest{method: "GET", target: "/queues/q", date: time.Now().Add(20 * time.Minute).UTC().Format(http.TimeFormat)},
			408, "TimeExpired"},
		{"a missing Date is MissingDateHeader",
			rawRequest{method: "GET", target: "/queues/q", header: map[string]string{"Date": ""}},
			400, "MissingDateHeader"},
		{"an unparsable Date is InvalidDateHeader",
			rawRequest{method: "GET", target: "/queues/q", date: "yesterday"},
			400, "InvalidDateHeader"},
		{"a missing Authorization is MissingAuthorizationHeader",
			rawRequest{method: "GET", target: "/queues/q", noAuth: true},
			400, "MissingAuthorizationHeader"},
		{"a non-MNS Authorization is InvalidAuthorizationHeader",
			rawRequest{method: "GET", target: "/queues/q", noAuth: true, header: map[string]string{"Authorization": "Bearer x"}},
			400, "InvalidAuthorizationHeader"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.req.do(t, srv)
			if resp.status != tt.status || !containsElem(resp.body, "Code", tt.code) {
				t.Fatalf("got %d %s, want %d %s", resp.status, resp.body, tt.status, tt.code)
			}
		})
	}

	t.Run("x-mns-date replaces Date", func(t *testing.T) {
		resp := rawRequest{method: "GET", target: "/queues/q", header: map[string]string{
			"Date":       "garbage",
			"x-mns-date": time.Now().UTC().Format(http.TimeFormat),
		}}.do(t, srv)
		if resp.status != 200 {
			t.Fatalf("got %d %s", resp.status, resp.body)
		}
	})
}

// issueToken asks the emulator for an STS token through the real Dybaseapi SDK.
func issueToken(t *testing.T, srv *Server, messageType string) dybaseapi.MessageTokenDTO {
	t.Helper()
	resp, err := newTokenClient(t, srv, DefaultAccessKeyID, DefaultAccessKeySecret).QueryTokenForMnsQueue(tokenRequest(messageType))
	mustNoErr(t, err, "QueryTokenForMnsQueue")
	return resp.MessageTokenDTO
}

func TestSTSTokenScope(t *testing.T) {
	srv := newTestServer(t, Config{})
	own, other := srv.AlicomQueueName("SmsReport"), srv.AlicomQueueName("SmsUp")
	for _, q := range []string{own, other} {
		if _, err := srv.SendMessage(q, "report"); err != nil {
			t.Fatal(err)
		}
	}
	tok := issueToken(t, srv, "SmsReport")
	sts := newSDKClient(t, srv, tok.AccessKeyId, tok.AccessKeySecret, tok.SecurityToken)

	got, err := receive(ali_mns.NewMNSQueue(own, sts), 16, 0)
	mustNoErr(t, err, "STS receive from its own queue")
	changed, err := ali_mns.NewMNSQueue(own, sts).ChangeMessageVisibility(got.Messages[0].ReceiptHandle, 5)
	mustNoErr(t, err, "STS change visibility on its own queue")
	_, err = ali_mns.NewMNSQueue(own, sts).BatchDeleteMessage(changed.ReceiptHandle)
	mustNoErr(t, err, "STS delete on its own queue")

	denied := []struct {
		name string
		call func() error
	}{
		{"receive from another type's queue", func() error { _, err := receive(ali_mns.NewMNSQueue(other, sts), 1, 0); return err }},
		{"send to its own queue", func() error {
			_, err := ali_mns.NewMNSQueue(own, sts).SendMessage(ali_mns.MessageSendRequest{MessageBody: "x", Priority: 8})
			return err
		}},
		{"create a queue", func() error { return ali_mns.NewMNSQueueManager(sts).CreateSimpleQueue("mine") }},
		{"read queue attributes", func() error {
			_, err := ali_mns.NewMNSQueueManager(sts).GetQueueAttributes(own)
			return err
		}},
		{"list queues", func() error { _, err := ali_mns.NewMNSQueueManager(sts).ListQueue("", 0, ""); return err }},
	}
	for _, d := range denied {
		t.Run("an STS token may not "+d.name, func(t *testing.T) { wantCode(t, d.call(), "AccessDenied") })
	}

	t.Run("a wrong security token is InvalidSecurityToken", func(t *testing.T) {
		bad := newSDKClient(t, srv, tok.AccessKeyId, tok.AccessKeySecret, tok.SecurityToken+"x")
		_, err := receive(ali_mns.NewMNSQueue(own, bad), 1, 0)
		wantCode(t, err, "InvalidSecurityToken")
	})
	t.Run("the token is accepted in x-mns-security-token too", func(t *testing.T) {
		resp := rawRequest{method: "GET", target: "/queues/" + own + "/messages?peekonly=true", ak: tok.AccessKeyId, sk: tok.AccessKeySecret,
			header: map[string]string{"x-mns-security-token": tok.SecurityToken}}.do(t, srv)
		if resp.status != 200 && resp.status != 404 {
			t.Fatalf("got %d %s", resp.status, resp.body)
		}
		if containsElem(resp.body, "Code", "AccessDenied") || containsElem(resp.body, "Code", "InvalidSecurityToken") {
			t.Fatalf("got %s", resp.body)
		}
	})
}

func TestSTSTokenExpiry(t *testing.T) {
	clock := newFakeClock()
	srv := newTestServer(t, Config{TokenTTL: 2 * time.Minute, Now: clock.Now})
	own := srv.AlicomQueueName("SmsReport")
	if _, err := srv.SendMessage(own, "report"); err != nil {
		t.Fatal(err)
	}

	tok := issueToken(t, srv, "SmsReport")
	q := ali_mns.NewMNSQueue(own, newSDKClient(t, srv, tok.AccessKeyId, tok.AccessKeySecret, tok.SecurityToken))
	_, err := peekBatch(q, 1)
	mustNoErr(t, err, "peek with a fresh token")
	clock.Add(2*time.Minute + time.Second)
	_, err = peekBatch(q, 1)
	wantCode(t, err, "SecurityTokenExpired")

	fresh := issueToken(t, srv, "SmsReport")
	q = ali_mns.NewMNSQueue(own, newSDKClient(t, srv, fresh.AccessKeyId, fresh.AccessKeySecret, fresh.SecurityToken))
	_, err = peekBatch(q, 1)
	mustNoErr(t, err, "peek with a new token")
	srv.ExpireTokens()
	_, err = peekBatch(q, 1)
	wantCode(t, err, "SecurityTokenExpired")

	after := issueToken(t, srv, "SmsReport")
	q = ali_mns.NewMNSQueue(own, newSDKClient(t, srv, after.AccessKeyId, after.AccessKeySecret, after.SecurityToken))
	_, err = peekBatch(q, 1)
	mustNoErr(t, err, "a token issued after ExpireTokens works")
}
