package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

func noEnv(string) string { return "" }

func TestParseFlagsDefaults(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9911" || cfg.AccessKeyID != "mnslocal" || cfg.AccessKeySecret != "mnslocal-secret" ||
		cfg.AlicomUID != "1234567890123456" || cfg.TokenTTL != 10*time.Minute || cfg.VisibilityTimeout != 30*time.Second ||
		strings.Join(cfg.MessageTypes, ",") != "SmsReport,SmsUp,VoiceReport,VoiceCallReport,DypnsSmsVerifyReport,MnsCardTemplate" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(mnslocal.Config) bool
		wantErr string
	}{
		{"repeatable queues and faults are collected",
			[]string{"-queue", "a", "-queue", "b", "-fault", "BatchReceiveMessage=0.1:500", "-fault", "DeleteMessage=0.2:stall:3s"}, nil,
			func(c mnslocal.Config) bool {
				return strings.Join(c.Queues, ",") == "a,b" && c.Faults["BatchReceiveMessage"].Rate == 0.1 &&
					c.Faults["DeleteMessage"].Stall == 3*time.Second
			}, ""},
		{"an empty -message-types creates no Alicom queues",
			[]string{"-message-types", ""}, nil,
			func(c mnslocal.Config) bool { return c.MessageTypes != nil && len(c.MessageTypes) == 0 }, ""},
		{"the secret may come from the environment",
			[]string{"-access-key-id", "ak"}, map[string]string{"MNSLOCAL_ACCESS_KEY_SECRET": "from-env"},
			func(c mnslocal.Config) bool { return c.AccessKeySecret == "from-env" }, ""},
		{"push retries can be made faster",
			[]string{"-push-retry-scale", "0.01"}, nil,
			func(c mnslocal.Config) bool { return c.PushRetryScale == 0.01 }, ""},
		{"a negative push retry scale is refused", []string{"-push-retry-scale", "-1"}, nil, nil, "PushRetryScale"},
		{"a custom key id without a secret is refused", []string{"-access-key-id", "ak"}, nil, nil, "needs -access-key-secret"},
		{"a bad fault is refused", []string{"-fault", "Nope=1:500"}, nil, nil, "-fault"},
		{"a bad log level is refused", []string{"-log-level", "loud"}, nil, nil, "-log-level"},
		{"a bad queue name is refused", []string{"-queue", "1x"}, nil, nil, "Config.Queues"},
		{"stray arguments are refused", []string{"extra"}, nil, nil, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseFlags(tt.args, io.Discard, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(cfg) {
				t.Fatalf("got %+v, %v", cfg, err)
			}
		})
	}
}

func TestParsedConfigServes(t *testing.T) {
	cfg, err := parseFlags([]string{"-addr", "127.0.0.1:0", "-queue", "plain", "-message-types", "SmsUp", "-log-level", "error"}, io.Discard, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mnslocal.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get(srv.URL() + "/_mnslocal/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st mnslocal.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Queues["plain"]; !ok || len(st.Queues) != 2 {
		t.Fatalf("queues %v: want plain and Alicom-Queue-1234567890123456-SmsUp", st.Queues)
	}
}

func TestABusyAddressSaysHowToChooseAnother(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run([]string{"-addr", ln.Addr().String()}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "choose another address with -addr 127.0.0.1:PORT") ||
		strings.Contains(err.Error(), "mnslocal: mnslocal:") {
		t.Fatalf("err = %v", err)
	}
}
