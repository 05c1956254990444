package mnslocal

import (
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

// pushRecord is one push as the endpoint received it.
type pushRecord struct {
	target string
	header http.Header
	body   []byte
}

// endpoint is a recording push endpoint; answer decides each status (default 201).
type endpoint struct {
	srv *httptest.Server

	mu     sync.Mutex
	pushes []pushRecord
	answer func(n int, r *http.Request) int // n counts pushes from 1
}

func newEndpoint(t *testing.T) *endpoint {
	t.Helper()
	e := &endpoint{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.pushes = append(e.pushes, pushRecord{target: r.RequestURI, header: r.Header.Clone(), body: body})
		n, answer := len(e.pushes), e.answer
		e.mu.Unlock()
		status := http.StatusCreated
		if answer != nil {
			status = answer(n, r)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *endpoint) setAnswer(f func(n int, r *http.Request) int) {
	e.mu.Lock()
	e.answer = f
	e.mu.Unlock()
}

func (e *endpoint) received() []pushRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]pushRecord(nil), e.pushes...)
}

// certKey downloads the emulator's signing certificate the way a receiver does.
func certKey(t *testing.T, srv *Server) *rsa.PublicKey {
	t.Helper()
	resp, err := http.Get(srv.CertURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	block, _ := pem.Decode(b)
	if resp.StatusCode != 200 || block == nil {
		t.Fatalf("certificate: status %d, body %q", resp.StatusCode, b)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.PublicKey.(*rsa.PublicKey)
}

// verifyPush checks a received push's signature independently of push.go's string to sign:
// from the headers as a receiver sees them (net/http canonicalised their names).
func verifyPush(t *testing.T, key *rsa.PublicKey, p pushRecord) {
	t.Helper()
	var mns []string
	for k, vs := range p.header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-mns-") {
			mns = append(mns, lk+":"+vs[0]+"\n")
		}
	}
	sort.Strings(mns)
	sts := "POST\n" + p.header.Get("Content-Md5") + "\n" + p.header.Get("Content-Type") + "\n" + p.header.Get("Date") + "\n" +
		strings.Join(mns, "") + p.target
	sig, err := base64.StdEncoding.DecodeString(p.header.Get("Authorization"))
	if err != nil {
		t.Fatalf("Authorization is not base64: %v", err)
	}
	digest := sha1.Sum([]byte(sts))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA1, digest[:], sig); err != nil {
		t.Fatalf("push signature does not verify over %q: %v", sts, err)
	}
	sum := md5.Sum(p.body)
	if got := p.header.Get("Content-Md5"); got != strings.ToUpper(hex.EncodeToString(sum[:])) {
		t.Errorf("Content-MD5 %q does not match the body", got)
	}
}

func topicsOf(t *testing.T, srv *Server) (ali_mns.AliTopicManager, func(name string) ali_mns.AliMNSTopic) {
	c := customerClient(t, srv)
	return ali_mns.NewMNSTopicManager(c), func(name string) ali_mns.AliMNSTopic { return ali_mns.NewMNSTopic(name, c) }
}

func TestTopicsAndSubscriptionsThroughTheSDK(t *testing.T) {
	srv := newTestServer(t, Config{})
	mgr, topicNamed := topicsOf(t, srv)

	mustNoErr(t, mgr.CreateSimpleTopic("MyTopic1"), "CreateTopic")
	if err := mgr.CreateSimpleTopic("MyTopic1"); !ali_mns.ERR_MNS_TOPIC_ALREADY_EXIST_AND_HAVE_SAME_ATTR.IsEqual(err) {
		t.Errorf("same topic again: %v, want the SDK's already-exists-with-same-attributes (204)", err)
	}
	wantCode(t, mgr.CreateTopic("MyTopic1", 2048, false), "TopicAlreadyExist")
	wantCode(t, mgr.CreateSimpleTopic("1bad"), "InvalidTopicName")

	attr, err := mgr.GetTopicAttributes("MyTopic1")
	mustNoErr(t, err, "GetTopicAttributes")
	if attr.TopicName != "MyTopic1" || attr.MaxMessageSize != 65536 || attr.CreateTime == 0 {
		t.Errorf("attributes %+v", attr)
	}
	mustNoErr(t, mgr.SetTopicAttributes("MyTopic1", 4096, true), "SetTopicAttributes")
	if attr, _ = mgr.GetTopicAttributes("MyTopic1"); attr.MaxMessageSize != 4096 || !attr.LoggingEnabled {
		t.Errorf("after set: %+v", attr)
	}

	topic := topicNamed("MyTopic1")
	sub := ali_mns.MessageSubsribeRequest{Endpoint: "http://127.0.0.1:1/notifications", NotifyContentFormat: ali_mns.SIMPLIFIED, FilterTag: "SmsReport"}
	mustNoErr(t, topic.Subscribe("MyTopic1-Sub1", sub), "Subscribe")
	if err := topic.Subscribe("MyTopic1-Sub1", sub); !ali_mns.ERR_MNS_SUBSCRIPTION_ALREADY_EXIST_AND_HAVE_SAME_ATTR.IsEqual(err) {
		t.Errorf("same subscription again: %v", err)
	}
	other := sub
	other.Endpoint = "http://127.0.0.1:2/"
	wantCode(t, topic.Subscribe("MyTopic1-Sub1", other), "SubscriptionAlreadyExist")
	got, err := topic.GetSubscriptionAttributes("MyTopic1-Sub1")
	mustNoErr(t, err, "GetSubscriptionAttributes")
	if got.Endpoint != sub.Endpoint || got.NotifyContentFormat != ali_mns.SIMPLIFIED || got.NotifyStrategy != ali_mns.BACKOFF_RETRY ||
		got.FilterTag != "SmsReport" || got.TopicName != "MyTopic1" || got.TopicOwner != DefaultAlicomUID {
		t.Errorf("subscription %+v", got)
	}
	mustNoErr(t, topic.SetSubscriptionAttributes("MyTopic1-Sub1", ali_mns.EXPONENTIAL_DECAY_RETRY), "SetSubscriptionAttributes")
	if got, _ = topic.GetSubscriptionAttributes("MyTopic1-Sub1"); got.NotifyStrategy != ali_mns.EXPONENTIAL_DECAY_RETRY {
		t.Errorf("strategy after set: %s", got.NotifyStrategy)
	}

	for _, bad := range []ali_mns.MessageSubsribeRequest{
		{Endpoint: "ftp://127.0.0.1/"},
		{Endpoint: "acs:mns:cn-hangzhou:123:queues/q"},
		{Endpoint: "http://127.0.0.1:1/", NotifyStrategy: "SOMETIMES"},
		{Endpoint: "http://127.0.0.1:1/", NotifyContentFormat: "YAML"},
		{Endpoint: "http://127.0.0.1:1/", FilterTag: strings.Repeat("t", 17)},
	} {
		wantCode(t, topic.Subscribe("Sub-bad", bad), "InvalidArgument")
	}
	wantCode(t, topicNamed("NoSuchTopic").Subscribe("s", sub), "TopicNotExist")
	_, err = topicNamed("NoSuchTopic").PublishMessage(ali_mns.MessagePublishRequest{MessageBody: "x"})
	wantCode(t, err, "TopicNotExist")
	_, err = topic.PublishMessage(ali_mns.MessagePublishRequest{MessageBody: strings.Repeat("x", 4097)})
	wantCode(t, err, "InvalidArgument")

	resp, err := topic.PublishMessage(ali_mns.MessagePublishRequest{MessageBody: "I am test message 0."})
	mustNoErr(t, err, "PublishMessage")
	if len(resp.MessageId) != 32 || resp.MessageBodyMD5 != "075C3D4AEB2D2F2D6A4C17C9D6DBBEBB" {
		t.Errorf("publish answer %+v (the topic push guide's MD5 of \"I am test message 0.\" is 075C3D4A...)", resp)
	}

	mustNoErr(t, topic.Unsubscribe("MyTopic1-Sub1"), "Unsubscribe")
	_, err = topic.GetSubscriptionAttributes("MyTopic1-Sub1")
	wantCode(t, err, "SubscriptionNotExist")
	wantCode(t, topic.Unsubscribe("MyTopic1-Sub1"), "SubscriptionNotExist")
	mustNoErr(t, mgr.DeleteTopic("MyTopic1"), "DeleteTopic")
	_, err = mgr.GetTopicAttributes("MyTopic1")
	wantCode(t, err, "TopicNotExist")
	wantCode(t, mgr.DeleteTopic("MyTopic1"), "TopicNotExist")
	if st := srv.Stats(); st.Requests["PublishMessage"] != 3 || st.Requests["Subscribe"] < 3 {
		t.Errorf("stats %+v", st.Requests)
	}
}

func TestPublishPushesSignedNotificationsToEveryMatchingSubscription(t *testing.T) {
	srv := newTestServer(t, Config{})
	ep := newEndpoint(t)
	mgr, topicNamed := topicsOf(t, srv)
	mustNoErr(t, mgr.CreateSimpleTopic("MyTopic1"), "CreateTopic")
	topic := topicNamed("MyTopic1")
	for _, s := range []struct {
		name, endpoint, format, filter string
	}{
		{"sub-xml", ep.srv.URL, "XML", ""},                                 // no path: /notifications
		{"sub-json", ep.srv.URL + "/push/json?from=mns", "JSON", ""},       // own path and query
		{"sub-simple", ep.srv.URL + "/push/simple", "SIMPLIFIED", "SmsUp"}, // only tag SmsUp
	} {
		mustNoErr(t, topic.Subscribe(s.name, ali_mns.MessageSubsribeRequest{Endpoint: s.endpoint,
			NotifyContentFormat: ali_mns.NotifyContentFormatType(s.format), FilterTag: s.filter}), "Subscribe "+s.name)
	}
	body := `eyJwaG9uZV9udW1iZXIiOiIxMzAwMDAwMDAwMCJ9 <&> "x"`
	r1, err := topic.PublishMessage(ali_mns.MessagePublishRequest{MessageBody: body, MessageTag: "SmsReport"})
	mustNoErr(t, err, "publish SmsReport")
	r2, err := topic.PublishMessage(ali_mns.MessagePublishRequest{MessageBody: "reply TD", MessageTag: "SmsUp"})
	mustNoErr(t, err, "publish SmsUp")

	waitFor(t, "5 pushes", func() bool { return len(ep.received()) >= 5 })
	waitFor(t, "stats", func() bool { return srv.PushStats().Delivered == 5 })
	key := certKey(t, srv)
	byTarget := map[string][]pushRecord{}
	for _, p := range ep.received() {
		verifyPush(t, key, p)
		if p.header.Get("User-Agent") != "Aliyun Notification Service Agent" || p.header.Get("X-Mns-Version") != "2015-06-06" ||
			len(p.header.Get("X-Mns-Request-Id")) != 24 || p.header.Get("X-Mns-Topic-Name") != "MyTopic1" {
			t.Errorf("headers %v", p.header)
		}
		certURL, _ := base64.StdEncoding.DecodeString(p.header.Get("X-Mns-Signing-Cert-Url"))
		if string(certURL) != srv.CertURL() {
			t.Errorf("certificate URL %q, want %q", certURL, srv.CertURL())
		}
		byTarget[p.target] = append(byTarget[p.target], p)
	}
	if len(byTarget["/notifications"]) != 2 || len(byTarget["/push/json?from=mns"]) != 2 || len(byTarget["/push/simple"]) != 1 {
		t.Fatalf("pushes by target: %v", keys(byTarget))
	}

	for _, p := range byTarget["/notifications"] {
		var n struct {
			XMLName                                                  xml.Name
			TopicOwner, TopicName, SubscriptionName, MessageId       string
			MessageMD5, MessageTag, Message, PublishTime, Subscriber string
		}
		if err := xml.Unmarshal(p.body, &n); err != nil {
			t.Fatalf("XML push: %v\n%s", err, p.body)
		}
		if n.XMLName.Space != "http://mns.aliyuncs.com/doc/v1/" || n.XMLName.Local != "Notification" ||
			p.header.Get("Content-Type") != "text/xml;charset=utf-8" || n.SubscriptionName != "sub-xml" || n.TopicOwner != DefaultAlicomUID {
			t.Errorf("XML push %s", p.body)
		}
		if n.MessageId == r1.MessageId && (n.Message != body || n.MessageMD5 != r1.MessageBodyMD5 || n.MessageTag != "SmsReport") {
			t.Errorf("XML push of the first message: %+v", n)
		}
	}
	for _, p := range byTarget["/push/json?from=mns"] {
		var n map[string]string // every value is a string, PublishTime included
		if err := json.Unmarshal(p.body, &n); err != nil {
			t.Fatalf("JSON push: %v\n%s", err, p.body)
		}
		if n["MessageId"] == r2.MessageId && (n["Message"] != "reply TD" || n["MessageTag"] != "SmsUp" || n["PublishTime"] == "") {
			t.Errorf("JSON push %s", p.body)
		}
	}
	simple := byTarget["/push/simple"][0]
	if string(simple.body) != "reply TD" || simple.header.Get("X-Mns-Message-Id") != r2.MessageId ||
		simple.header.Get("X-Mns-Message-Tag") != "SmsUp" || simple.header.Get("Content-Type") != "text/plain;charset=utf-8" {
		t.Errorf("SIMPLIFIED push %q %v", simple.body, simple.header)
	}
	if st := srv.Stats().Pushes; st.Attempts != 5 || st.Failed != 0 || st.Pending != 0 || st.CertFetches != 1 {
		t.Errorf("push stats %+v", st)
	}
}

func keys(m map[string][]pushRecord) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

func TestFailedPushesAreRetriedUntilAcknowledged(t *testing.T) {
	srv := newTestServer(t, Config{PushRetryScale: 0.001})
	ep := newEndpoint(t)
	ep.setAnswer(func(n int, _ *http.Request) int {
		switch n {
		case 1:
			return http.StatusInternalServerError
		case 2:
			return http.StatusFound // a redirect is not a success either
		}
		return http.StatusNoContent
	})
	mgr, topicNamed := topicsOf(t, srv)
	mustNoErr(t, mgr.CreateSimpleTopic("T"), "CreateTopic")
	mustNoErr(t, topicNamed("T").Subscribe("S", ali_mns.MessageSubsribeRequest{Endpoint: ep.srv.URL}), "Subscribe")
	resp, err := topicNamed("T").PublishMessage(ali_mns.MessagePublishRequest{MessageBody: "retry me"})
	mustNoErr(t, err, "PublishMessage")
	waitFor(t, "delivery", func() bool { return srv.PushStats().Delivered == 1 })
	got := ep.received()
	if len(got) != 3 {
		t.Fatalf("%d pushes, want 3", len(got))
	}
	if got[0].header.Get("X-Mns-Request-Id") == got[2].header.Get("X-Mns-Request-Id") {
		t.Error("a retry reused the request id")
	}
	for _, p := range got {
		if p.header.Get("X-Mns-Message-Id") != resp.MessageId {
			t.Errorf("retry of another message: %v", p.header)
		}
	}
	if st := srv.PushStats(); st.Attempts != 3 || st.Failed != 2 || st.GivenUp != 0 || st.Pending != 0 {
		t.Errorf("push stats %+v", st)
	}
}

func TestAPushIsGivenUpAfterTheStrategysLastRetry(t *testing.T) {
	srv := newTestServer(t, Config{PushRetryScale: 0.0001})
	ep := newEndpoint(t)
	ep.setAnswer(func(int, *http.Request) int { return http.StatusInternalServerError })
	mgr, topicNamed := topicsOf(t, srv)
	mustNoErr(t, mgr.CreateSimpleTopic("T"), "CreateTopic")
	mustNoErr(t, topicNamed("T").Subscribe("S", ali_mns.MessageSubsribeRequest{Endpoint: ep.srv.URL}), "Subscribe")
	_, err := topicNamed("T").PublishMessage(ali_mns.MessagePublishRequest{MessageBody: "never"})
	mustNoErr(t, err, "PublishMessage")
	waitFor(t, "give-up", func() bool { return srv.PushStats().GivenUp == 1 })
	if n := len(ep.received()); n != 1+backoffRetries {
		t.Errorf("BACKOFF_RETRY made %d attempts, want %d", n, 1+backoffRetries)
	}
}

func TestRetrySchedulesFollowTheStrategies(t *testing.T) {
	var total time.Duration
	for i := 0; ; i++ {
		d, ok := retryDelay(strategyExponential, i, 1)
		if !ok {
			if i != 176 {
				t.Errorf("EXPONENTIAL_DECAY_RETRY gave up after %d retries, want 176", i)
			}
			break
		}
		if want := time.Second << min(i, 9); d != want {
			t.Fatalf("retry %d waits %s, want %s", i+1, d, want)
		}
		total += d
	}
	if total < 23*time.Hour || total > 25*time.Hour {
		t.Errorf("EXPONENTIAL_DECAY_RETRY spans %s, want about a day", total)
	}
	for i := range backoffRetries {
		d, ok := retryDelay(strategyBackoff, i, 1)
		if !ok || d < 10*time.Second || d >= 20*time.Second {
			t.Errorf("BACKOFF_RETRY retry %d: %s %v", i+1, d, ok)
		}
	}
	if _, ok := retryDelay(strategyBackoff, backoffRetries, 1); ok {
		t.Error("BACKOFF_RETRY retried a fourth time")
	}
	if d, _ := retryDelay(strategyExponential, 3, 0.001); d != 8*time.Millisecond {
		t.Errorf("scaled wait %s, want 8ms", d)
	}
}

func TestUnsubscribingOrClosingEndsPendingRetriesAtOnce(t *testing.T) {
	srv := newTestServer(t, Config{}) // real schedule: the first retry waits 10-20 s
	ep := newEndpoint(t)
	ep.setAnswer(func(int, *http.Request) int { return http.StatusServiceUnavailable })
	mgr, topicNamed := topicsOf(t, srv)
	mustNoErr(t, mgr.CreateSimpleTopic("T"), "CreateTopic")
	topic := topicNamed("T")
	mustNoErr(t, topic.Subscribe("A", ali_mns.MessageSubsribeRequest{Endpoint: ep.srv.URL + "/a"}), "Subscribe A")
	mustNoErr(t, topic.Subscribe("B", ali_mns.MessageSubsribeRequest{Endpoint: ep.srv.URL + "/b"}), "Subscribe B")
	_, err := topic.PublishMessage(ali_mns.MessagePublishRequest{MessageBody: "x"})
	mustNoErr(t, err, "PublishMessage")
	waitFor(t, "two failed first attempts", func() bool { return srv.PushStats().Failed == 2 })

	mustNoErr(t, topic.Unsubscribe("A"), "Unsubscribe")
	waitFor(t, "A's retry to be dropped", func() bool { return srv.PushStats().Dropped == 1 })
	if p := srv.PushStats().Pending; p != 1 {
		t.Fatalf("pending %d, want 1 (B still waiting)", p)
	}
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		mustNoErr(t, err, "Close")
	case <-time.After(10 * time.Second): // far below B's 10 s retry wait plus Close's own bound
		t.Fatal("Close waited for a pending push retry")
	}
	if st := srv.PushStats(); st.Pending != 0 || st.Dropped != 2 || st.Attempts != 2 {
		t.Errorf("after Close: %+v", st)
	}
	if n := len(ep.received()); n != 2 {
		t.Errorf("%d pushes reached the endpoint, want 2", n)
	}
}

func TestAnEndpointSlowerThanFiveSecondsIsAFailedPush(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 5 s push timeout")
	}
	srv := newTestServer(t, Config{PushRetryScale: 0.001})
	ep := newEndpoint(t)
	ep.setAnswer(func(n int, r *http.Request) int {
		if n == 1 {
			select { // hold the first push until the emulator gives up on it
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
		}
		return http.StatusCreated
	})
	mgr, topicNamed := topicsOf(t, srv)
	mustNoErr(t, mgr.CreateSimpleTopic("T"), "CreateTopic")
	mustNoErr(t, topicNamed("T").Subscribe("S", ali_mns.MessageSubsribeRequest{Endpoint: ep.srv.URL}), "Subscribe")
	_, err := topicNamed("T").PublishMessage(ali_mns.MessagePublishRequest{MessageBody: "slow"})
	mustNoErr(t, err, "PublishMessage")
	waitForLong(t, "the retry after the timeout", func() bool { return srv.PushStats().Delivered == 1 })
	if st := srv.PushStats(); st.Failed != 1 || st.Attempts != 2 {
		t.Errorf("push stats %+v", st)
	}
}

// waitForLong is waitFor with room for the 5 s push timeout.
func waitForLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, errTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTheCertificateIsServedWithoutAuthentication(t *testing.T) {
	srv := newTestServer(t, Config{})
	key := certKey(t, srv)
	if key.N.BitLen() != 2048 {
		t.Errorf("key of %d bits", key.N.BitLen())
	}
	pemBytes, err := srv.CertPEM()
	mustNoErr(t, err, "CertPEM")
	if !strings.HasPrefix(string(pemBytes), "-----BEGIN CERTIFICATE-----") {
		t.Errorf("CertPEM %q", pemBytes)
	}
	resp, err := http.Post(srv.CertURL(), "text/plain", nil)
	mustNoErr(t, err, "POST")
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	if !strings.HasPrefix(srv.CertURL(), srv.URL()+"/_mnslocal/") {
		t.Errorf("CertURL %q", srv.CertURL())
	}
}

func TestTopicRequestsNeedTheCustomerKey(t *testing.T) {
	srv := newTestServer(t, Config{})
	mgr := ali_mns.NewMNSTopicManager(newSDKClient(t, srv, DefaultAccessKeyID, "wrong", ""))
	wantCode(t, mgr.CreateSimpleTopic("T"), "SignatureDoesNotMatch")
	if r := (rawRequest{method: "GET", target: "/topics"}).do(t, srv); r.status != 400 || !strings.Contains(r.body, "InvalidRequestURL") {
		t.Errorf("list topics: %d %s", r.status, r.body)
	}
	if r := (rawRequest{method: "POST", target: "/topics/T/messages", body: "<Nope/>"}).do(t, srv); r.status != 400 {
		t.Errorf("malformed publish: %d %s", r.status, r.body)
	}
}
