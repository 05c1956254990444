package platform

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fcevents "github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/alicom-drain/alicom-drain/internal/logbuf"
)

// seen is what the handler saw of a request.
type seen struct {
	Method, RequestURI, Host, Proto, RemoteAddr, Body, RequestID string
	Header                                                       http.Header
	HasDeadline                                                  bool
}

// echo answers 201 with what it saw, as JSON, and a header of its own.
func echo(got *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, dl := r.Context().Deadline()
		*got = seen{r.Method, r.RequestURI, r.Host, r.Proto, r.RemoteAddr, string(b), RequestID(r.Context()), r.Header, dl}
		w.Header().Set("X-Answer", "yes")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "done")
	})
}

func readPushEvent(t *testing.T, name string, v any) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "push", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func TestFCHTTPTriggerEventsBecomeTheRequestAsReceived(t *testing.T) {
	tests := []struct {
		name, file               string
		wantTarget, wantBodyHead string
	}{
		{"an XML topic push keeps its raw path and body", "fc-http-trigger-xml.json", "/notifications", "<?xml"},
		{"a base64 body is decoded", "fc-http-trigger-json-base64.json", "/push/alicom", `{"Message":`},
		{"an Alicom batch push keeps its token query", "fc-http-trigger-alicom-push.json", "/alicom/SmsReport?token=replace-with-ALICOM_PUSH_TOKEN", `[{"phone_number"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev fcevents.HTTPTriggerEvent
			raw := readPushEvent(t, tt.file, &ev)
			var got seen
			ctx := fccontext.NewContext(context.Background(), &fccontext.FcContext{RequestID: "fc-http-1"})
			out, err := fc.NewHandler(fcHTTPHandler(echo(&got), quiet(), HTTPOptions{})).Invoke(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			var resp fcevents.HTTPTriggerResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusCreated || resp.Body != "done" || resp.Headers["X-Answer"] != "yes" || resp.IsBase64Encoded {
				t.Errorf("response %+v", resp)
			}
			if got.Method != "POST" || got.RequestURI != tt.wantTarget || got.Proto != "HTTP/1.1" ||
				!strings.HasPrefix(got.Body, tt.wantBodyHead) || got.Host != "alicom-push-qwertyuiop.cn-hangzhou.fcapp.run" ||
				got.RequestID != "fc-http-1" || !got.HasDeadline || got.Header.Get("Host") != "" {
				t.Errorf("handler saw %+v", got)
			}
		})
	}
}

func TestLambdaFunctionURLEventsBecomeTheRequestAsReceived(t *testing.T) {
	var ev lambdaevents.LambdaFunctionURLRequest
	raw := readPushEvent(t, "lambda-function-url-simplified.json", &ev)
	var got seen
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "aws-http-1"})
	out, err := lambda.NewHandler(lambdaHTTPHandler(echo(&got), quiet(), HTTPOptions{})).Invoke(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp lambdaevents.LambdaFunctionURLResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || resp.Body != "done" || resp.Headers["X-Answer"] != "yes" {
		t.Errorf("response %+v", resp)
	}
	if got.Method != "POST" || got.RequestURI != "/notifications" || got.Body != ev.Body || got.Host != ev.RequestContext.DomainName ||
		got.Header.Get("X-Mns-Message-Id") != "7E5B1F4C3D2A6B8C9D0E1F2A3B4C5D6E" || got.RemoteAddr != "47.88.1.2" || got.RequestID != "aws-http-1" {
		t.Errorf("handler saw %+v", got)
	}
}

func TestHTTPEventsThatCannotBeServedAreAnsweredWithoutTheHandler(t *testing.T) {
	yes := true
	bad := "%%%"
	big := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 2<<20))
	path := "/x"
	tests := []struct {
		name   string
		ev     fcevents.HTTPTriggerEvent
		status int
	}{
		{"a body marked base64 that does not decode is 400", fcevents.HTTPTriggerEvent{RawPath: &path, Body: &bad, IsBase64Encoded: &yes}, 400},
		{"a body over the limit is 413", fcevents.HTTPTriggerEvent{RawPath: &path, Body: &big, IsBase64Encoded: &yes}, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logbuf.Buffer
			called := false
			h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })
			resp, err := fcHTTPHandler(h, slog.New(slog.NewJSONHandler(&logs, nil)), HTTPOptions{})(context.Background(), tt.ev)
			if err != nil || resp.StatusCode != tt.status || called {
				t.Fatalf("status %d, err %v, handler called %v", resp.StatusCode, err, called)
			}
			if !strings.Contains(logs.String(), `"msg":"HTTP event refused"`) {
				t.Errorf("no log line for the refusal: %s", logs.String())
			}
		})
	}
}

func TestAnHTTPHandlerGetsTheRequestTimeoutAndAPanicIs500(t *testing.T) {
	path := "/"
	var left time.Duration
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dl, _ := r.Context().Deadline()
		left = time.Until(dl)
		if r.URL.Query().Get("panic") != "" {
			panic("boom")
		}
	})
	resp, _ := fcHTTPHandler(h, quiet(), HTTPOptions{Timeout: 4500 * time.Millisecond})(context.Background(), fcevents.HTTPTriggerEvent{RawPath: &path})
	if resp.StatusCode != 200 || left > 4500*time.Millisecond || left < time.Second {
		t.Errorf("status %d, time left %v: want 200 within the 4.5 s budget", resp.StatusCode, left)
	}
	q := map[string]string{"panic": "1"}
	resp, _ = fcHTTPHandler(h, quiet(), HTTPOptions{})(context.Background(), fcevents.HTTPTriggerEvent{RawPath: &path, QueryParameters: &q})
	if resp.StatusCode != 500 {
		t.Errorf("panicking handler: status %d, want 500", resp.StatusCode)
	}
}

func TestABinaryAnswerIsSentAsBase64(t *testing.T) {
	path := "/"
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte{0xff, 0xfe}) })
	resp, _ := fcHTTPHandler(h, quiet(), HTTPOptions{})(context.Background(), fcevents.HTTPTriggerEvent{RawPath: &path})
	if !resp.IsBase64Encoded || resp.Body != "//4=" {
		t.Errorf("response %+v", resp)
	}
}

func TestRunLocalHTTPServesUntilStoppedAndNamesABusyAddress(t *testing.T) {
	var got seen
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr logbuf.Buffer
	done := make(chan int, 1)
	o := HTTPOptions{Options: Options{Logger: slog.New(slog.NewJSONHandler(&stderr, nil))},
		Banner: func(w io.Writer, addr string) { io.WriteString(w, addr+"\n") }}
	go func() {
		done <- RunLocalHTTP(ctx, []string{"-listen", "127.0.0.1:0"}, pw, &stderr, echo(&got), o)
		pw.Close()
	}()
	buf := make([]byte, 64)
	n, err := pr.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSpace(string(buf[:n]))
	resp, err := http.Post("http://"+addr+"/alicom/SmsReport?token=t", "application/json", strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || got.RequestURI != "/alicom/SmsReport?token=t" || !got.HasDeadline {
		t.Fatalf("status %d, handler saw %+v", resp.StatusCode, got)
	}

	// A second server on the same address fails with a hint.
	var busy logbuf.Buffer
	code := RunLocalHTTP(context.Background(), []string{"-listen", addr}, io.Discard, &busy, echo(&got),
		HTTPOptions{Options: Options{Logger: slog.New(slog.NewJSONHandler(&busy, nil))}})
	if code != 1 || !strings.Contains(busy.String(), "choose another address with -listen ADDR") || strings.Count(busy.String(), "\n") != 1 {
		t.Errorf("busy address: exit %d, stderr %s", code, busy.String())
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; stderr %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the local server did not stop after its context ended")
	}
}
