package mnslocal

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/dybaseapi"
)

func TestDybaseapiSDKIssuesTokens(t *testing.T) {
	srv := newTestServer(t, Config{TokenTTL: 5 * time.Minute})
	c := newTokenClient(t, srv, DefaultAccessKeyID, DefaultAccessKeySecret)

	req := tokenRequest("SmsReport")
	req.QueueName = srv.AlicomQueueName("SmsReport")
	resp, err := c.QueryTokenForMnsQueue(req)
	mustNoErr(t, err, "QueryTokenForMnsQueue")
	dto := resp.MessageTokenDTO
	if resp.Code != "OK" || resp.Message != "OK" || resp.RequestId == "" ||
		!strings.HasPrefix(dto.AccessKeyId, "STS.") || dto.AccessKeySecret == "" || dto.SecurityToken == "" {
		t.Fatalf("answer: %+v", resp)
	}
	created, err1 := time.ParseInLocation("2006-01-02 15:04:05", dto.CreateTime, fixedCST)
	expires, err2 := time.ParseInLocation("2006-01-02 15:04:05", dto.ExpireTime, fixedCST)
	if err1 != nil || err2 != nil || expires.Sub(created) != 5*time.Minute || time.Since(created).Abs() > time.Minute {
		t.Fatalf("CreateTime %q ExpireTime %q: want yyyy-MM-dd HH:mm:ss in UTC+8, 5 minutes apart", dto.CreateTime, dto.ExpireTime)
	}

	xmlReq := tokenRequest("SmsUp")
	xmlReq.AcceptFormat = "XML"
	xresp, err := c.QueryTokenForMnsQueue(xmlReq)
	mustNoErr(t, err, "QueryTokenForMnsQueue Format=XML")
	if !strings.HasPrefix(xresp.GetHttpContentString(), "<?xml") || xresp.Code != "OK" ||
		!strings.HasPrefix(xresp.MessageTokenDTO.AccessKeyId, "STS.") || xresp.MessageTokenDTO.SecurityToken == "" {
		t.Fatalf("XML answer: %s", xresp.GetHttpContentString())
	}

	st := srv.Stats()
	if st.TokenRequests != 2 || st.TokensIssued != 2 || st.Requests["QueryTokenForMnsQueue"] != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestDybaseapiSDKCallerWithItsOwnSTSToken(t *testing.T) {
	srv := newTestServer(t, Config{})
	c, err := dybaseapi.NewClientWithStsToken("cn-hangzhou", DefaultAccessKeyID, DefaultAccessKeySecret, "role-token-of-the-function")
	mustNoErr(t, err, "NewClientWithStsToken")
	c.Domain = srv.Addr()
	_, err = c.QueryTokenForMnsQueue(tokenRequest("SmsReport"))
	mustNoErr(t, err, "QueryTokenForMnsQueue with a SecurityToken parameter")
}

func TestDybaseapiSDKErrors(t *testing.T) {
	srv := newTestServer(t, Config{})
	tests := []struct {
		name        string
		ak, sk      string
		messageType string
		queueName   string
		status      int
		code        string
	}{
		{"a wrong secret is SignatureDoesNotMatch", DefaultAccessKeyID, "wrong", "SmsReport", "", 400, "SignatureDoesNotMatch"},
		{"an unknown key is InvalidAccessKeyId.NotFound", "nobody", "x", "SmsReport", "", 404, "InvalidAccessKeyId.NotFound"},
		{"a missing MessageType is MissingMessageType", DefaultAccessKeyID, DefaultAccessKeySecret, "", "", 400, "MissingMessageType"},
		{"a type without an Alicom queue is InvalidMessageType", DefaultAccessKeyID, DefaultAccessKeySecret, "NoSuchReport", "", 400, "InvalidMessageType"},
		{"a QueueName of another type is InvalidQueueName", DefaultAccessKeyID, DefaultAccessKeySecret, "SmsReport", "Alicom-Queue-1-SmsUp", 400, "InvalidQueueName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tokenRequest(tt.messageType)
			req.QueueName = tt.queueName
			_, err := newTokenClient(t, srv, tt.ak, tt.sk).QueryTokenForMnsQueue(req)
			var se *sdkerrors.ServerError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a ServerError", err)
			}
			if se.HttpStatus() != tt.status || se.ErrorCode() != tt.code || se.RequestId() == "" || se.HostId() == "" || se.Recommend() == "" {
				t.Fatalf("got %d %s (request %q host %q), want %d %s", se.HttpStatus(), se.ErrorCode(), se.RequestId(), se.HostId(), tt.status, tt.code)
			}
			if strings.Contains(se.Error(), DefaultAccessKeySecret) {
				t.Fatal("the error names the secret")
			}
		})
	}
	if st := srv.Stats(); st.TokensIssued != 0 || st.TokenRequests != int64(len(tests)) {
		t.Fatalf("stats after only failures: %+v", st)
	}
}

// rpcCall is a generic RPC client: every parameter in a signed query string, sent as GET
// (or as a form POST), with nothing from the Alibaba Cloud SDK.
func rpcCall(t *testing.T, srv *Server, method string, params map[string]string, secret string) (int, map[string]any) {
	t.Helper()
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	enc := func(s string) string {
		return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(url.QueryEscape(s))
	}
	var canon []string
	for _, k := range keys {
		canon = append(canon, enc(k)+"="+enc(params[k]))
	}
	sts := method + "&%2F&" + enc(strings.Join(canon, "&"))
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(sts))
	q := strings.Join(canon, "&") + "&Signature=" + enc(base64.StdEncoding.EncodeToString(mac.Sum(nil)))

	var resp *http.Response
	var err error
	if method == "GET" {
		resp, err = http.Get(srv.URL() + "/?" + q)
	} else {
		resp, err = http.Post(srv.URL()+"/", "application/x-www-form-urlencoded", strings.NewReader(q))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("answer is not JSON: %s", b)
	}
	return resp.StatusCode, out
}

func rpcParams(nonce string) map[string]string {
	return map[string]string{
		"Action": "QueryTokenForMnsQueue", "Version": "2017-05-25", "Format": "JSON",
		"AccessKeyId": DefaultAccessKeyID, "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
		"SignatureNonce": nonce, "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"),
		"RegionId": "cn-hangzhou", "MessageType": "SmsUp", "QueueName": "",
	}
}

func TestDybaseapiGenericRPCClient(t *testing.T) {
	srv := newTestServer(t, Config{})
	status, out := rpcCall(t, srv, "GET", rpcParams("n-1"), DefaultAccessKeySecret)
	dto, _ := out["MessageTokenDTO"].(map[string]any)
	if status != 200 || out["Code"] != "OK" || dto == nil || !strings.HasPrefix(dto["AccessKeyId"].(string), "STS.") {
		t.Fatalf("GET with a signed query: %d %v", status, out)
	}
	status, out = rpcCall(t, srv, "POST", rpcParams("n-2"), DefaultAccessKeySecret)
	if status != 200 || out["Code"] != "OK" {
		t.Fatalf("POST with a form body: %d %v", status, out)
	}

	tests := []struct {
		name   string
		mutate func(p map[string]string)
		status int
		code   string
	}{
		{"a reused nonce is SignatureNonceUsed", func(p map[string]string) { p["SignatureNonce"] = "n-1" }, 400, "SignatureNonceUsed"},
		{"a Timestamp 20 minutes old is InvalidTimeStamp.Expired", func(p map[string]string) {
			p["Timestamp"] = time.Now().Add(-20 * time.Minute).UTC().Format("2006-01-02T15:04:05Z")
		}, 400, "InvalidTimeStamp.Expired"},
		{"a bad Timestamp is InvalidTimeStamp.Format", func(p map[string]string) { p["Timestamp"] = "today" }, 400, "InvalidTimeStamp.Format"},
		{"another Action is InvalidAction.NotFound", func(p map[string]string) { p["Action"] = "SendSms" }, 404, "InvalidAction.NotFound"},
		{"a missing MessageType is MissingMessageType", func(p map[string]string) { delete(p, "MessageType") }, 400, "MissingMessageType"},
		{"a missing Timestamp is MissingTimestamp", func(p map[string]string) { delete(p, "Timestamp") }, 400, "MissingTimestamp"},
		{"a caller SecurityToken is accepted with the customer key", func(p map[string]string) { p["SecurityToken"] = "any+value/=" }, 200, "OK"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := rpcParams("case-" + string(rune('a'+i)))
			tt.mutate(p)
			status, out := rpcCall(t, srv, "GET", p, DefaultAccessKeySecret)
			if status != tt.status || out["Code"] != tt.code {
				t.Fatalf("got %d %v, want %d %s", status, out, tt.status, tt.code)
			}
			if tt.status != 200 {
				for _, k := range []string{"RequestId", "HostId", "Code", "Message", "Recommend"} {
					if _, ok := out[k]; !ok {
						t.Errorf("error body lacks %s: %v", k, out)
					}
				}
			}
		})
	}
	t.Run("a tampered parameter is SignatureDoesNotMatch", func(t *testing.T) {
		p := rpcParams("tamper")
		status, out := rpcCall(t, srv, "GET", p, "wrong")
		if status != 400 || out["Code"] != "SignatureDoesNotMatch" {
			t.Fatalf("got %d %v", status, out)
		}
	})
}

func TestDybaseapiSTSCredentialsCannotCallIt(t *testing.T) {
	srv := newTestServer(t, Config{})
	tok := issueToken(t, srv, "SmsReport")
	_, err := newTokenClient(t, srv, tok.AccessKeyId, tok.AccessKeySecret).QueryTokenForMnsQueue(tokenRequest("SmsReport"))
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) || se.ErrorCode() != "InvalidAccessKeyId.NotFound" {
		t.Fatalf("got %v, want InvalidAccessKeyId.NotFound", err)
	}
}
