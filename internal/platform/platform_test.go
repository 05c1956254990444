package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fcmessages "github.com/aliyun/fc-runtime-go-sdk/fc/messages"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/alicom-drain/alicom-drain/internal/token"
)

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseTriggerRecognisesTheSampleEvents(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		want Trigger
	}{
		{"the FC timer event gives its name, time and payload", readEvent(t, "fc-timer.json"),
			Trigger{Kind: FCTimer, Name: "alicom-drain-every-minute", Time: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC), Payload: "drain"}},
		{"the Lambda schedule event gives its rule and time", readEvent(t, "lambda-schedule.json"),
			Trigger{Kind: LambdaSchedule, Name: "arn:aws:events:us-east-1:123456789012:rule/alicom-drain-every-minute", Time: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)}},
		{"an empty object is a manual invocation", readEvent(t, "manual.json"), Trigger{Kind: Manual}},
		{"no event at all is a manual invocation", nil, Trigger{Kind: Manual}},
		{"an FC timer event without a payload is fine", []byte(`{"triggerTime":"2022-07-29T10:02:58Z","triggerName":"T"}`),
			Trigger{Kind: FCTimer, Name: "T", Time: time.Date(2022, 7, 29, 10, 2, 58, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTrigger(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(tt.want.Time) {
				t.Errorf("time = %v, want %v", got.Time, tt.want.Time)
			}
			got.Time, tt.want.Time = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseTriggerRefusesOtherEventsWithWhatItExpected(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"a JSON array is not an event", `[1]`, "not a JSON object"},
		{"broken JSON is not an event", `{"triggerTime":`, "not a JSON object"},
		{"an OSS event is not a timer", `{"events":[{"eventName":"ObjectCreated:PutObject"}]}`, "expected an FC timer event"},
		{"an EventBridge event of another kind is refused", `{"detail-type":"EC2 Instance State-change Notification"}`, `detail-type "EC2 Instance State-change Notification"`},
		{"a timer time that is not RFC 3339 is refused", `{"triggerTime":"yesterday","triggerName":"T"}`, `triggerTime "yesterday" is not RFC 3339`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTrigger([]byte(tt.raw))
			if !errors.Is(err, ErrUnknownEvent) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrUnknownEvent containing %q", err, tt.want)
			}
		})
	}
}

func TestDetectPicksThePlatformFromItsRuntimeVariable(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want Platform
	}{
		{map[string]string{"FC_RUNTIME_API": "127.0.0.1:9000"}, FunctionCompute},
		{map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, Lambda},
		{nil, Local},
	}
	for _, tt := range tests {
		if got := Detect(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("Detect(%v) = %s, want %s", tt.env, got, tt.want)
		}
	}
}

func TestFCHandlerPassesTheRoleCredentialsAndDeadlineOfTheInvocation(t *testing.T) {
	deadline := time.Now().Add(time.Minute)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	ctx = fccontext.NewContext(ctx, &fccontext.FcContext{
		RequestID: "req-1", AccountId: "1234567890123456", Region: "cn-hangzhou",
		Function:    fccontext.Function{Name: "alicom-drain"},
		Credentials: fccontext.Credentials{AccessKeyId: "STS.role", AccessKeySecret: "role-secret", SecurityToken: "role-token"},
	})
	var got Invocation
	var creds token.Credentials
	h := fcHandler(func(ctx context.Context, inv Invocation) (any, error) {
		got = inv
		creds, _ = token.CredentialsFrom(ctx)
		return "ok", nil
	}, quiet())
	if _, err := h(ctx, readEvent(t, "fc-timer.json")); err != nil {
		t.Fatal(err)
	}
	if got.Platform != FunctionCompute || got.RequestID != "req-1" || got.AccountID != "1234567890123456" ||
		got.Region != "cn-hangzhou" || got.Function != "alicom-drain" || !got.Deadline.Equal(deadline) || got.Trigger.Kind != FCTimer ||
		!got.RoleCredentials {
		t.Errorf("invocation = %+v", got)
	}
	if creds.AccessKeyID != "STS.role" || creds.AccessKeySecret != "role-secret" || creds.SecurityToken != "role-token" {
		t.Errorf("credentials in context = %+v", creds)
	}
}

func TestFCHandlerFailsTheInvocationOnAnUnknownEvent(t *testing.T) {
	called := false
	h := fcHandler(func(context.Context, Invocation) (any, error) { called = true; return nil, nil }, quiet())
	_, err := h(context.Background(), json.RawMessage(`{"foo":1}`))
	var doc fcmessages.InvokeResponse_Error
	if !errors.As(err, &doc) || doc.Type != "EventError" || !strings.Contains(doc.Message, "expected an FC timer event") {
		t.Fatalf("err = %#v, want an EventError document", err)
	}
	if called {
		t.Error("the handler ran for an event it cannot take")
	}
}

func TestLambdaHandlerPassesTheRequestIDAndDeadline(t *testing.T) {
	deadline := time.Now().Add(time.Minute)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "aws-req"})
	var got Invocation
	h := lambdaHandler(func(ctx context.Context, inv Invocation) (any, error) { got = inv; return nil, nil }, quiet())
	if _, err := h(ctx, readEvent(t, "lambda-schedule.json")); err != nil {
		t.Fatal(err)
	}
	if got.Platform != Lambda || got.RequestID != "aws-req" || !got.Deadline.Equal(deadline) || got.Trigger.Kind != LambdaSchedule {
		t.Errorf("invocation = %+v", got)
	}
}

func TestRunLocal(t *testing.T) {
	event := filepath.Join("..", "..", "events", "fc-timer.json")
	tests := []struct {
		name       string
		args       []string
		handlerErr error
		wantCode   int
		wantOut    string
		wantErr    string
	}{
		{"a good event prints the result and exits 0", []string{"-event", event}, nil, 0, `"kind": "fc-timer"`, ""},
		{"no event is a manual invocation", nil, nil, 0, `"kind": "manual"`, ""},
		{"a handler error prints the result and ends in one JSON line with its type", []string{"-event", event}, Fail(QueueError, errors.New("queue gone")), 1, `"kind"`,
			`"msg":"invocation failed","request_id":"local-`},
		{"a missing event file exits 2", []string{"-event", "nope.json"}, nil, 2, "", `"error_type":"EventError","error":"-event: open nope.json`},
		{"a stray argument exits 2", []string{"events/x.json"}, nil, 2, "", `unexpected argument "events/x.json"`},
		{"an unknown flag exits 2", []string{"-evnt", event}, nil, 2, "", "flag provided but not defined"},
		{"-h prints the usage and exits 0", []string{"-h"}, nil, 0, "", "usage: alicom-drain [-event FILE] [-timeout DURATION]\n\nAbout the function."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			var deadline time.Time
			code := RunLocal(context.Background(), tt.args, &stdout, &stderr, func(ctx context.Context, inv Invocation) (any, error) {
				deadline, _ = ctx.Deadline()
				return inv.Trigger, tt.handlerErr
			}, Options{Logger: slog.New(slog.NewJSONHandler(&stderr, nil)), Name: "alicom-drain", About: "About the function."})
			if code != tt.wantCode {
				t.Fatalf("exit = %d, want %d; stderr: %s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stdout = %q, stderr = %q", stdout.String(), stderr.String())
			}
			if code == 1 && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("a failure must end in exactly one line, got %q", stderr.String())
			}
			if code != 2 && !deadline.IsZero() && time.Until(deadline) < 30*time.Second {
				t.Errorf("deadline %v: want the default 60s timeout", deadline)
			}
		})
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }
