package faultproxy

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

const (
	idA = "0123456789ABCDEF0123456789ABCDEF"
	idB = "FEDCBA9876543210FEDCBA9876543210"
)

// fakeMNS answers like the emulator: a receive hands out two messages, a batch delete succeeds
// except for handles of idB when failB is set, a token request answers OK.
type fakeMNS struct {
	calls atomic.Int64
	failB bool
}

func (f *fakeMNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	switch Classify(r) {
	case OpReceive:
		sum := md5.Sum([]byte("eyJhIjoxfQ=="))
		md := strings.ToUpper(hex.EncodeToString(sum[:]))
		fmt.Fprintf(w, `<?xml version="1.0" ?><Messages><Message><MessageId>%s</MessageId><MessageBodyMD5>%s</MessageBodyMD5><MessageBody>eyJhIjoxfQ==</MessageBody></Message><Message><MessageId>%s</MessageId><MessageBody>eyJhIjoxfQ==</MessageBody></Message></Messages>`, idA, md, idB)
	case OpDelete:
		body, _ := io.ReadAll(r.Body)
		if f.failB && strings.Contains(string(body), idB) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `<Errors><Error><ErrorCode>MessageNotExist</ErrorCode><ReceiptHandle>%s-h2</ReceiptHandle></Error></Errors>`, idB)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		fmt.Fprint(w, `{"Code":"OK"}`)
	}
}

func start(t *testing.T, up http.Handler) (*Proxy, string) {
	t.Helper()
	p := New(up, 1)
	url, stop, err := Serve(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return p, url
}

func batchDelete(url string) (*http.Response, error) {
	body := fmt.Sprintf(`<ReceiptHandles><ReceiptHandle>%s-h1</ReceiptHandle><ReceiptHandle>%s-h2</ReceiptHandle></ReceiptHandles>`, idA, idB)
	req, _ := http.NewRequest(http.MethodDelete, url+"/queues/q/messages", strings.NewReader(body))
	req.Header.Set("Authorization", "MNS key-1:sig")
	return http.DefaultClient.Do(req)
}

func TestADeleteTheServerConfirmedIsInTheLedgerEvenWhenItsAnswerIsLost(t *testing.T) {
	up := &fakeMNS{}
	p, url := start(t, up)
	p.Add(Fault{Op: OpDelete, Kind: LoseAnswer, Times: 1})
	if _, err := batchDelete(url); err == nil {
		t.Fatal("the client got an answer the proxy was to lose")
	}
	if got := p.Deleted(); got[idA] != 1 || got[idB] != 1 || up.calls.Load() != 1 {
		t.Errorf("ledger %v after %d upstream calls: want both ids deleted once by one call", got, up.calls.Load())
	}
	if p.Injected()[LoseAnswer] != 1 {
		t.Errorf("injected %v", p.Injected())
	}
}

func TestAHandleTheServerRefusedIsNotCountedAsDeleted(t *testing.T) {
	p, url := start(t, &fakeMNS{failB: true})
	resp, err := batchDelete(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := p.Deleted(); got[idA] != 1 || got[idB] != 0 {
		t.Errorf("ledger %v: want only %s", got, idA)
	}
}

func TestFaultsThatAnswerForTheServerNeverReachIt(t *testing.T) {
	for _, c := range []struct {
		kind       Kind
		wantStatus int // 0: no answer at all
	}{
		{Status5xx, http.StatusInternalServerError},
		{Drop, 0},
	} {
		t.Run(string(c.kind), func(t *testing.T) {
			up := &fakeMNS{}
			p, url := start(t, up)
			p.Add(Fault{Op: OpReceive, Kind: c.kind})
			resp, err := http.Get(url + "/queues/q/messages?numOfMessages=16")
			switch {
			case c.wantStatus == 0 && err == nil:
				resp.Body.Close()
				t.Errorf("got %d, want a dropped connection", resp.StatusCode)
			case c.wantStatus != 0 && (err != nil || resp.StatusCode != c.wantStatus):
				t.Errorf("got %v, %v; want %d", resp, err, c.wantStatus)
			}
			if up.calls.Load() != 0 || len(p.HandedOut()) != 0 {
				t.Errorf("the server was called %d times", up.calls.Load())
			}
		})
	}
}

func TestARejectedKeyIsAnsweredInvalidAccessKeyIdAndANewOnePasses(t *testing.T) {
	p, url := start(t, &fakeMNS{})
	get := func(key string) int {
		req, _ := http.NewRequest(http.MethodGet, url+"/queues/q/messages?numOfMessages=16", nil)
		req.Header.Set("Authorization", "MNS "+key+":sig")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden && !strings.Contains(string(b), "<Code>InvalidAccessKeyId</Code>") {
			t.Errorf("403 without the MNS code: %s", b)
		}
		return resp.StatusCode
	}
	get("old-key")
	p.RejectSeenKeys()
	p.Add(Fault{Kind: RejectKey})
	if s := get("old-key"); s != http.StatusForbidden {
		t.Errorf("old key: %d, want 403", s)
	}
	if s := get("new-key"); s != http.StatusOK {
		t.Errorf("new key: %d, want 200", s)
	}
	if p.HandedOut()[idA] != 2 {
		t.Errorf("handed out %v: want the two receives that passed", p.HandedOut())
	}
}

func TestACorruptedBodyKeepsItsMD5AndStillDecodesAsBase64(t *testing.T) {
	p, url := start(t, &fakeMNS{})
	p.Add(Fault{Op: OpReceive, Kind: CorruptBody, Times: 1})
	resp, err := http.Get(url + "/queues/q/messages?numOfMessages=16")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), "<MessageBody>eyJhIjoxfQ==</MessageBody>") || !strings.Contains(string(b), "<MessageBody>AyJhIjoxfQ==</MessageBody>") {
		t.Errorf("body not altered as expected: %s", b)
	}
	if !strings.Contains(string(b), "<MessageBodyMD5>") {
		t.Errorf("the MD5 went missing: %s", b)
	}
}

func TestAHugeAnswerIsStreamedToItsSize(t *testing.T) {
	for _, op := range []Op{OpReceive, OpToken} {
		t.Run(string(op), func(t *testing.T) {
			up := &fakeMNS{}
			p, url := start(t, up)
			p.Add(Fault{Op: op, Kind: Huge, Size: 3 << 20})
			u := url + "/queues/q/messages?numOfMessages=16"
			if op == OpToken {
				u = url + "/?Action=QueryTokenForMnsQueue"
			}
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if n != 3<<20 || up.calls.Load() != 0 {
				t.Errorf("%d bytes, %d upstream calls: want %d and none", n, up.calls.Load(), 3<<20)
			}
		})
	}
}

func TestRequestsAreClassifiedByWhatTheyAskFor(t *testing.T) {
	for _, c := range []struct {
		method, target string
		want           Op
	}{
		{http.MethodGet, "/queues/q/messages?numOfMessages=16&waitseconds=1", OpReceive},
		{http.MethodGet, "/queues/q/messages?peekonly=true", OpOther},
		{http.MethodDelete, "/queues/q/messages?ReceiptHandle=x", OpDelete},
		{http.MethodPost, "/queues/q/messages", OpOther},
		{http.MethodGet, "/?Action=QueryTokenForMnsQueue&MessageType=SmsReport", OpToken},
		{http.MethodGet, "/queues/q", OpOther},
	} {
		r, _ := http.NewRequest(c.method, "http://x"+c.target, nil)
		if got := Classify(r); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.target, got, c.want)
		}
	}
}

func TestARequestLargerThanTheProxyBuffersIsRefusedNotPassedOnCut(t *testing.T) {
	up := &fakeMNS{}
	_, url := start(t, up)
	body := strings.NewReader(strings.Repeat("x", maxRequestBody+1))
	resp, err := http.Post(url+"/queues/q/messages", "text/xml", body)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(answer), fmt.Sprint(maxRequestBody)) {
		t.Errorf("answer %d %s: want 413 naming the bound", resp.StatusCode, answer)
	}
	if up.calls.Load() != 0 {
		t.Errorf("the server was called %d times with a cut body", up.calls.Load())
	}
}
