package mnslocal

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/dybaseapi"
	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/valyala/fasthttp"
)

// fakeHost is a 5-part MNS host: the MNS Go SDK panics on any other endpoint shape.
const fakeHost = "1943695596114318.mns.cn-hangzhou.aliyuncs.com"

// newTestServer starts an emulator on a random loopback port and closes it after the test.
func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	srv, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

// loopbackTransport sends every request of the SDK to the emulator, whatever its Host.
type loopbackTransport struct{ hc *fasthttp.HostClient }

func (l loopbackTransport) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	return false, l.hc.Do(req, resp)
}

// newSDKClient returns a real MNS Go SDK client for srv: a 5-part endpoint plus a
// transport dialing 127.0.0.1:PORT. token is the STS security token, or "".
func newSDKClient(t testing.TB, srv *Server, ak, sk, token string) ali_mns.MNSClient {
	t.Helper()
	return newSDKClientTimeout(t, srv, ak, sk, token, 60*time.Second)
}

func newSDKClientTimeout(t testing.TB, srv *Server, ak, sk, token string, timeout time.Duration) ali_mns.MNSClient {
	t.Helper()
	c := ali_mns.NewAliMNSClientWithConfig(ali_mns.AliMNSClientConfig{
		EndPoint:        "http://" + fakeHost,
		AccessKeyId:     ak,
		AccessKeySecret: sk,
		Token:           token,
		TimeoutSecond:   int64(timeout / time.Second),
	})
	c.SetTransport(loopbackTransport{&fasthttp.HostClient{
		Addr:         srv.Addr(),
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		MaxConns:     512,
		// Deterministic failures: fasthttp would otherwise resend idempotent requests
		// after a dropped connection.
		RetryIf: func(*fasthttp.Request) bool { return false },
	}})
	return c
}

// customerClient is the SDK client with the default customer keys.
func customerClient(t testing.TB, srv *Server) ali_mns.MNSClient {
	return newSDKClient(t, srv, DefaultAccessKeyID, DefaultAccessKeySecret, "")
}

// newTokenClient returns the real alibaba-cloud-sdk-go Dybaseapi client pointed at srv.
func newTokenClient(t testing.TB, srv *Server, ak, sk string) *dybaseapi.Client {
	t.Helper()
	c, err := dybaseapi.NewClientWithAccessKey("cn-hangzhou", ak, sk)
	if err != nil {
		t.Fatalf("dybaseapi.NewClientWithAccessKey: %v", err)
	}
	c.Domain = srv.Addr()
	return c
}

func tokenRequest(messageType string) *dybaseapi.QueryTokenForMnsQueueRequest {
	req := dybaseapi.CreateQueryTokenForMnsQueueRequest()
	req.Scheme = "http"
	req.MessageType = messageType
	return req
}

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// receive runs a blocking SDK BatchReceiveMessage.
func receive(q ali_mns.AliMNSQueue, n int32, wait int64) (ali_mns.BatchMessageReceiveResponse, error) {
	respC := make(chan ali_mns.BatchMessageReceiveResponse, 1)
	errC := make(chan error, 1)
	if wait > 0 {
		q.BatchReceiveMessage(respC, errC, n, wait)
	} else {
		q.BatchReceiveMessage(respC, errC, n)
	}
	select {
	case r := <-respC:
		return r, nil
	case err := <-errC:
		return ali_mns.BatchMessageReceiveResponse{}, err
	}
}

// receiveOne runs a blocking SDK ReceiveMessage.
func receiveOne(q ali_mns.AliMNSQueue, wait int64) (ali_mns.MessageReceiveResponse, error) {
	respC := make(chan ali_mns.MessageReceiveResponse, 1)
	errC := make(chan error, 1)
	if wait > 0 {
		q.ReceiveMessage(respC, errC, wait)
	} else {
		q.ReceiveMessage(respC, errC)
	}
	select {
	case r := <-respC:
		return r, nil
	case err := <-errC:
		return ali_mns.MessageReceiveResponse{}, err
	}
}

func peekBatch(q ali_mns.AliMNSQueue, n int32) (ali_mns.BatchMessageReceiveResponse, error) {
	respC := make(chan ali_mns.BatchMessageReceiveResponse, 1)
	errC := make(chan error, 1)
	q.BatchPeekMessage(respC, errC, n)
	select {
	case r := <-respC:
		return r, nil
	case err := <-errC:
		return ali_mns.BatchMessageReceiveResponse{}, err
	}
}

// wantCode fails unless err is an SDK error carrying the MNS error code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if !strings.Contains(err.Error(), code) {
		t.Fatalf("got error %v, want code %s", err, code)
	}
}

func mustNoErr(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// rawRequest is an MNS request built by hand, to control every byte of the wire.
type rawRequest struct {
	method, target string // target: path and raw query, sent and signed verbatim
	body           string
	header         map[string]string // extra headers (Content-Type, Content-MD5, x-mns-*, ...)
	ak, sk         string            // default: the customer keys
	date           string            // default: now
	signTarget     string            // default: target; set to sign something else
	noAuth         bool
}

type rawResponse struct {
	status int
	header http.Header
	body   string
}

// do sends r with net/http, signing it like an SDK does.
func (r rawRequest) do(t testing.TB, srv *Server) rawResponse {
	t.Helper()
	resp, err := r.try(t, srv, http.DefaultClient)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.target, err)
	}
	return resp
}

// try is do with a given client, returning transport errors.
func (r rawRequest) try(t testing.TB, srv *Server, client *http.Client) (rawResponse, error) {
	t.Helper()
	if r.ak == "" {
		r.ak, r.sk = DefaultAccessKeyID, DefaultAccessKeySecret
	}
	if r.date == "" {
		r.date = time.Now().UTC().Format(http.TimeFormat)
	}
	if r.signTarget == "" {
		r.signTarget = r.target
	}
	req, err := http.NewRequest(r.method, srv.URL()+"/", strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	// Opaque keeps the request target byte for byte as written.
	req.URL.Opaque = r.target
	req.URL.RawQuery = ""
	req.Host = fakeHost
	if _, ok := r.header["Date"]; !ok {
		req.Header.Set("Date", r.date)
	}
	if _, ok := r.header["x-mns-version"]; !ok {
		req.Header.Set("x-mns-version", mnsVersion)
	}
	for k, v := range r.header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	if !r.noAuth {
		fake := &http.Request{Method: r.method, Header: req.Header, RequestURI: r.signTarget}
		date := req.Header.Get("x-mns-date")
		if date == "" {
			date = req.Header.Get("Date")
		}
		req.Header.Set("Authorization", "MNS "+r.ak+":"+mnsSignature(r.sk, mnsStringToSign(fake, date)))
	}
	resp, err := client.Do(req)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return rawResponse{}, err
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

// hexMD5Base64 is Content-MD5 as the Python, Node and Go SDKs send it.
func hexMD5Base64(body string) string {
	sum := md5.Sum([]byte(body))
	return base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:])))
}

// rawMD5Base64 is Content-MD5 as the old Go client sends it.
func rawMD5Base64(body string) string {
	sum := md5.Sum([]byte(body))
	return base64.StdEncoding.EncodeToString(sum[:])
}

var errTimeout = errors.New("timed out")

// waitFor waits (bounded) until cond holds, checking on a short tick.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, errTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
