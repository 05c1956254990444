package mnspush_test

import (
	"context"
	"encoding/base64"
	"errors"
	"github.com/alicom-drain/alicom-drain/internal/logbuf"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/valyala/fasthttp"

	"github.com/alicom-drain/alicom-drain/internal/mnspush"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

// dialer sends every SDK request to the emulator: the SDK panics on endpoints that are not
// 5 dot-separated parts, so it is given one and this transport dials the real address.
type dialer struct{ hc *fasthttp.HostClient }

func (d dialer) RoundTrip(_ *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	return false, d.hc.Do(req, resp)
}

func emulatorTopic(t *testing.T, srv *mnslocal.Server, name string) (ali_mns.AliTopicManager, ali_mns.AliMNSTopic) {
	t.Helper()
	c := ali_mns.NewAliMNSClientWithConfig(ali_mns.AliMNSClientConfig{
		EndPoint:        "http://1234567890123456.mns.cn-hangzhou.aliyuncs.com",
		AccessKeyId:     mnslocal.DefaultAccessKeyID,
		AccessKeySecret: mnslocal.DefaultAccessKeySecret,
		TimeoutSecond:   30,
	})
	c.SetTransport(dialer{&fasthttp.HostClient{Addr: srv.Addr(), ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}})
	mgr := ali_mns.NewMNSTopicManager(c)
	if err := mgr.CreateSimpleTopic(name); err != nil {
		t.Fatal(err)
	}
	return mgr, ali_mns.NewMNSTopic(name, c)
}

// The emulator signs its pushes independently of this package; verifying them here checks
// both sides against each other, through the real SDK, in every format.
func TestTheEmulatorsSignedPushesVerifyAndReachTheRouter(t *testing.T) {
	// Retries scaled down: a push that meets another of the same id still running is refused
	// (in flight) and comes again.
	srv, err := mnslocal.Start(mnslocal.Config{Addr: "127.0.0.1:0", MessageTypes: []string{}, PushRetryScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	rule, err := mnspush.ParseCertURLRule(srv.URL() + "/_mnslocal/")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	router, err := dispatch.NewRouter(dispatch.Options{DeadLetter: func(context.Context, *dispatch.Message, error) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	router.Handle("SmsReport", func(ctx context.Context, m *dispatch.Message) error {
		if _, ok := m.Payload.(alicom.SmsReport); !ok {
			return dispatch.Permanent(errors.New("payload is not an SmsReport"))
		}
		_, err := rec.Dispatch(ctx, m)
		return err
	})
	logs := &logbuf.Buffer{}
	ep, err := mnspush.New(mnspush.Config{CertURLAllow: []mnspush.CertURLRule{rule}, Logger: slog.New(slog.NewTextHandler(logs, nil))}, router)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := httptest.NewServer(ep)
	t.Cleanup(endpoint.Close)

	mgr, topic := emulatorTopic(t, srv, "alicom-receipts")
	defer mgr.DeleteTopic("alicom-receipts")
	for _, f := range []string{"XML", "JSON", "SIMPLIFIED"} {
		if err := topic.Subscribe("sub-"+f, ali_mns.MessageSubsribeRequest{
			Endpoint: endpoint.URL + "/notifications/" + f, NotifyContentFormat: ali_mns.NotifyContentFormatType(f),
		}); err != nil {
			t.Fatal(err)
		}
	}
	receipt := base64.StdEncoding.EncodeToString([]byte(`{"phone_number":"13000000000","success":"true","biz_id":"1234^0","err_code":"DELIVERED","send_time":"2017-06-01 10:00:00"}`))
	published, err := topic.PublishMessage(ali_mns.MessagePublishRequest{MessageBody: receipt, MessageTag: "SmsReport"})
	if err != nil {
		t.Fatal(err)
	}

	// Three subscriptions push the same message id: the router handles it once and
	// acknowledges the other two as duplicates; a push that arrives while the first still
	// runs is refused as in flight (500) and acknowledged as a duplicate on MNS's retry.
	waitUntil(t, "three acknowledged pushes", func() bool { return srv.PushStats().Delivered == 3 })
	got := rec.messages()
	if len(got) != 1 {
		t.Fatalf("handler ran %d times, want 1; logs:\n%s", len(got), logs)
	}
	m := got[0]
	report := m.Payload.(alicom.SmsReport)
	if m.ID != published.MessageId || m.Type != "SmsReport" || m.Source != "alicom-receipts" || report.PhoneNumber != "13000000000" || !bool(report.Success) {
		t.Errorf("handled %+v", m)
	}
	st := srv.PushStats()
	if st.GivenUp != 0 || st.CertFetches != 1 {
		t.Errorf("push stats %+v; logs:\n%s", st, logs)
	}
	if refused := strings.Count(logs.String(), dispatch.ErrInFlight.Error()); int64(refused) != st.Failed {
		t.Errorf("%d failed pushes, %d of them refused as in flight: want every failure to be one; logs:\n%s", st.Failed, refused, logs)
	}
}

func TestAFailingHandlerMakesTheEmulatorRetry(t *testing.T) {
	srv, err := mnslocal.Start(mnslocal.Config{Addr: "127.0.0.1:0", MessageTypes: []string{}, PushRetryScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	rule, _ := mnspush.ParseCertURLRule(srv.URL() + "/_mnslocal/")
	var calls atomic.Int64
	ep, err := mnspush.New(mnspush.Config{CertURLAllow: []mnspush.CertURLRule{rule}, Logger: slog.New(slog.DiscardHandler)},
		mnspush.DispatcherFunc(func(context.Context, *dispatch.Message) (dispatch.Outcome, error) {
			if calls.Add(1) < 3 {
				return dispatch.Retry, errors.New("downstream unavailable")
			}
			return dispatch.Handled, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	endpoint := httptest.NewServer(ep)
	t.Cleanup(endpoint.Close)
	_, topic := emulatorTopic(t, srv, "T")
	if err := topic.Subscribe("S", ali_mns.MessageSubsribeRequest{Endpoint: endpoint.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := topic.PublishMessage(ali_mns.MessagePublishRequest{MessageBody: "hello"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "delivery after two 500s", func() bool { return srv.PushStats().Delivered == 1 })
	if st := srv.PushStats(); st.Failed != 2 || calls.Load() != 3 {
		t.Errorf("push stats %+v, handler calls %d", st, calls.Load())
	}
}

func TestAPushFromAnEmulatorThatIsNotAllowedIsRefused(t *testing.T) {
	srv, err := mnslocal.Start(mnslocal.Config{Addr: "127.0.0.1:0", MessageTypes: []string{}, PushRetryScale: 0.0001})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	rec := &recorder{}
	// The default allow-list admits only MNS's own certificate host.
	ep, err := mnspush.New(mnspush.Config{Logger: slog.New(slog.DiscardHandler)}, rec)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := httptest.NewServer(ep)
	t.Cleanup(endpoint.Close)
	_, topic := emulatorTopic(t, srv, "T")
	if err := topic.Subscribe("S", ali_mns.MessageSubsribeRequest{Endpoint: endpoint.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := topic.PublishMessage(ali_mns.MessagePublishRequest{MessageBody: "hello"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the emulator to give up", func() bool { return srv.PushStats().GivenUp == 1 })
	if len(rec.messages()) != 0 || srv.PushStats().CertFetches != 0 {
		t.Errorf("a push with a non-allowed certificate URL got through or caused a fetch: %+v", srv.PushStats())
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
