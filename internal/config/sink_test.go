package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// testSecret is a valid Standard Webhooks secret (a 32-byte key).
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo="

func TestLoadSinkWithNothingSetLogsEverything(t *testing.T) {
	c, err := LoadSink(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.SinkFor("SmsReport") != SinkLog || c.DeadLetter != SinkLog || c.OutageHorizon != dispatch.DefaultOutageHorizon ||
		c.WebhookBatchSize != 1 || c.WebhookTimeout != 5*time.Second {
		t.Errorf("defaults = %+v", c)
	}
	for _, v := range sinkVars {
		if v.Name == "" || v.Meaning == "" {
			t.Errorf("variable %+v is undocumented", v)
		}
	}
}

func TestLoadSinkReadsEveryVariable(t *testing.T) {
	c, err := LoadSink(env(map[string]string{
		"ALICOM_SINK":           "SmsReport=webhook, SmsUp=mns ,*=log",
		"ALICOM_DEADLETTER":     "mns",
		"ALICOM_OUTAGE_HORIZON": "24h",
		"WEBHOOK_URL":           "https://receiver.example.com/alicom?x=1",
		"WEBHOOK_SECRET":        testSecret,
		"WEBHOOK_BATCH_SIZE":    "16",
		"WEBHOOK_TIMEOUT":       "2s",
		"FORWARD_MNS_ENDPOINT":  "https://123.mns.cn-hangzhou.aliyuncs.com",
		"FORWARD_MNS_QUEUE":     "receipts-{type}",
		"DEADLETTER_MNS_QUEUE":  "dead-letters",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SinkFor("SmsReport") != SinkWebhook || c.SinkFor("SmsUp") != SinkMNS || c.SinkFor("VoiceReport") != SinkLog {
		t.Errorf("sinks = %v, default %s", c.ByType, c.Default)
	}
	if c.DeadLetter != SinkMNS || c.OutageHorizon != 24*time.Hour || c.WebhookBatchSize != 16 || c.WebhookTimeout != 2*time.Second ||
		c.WebhookURL != "https://receiver.example.com/alicom?x=1" || c.WebhookSecret.Reveal() != testSecret ||
		c.ForwardEndpoint != "https://123.mns.cn-hangzhou.aliyuncs.com" || c.ForwardQueue != "receipts-{type}" ||
		c.DeadLetterQueue != "dead-letters" {
		t.Errorf("config = %+v", c)
	}
}

func TestLoadSinkRefusesWhatCannotWork(t *testing.T) {
	base := map[string]string{"WEBHOOK_URL": "https://r.example.com/", "WEBHOOK_SECRET": testSecret}
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"an unknown sink name", map[string]string{"ALICOM_SINK": "kafka"}, `ALICOM_SINK: "kafka" is not valid: expected log, webhook or mns`},
		{"a pair without a sink", map[string]string{"ALICOM_SINK": "SmsReport=webhook,SmsUp"}, `ALICOM_SINK: "SmsUp" is not valid`},
		{"a type named twice", map[string]string{"ALICOM_SINK": "SmsUp=log,SmsUp=log"}, "expected each type once"},
		{"two defaults", map[string]string{"ALICOM_SINK": "*=log,*=log"}, "expected each type once"},
		{"an unknown dead-letter sink", map[string]string{"ALICOM_DEADLETTER": "s3"}, `ALICOM_DEADLETTER: "s3" is not valid`},
		{"a webhook without a URL", map[string]string{"ALICOM_SINK": "webhook", "WEBHOOK_URL": ""}, "WEBHOOK_URL: not set"},
		{"a webhook without a secret", map[string]string{"ALICOM_DEADLETTER": "webhook", "WEBHOOK_SECRET": ""}, "WEBHOOK_SECRET: not set"},
		{"a plain http receiver on the network", map[string]string{"WEBHOOK_URL": "http://r.example.com/x"}, "expected https (plain http only for loopback"},
		{"a receiver URL with a password", map[string]string{"WEBHOOK_URL": "https://u:pw@r.example.com/x"}, "expected no user:password@"},
		{"a relative receiver URL", map[string]string{"WEBHOOK_URL": "/alicom"}, "expected an absolute URL"},
		{"a secret without its prefix", map[string]string{"WEBHOOK_SECRET": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "expected whsec_"},
		{"a secret that is not base64", map[string]string{"WEBHOOK_SECRET": "whsec_not*base64"}, "expected whsec_ followed by standard base64"},
		{"a secret too short", map[string]string{"WEBHOOK_SECRET": "whsec_c2hvcnQ="}, "24 to 64 byte key"},
		{"a batch of 17", map[string]string{"WEBHOOK_BATCH_SIZE": "17"}, "expected a whole number from 1 to 16"},
		{"a batch of 0", map[string]string{"WEBHOOK_BATCH_SIZE": "0"}, "expected a whole number from 1 to 16"},
		{"a timeout that is not a duration", map[string]string{"WEBHOOK_TIMEOUT": "5"}, "WEBHOOK_TIMEOUT"},
		{"an outage horizon beyond a week", map[string]string{"ALICOM_OUTAGE_HORIZON": "200h"}, "ALICOM_OUTAGE_HORIZON"},
		{"forwarding without an endpoint", map[string]string{"ALICOM_SINK": "mns", "FORWARD_MNS_QUEUE": "q"}, "FORWARD_MNS_ENDPOINT: not set"},
		{"forwarding without a target", map[string]string{"ALICOM_SINK": "mns", "FORWARD_MNS_ENDPOINT": "https://1.mns.cn-hangzhou.aliyuncs.com"}, "FORWARD_MNS_QUEUE: not set"},
		{"forwarding to a queue and a topic", map[string]string{"ALICOM_SINK": "mns", "FORWARD_MNS_ENDPOINT": "https://1.mns.cn-hangzhou.aliyuncs.com", "FORWARD_MNS_QUEUE": "q", "FORWARD_MNS_TOPIC": "t"}, "expected one target"},
		{"an endpoint with a path", map[string]string{"FORWARD_MNS_ENDPOINT": "https://1.mns.cn-hangzhou.aliyuncs.com/queues"}, "FORWARD_MNS_ENDPOINT"},
		{"a queue name with a dot", map[string]string{"FORWARD_MNS_QUEUE": "a.b"}, `FORWARD_MNS_QUEUE: "a.b" is not valid`},
		{"dead letters to mns without a queue", map[string]string{"ALICOM_DEADLETTER": "mns", "FORWARD_MNS_ENDPOINT": "https://1.mns.cn-hangzhou.aliyuncs.com"}, "DEADLETTER_MNS_QUEUE: not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range base {
				vars[k] = v
			}
			for k, v := range tt.vars {
				vars[k] = v
			}
			_, err := LoadSink(env(vars))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestPlainHTTPIsAcceptedForLoopbackReceivers(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]:9/x"} {
		c, err := LoadSink(env(map[string]string{"WEBHOOK_URL": u}))
		if err != nil || c.WebhookURL != u {
			t.Errorf("%s: %v %q", u, err, c.WebhookURL)
		}
	}
}

func TestTheWebhookSecretIsNeverShown(t *testing.T) {
	secretKey := strings.TrimPrefix(testSecret, "whsec_")
	c, err := LoadSink(env(map[string]string{"WEBHOOK_URL": "https://r.example.com/?token=abc", "WEBHOOK_SECRET": testSecret, "ALICOM_SINK": "webhook"}))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "sink", c, "secret", c.WebhookSecret)
	js, _ := json.Marshal(c)
	forms := []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%s %q %x", c.WebhookSecret, c.WebhookSecret, c.WebhookSecret), c.String(), string(js), logged.String()}
	for _, f := range forms {
		if strings.Contains(f, secretKey) {
			t.Errorf("a textual form shows the secret: %s", f)
		}
	}
	// An invalid secret is not echoed in the error either.
	_, err = LoadSink(env(map[string]string{"WEBHOOK_SECRET": "whsec_" + secretKey + "!!"}))
	if err == nil || strings.Contains(err.Error(), secretKey) {
		t.Errorf("error = %v", err)
	}
	_, err = LoadSink(env(map[string]string{"WEBHOOK_URL": "http://r.example.com/?token=abc"}))
	if err == nil || strings.Contains(err.Error(), "token=abc") {
		t.Errorf("the URL's query is echoed: %v", err)
	}
}
