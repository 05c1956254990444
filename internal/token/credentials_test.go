package token

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/config"
)

const (
	testSecret = "sEcReT-0123456789abcdef"
	testSTS    = "CAIS-security-token-0123456789"
)

// leaks reports which secrets appear in s.
func leaks(s string, secrets ...string) []string {
	var found []string
	for _, x := range secrets {
		if x != "" && strings.Contains(s, x) {
			found = append(found, x)
		}
	}
	return found
}

func TestSecretsNeverAppearInAnyTextualForm(t *testing.T) {
	creds := Credentials{AccessKeyID: "LTAI5tExampleKeyId", AccessKeySecret: testSecret, SecurityToken: testSTS}
	tok := Token{AccessKeyID: "STS.NUexampleId", AccessKeySecret: testSecret, SecurityToken: testSTS,
		CreateTime: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC), ExpireTime: time.Date(2026, 11, 22, 2, 30, 0, 0, time.UTC)}
	type holder struct {
		C Credentials
		T *Token
	}
	values := map[string]any{"credentials": creds, "token": tok, "pointer to token": &tok, "struct holding both": holder{creds, &tok}}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"}
	for name, v := range values {
		for _, verb := range verbs {
			out := fmt.Sprintf(verb, v)
			if l := leaks(out, testSecret, testSTS); l != nil {
				t.Errorf("%s printed with %s leaks %q: %s", name, verb, l, out)
			}
		}
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%s): %v", name, err)
		}
		if l := leaks(string(js), testSecret, testSTS); l != nil {
			t.Errorf("%s as JSON leaks %q: %s", name, l, js)
		}
		for _, h := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var buf bytes.Buffer
			slog.New(h(&buf)).Info("value", "v", v)
			if l := leaks(buf.String(), testSecret, testSTS); l != nil {
				t.Errorf("%s logged with slog leaks %q: %s", name, l, buf.String())
			}
		}
	}
	if got := fmt.Sprint(creds); !strings.Contains(got, "LTAI…(redacted)") {
		t.Errorf("credentials should show the key id prefix so keys can be told apart, got %s", got)
	}
	if got := fmt.Sprint(Credentials{}); !strings.Contains(got, `AccessKeySecret:""`) {
		t.Errorf("empty credentials should show that the secret is missing, got %s", got)
	}
}

func TestDefaultChain(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	fromCtx := Credentials{AccessKeyID: "ctx-id", AccessKeySecret: "ctx-secret", SecurityToken: "ctx-token"}
	full := map[string]string{config.EnvAccessKeyID: "env-id", config.EnvAccessKeySecret: "env-secret", config.EnvSecurityToken: "env-token"}
	tests := []struct {
		name    string
		ctx     context.Context
		env     map[string]string
		want    Credentials
		wantErr string
	}{
		{name: "credentials in the context win over the environment", ctx: WithCredentials(context.Background(), fromCtx), env: full, want: fromCtx},
		{name: "the environment is used when the context has none", ctx: context.Background(), env: full,
			want: Credentials{AccessKeyID: "env-id", AccessKeySecret: "env-secret", SecurityToken: "env-token"}},
		{name: "the security token is optional (AccessKey of a RAM user)", ctx: context.Background(),
			env:  map[string]string{config.EnvAccessKeyID: "id", config.EnvAccessKeySecret: "secret"},
			want: Credentials{AccessKeyID: "id", AccessKeySecret: "secret"}},
		{name: "incomplete credentials in the context are ignored", ctx: WithCredentials(context.Background(), Credentials{AccessKeyID: "only-id"}), env: full,
			want: Credentials{AccessKeyID: "env-id", AccessKeySecret: "env-secret", SecurityToken: "env-token"}},
		{name: "a key id without secret names the missing variable", ctx: context.Background(),
			env: map[string]string{config.EnvAccessKeyID: "id"}, wantErr: config.EnvAccessKeySecret + " is empty"},
		{name: "a secret without key id names the missing variable", ctx: context.Background(),
			env: map[string]string{config.EnvAccessKeySecret: "secret"}, wantErr: config.EnvAccessKeyID + " is empty"},
		{name: "nothing at all names every variable", ctx: context.Background(), env: map[string]string{},
			wantErr: config.EnvAccessKeyID + " / " + config.EnvAccessKeySecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultChain(env(tt.env))(tt.ctx)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want ErrNoCredentials mentioning %q", err, tt.wantErr)
				}
				if l := leaks(err.Error(), "secret"); l != nil {
					t.Errorf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %#v, want %#v", got.AccessKeyID, tt.want.AccessKeyID)
			}
			if got.AccessKeySecret != tt.want.AccessKeySecret || got.SecurityToken != tt.want.SecurityToken {
				t.Fatal("secret or token differ from the expected source")
			}
		})
	}
}

func TestStaticSourceRejectsIncompleteKeys(t *testing.T) {
	if _, err := StaticSource(Credentials{AccessKeyID: "id"})(context.Background()); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("got %v, want ErrNoCredentials", err)
	}
	c := Credentials{AccessKeyID: "id", AccessKeySecret: "s"}
	if got, err := StaticSource(c)(context.Background()); err != nil || got != c {
		t.Fatalf("got %v, %v", got, err)
	}
}
