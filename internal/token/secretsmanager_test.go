package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/alicom-drain/alicom-drain/internal/config"
)

// fakeSecretsManager answers GetSecretValue the way Secrets Manager's JSON protocol does.
type fakeSecretsManager struct {
	secret atomic.Value // string: the SecretString; "" answers ResourceNotFoundException
	calls  atomic.Int64
	auth   atomic.Value // string: the last Authorization header
}

func (f *fakeSecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	f.auth.Store(r.Header.Get("Authorization"))
	body, _ := io.ReadAll(r.Body)
	var in struct{ SecretId string }
	json.Unmarshal(body, &in)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || in.SecretId != "alicom/keys" {
		w.WriteHeader(400)
		io.WriteString(w, `{"__type":"ValidationException","message":"unexpected request"}`)
		return
	}
	s, _ := f.secret.Load().(string)
	if s == "" {
		w.WriteHeader(400)
		io.WriteString(w, `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`)
		return
	}
	out, _ := json.Marshal(map[string]any{"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:alicom/keys-AbCdEf", "Name": "alicom/keys", "SecretString": s})
	w.Write(out)
}

func newSecretsManagerForTest(t *testing.T, f *fakeSecretsManager) *SecretsManager {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	env := map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "aws-secret", "AWS_SESSION_TOKEN": "aws-token"}
	sm, err := NewSecretsManager(SecretsManagerConfig{SecretID: "alicom/keys", Getenv: func(k string) string { return env[k] }, Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return sm
}

func keysJSON(id, secret string) string {
	return fmt.Sprintf(`{"%s":"%s","%s":"%s"}`, config.EnvAccessKeyID, id, config.EnvAccessKeySecret, secret)
}

func TestSecretsManagerReadsTheKeysOnceAndAgainAfterInvalidate(t *testing.T) {
	f := &fakeSecretsManager{}
	f.secret.Store(keysJSON("LTAIfirst", "first-secret"))
	sm := newSecretsManagerForTest(t, f)
	for range 3 {
		c, err := sm.Credentials(context.Background())
		if err != nil || c.AccessKeyID != "LTAIfirst" || c.AccessKeySecret != "first-secret" {
			t.Fatalf("credentials %v, %v", c, err)
		}
	}
	if f.calls.Load() != 1 {
		t.Fatalf("secret read %d times, want once per instance", f.calls.Load())
	}
	if a, _ := f.auth.Load().(string); !strings.Contains(a, "Credential=ASIAEXAMPLE/") {
		t.Errorf("request not signed with the function role's keys: %q", a)
	}
	// Rotated: after the old keys were refused, the next use reads the secret again.
	f.secret.Store(keysJSON("LTAIsecond", "second-secret"))
	sm.Invalidate()
	c, err := sm.Credentials(context.Background())
	if err != nil || c.AccessKeyID != "LTAIsecond" || f.calls.Load() != 2 {
		t.Fatalf("after Invalidate: %v, %v, %d reads", c, err, f.calls.Load())
	}
}

func TestSecretsManagerFailuresAreNotCachedAndNeverQuoteTheSecret(t *testing.T) {
	tests := []struct {
		name, secret, want string
	}{
		{"a missing secret names it", "", "reading Secrets Manager secret alicom/keys"},
		{"a secret that is not JSON says what is expected", "LTAI:plain-text-secret", "is not a JSON object of strings: expected ALIBABA_CLOUD_ACCESS_KEY_ID"},
		{"a secret without the key secret names both keys", `{"ALIBABA_CLOUD_ACCESS_KEY_ID":"LTAIx"}`, "lacks ALIBABA_CLOUD_ACCESS_KEY_ID or ALIBABA_CLOUD_ACCESS_KEY_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSecretsManager{}
			f.secret.Store(tt.secret)
			sm := newSecretsManagerForTest(t, f)
			_, err := sm.Credentials(context.Background())
			if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "plain-text-secret") {
				t.Fatalf("err = %v", err)
			}
			calls := f.calls.Load()
			f.secret.Store(keysJSON("LTAIok", "ok-secret"))
			if c, err := sm.Credentials(context.Background()); err != nil || c.AccessKeyID != "LTAIok" || f.calls.Load() == calls {
				t.Fatalf("the failure was cached: %v, %v", c, err)
			}
		})
	}
}

func TestNewSecretsManagerNeedsARegion(t *testing.T) {
	_, err := NewSecretsManager(SecretsManagerConfig{SecretID: "x", Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION is not set") {
		t.Fatalf("err = %v", err)
	}
}

func TestSecretsManagerBoundsTheAnswersBody(t *testing.T) {
	f := &fakeSecretsManager{}
	// Valid keys, padded past the limit: read whole, the answer would be accepted.
	f.secret.Store(fmt.Sprintf(`{"%s":"LTAIbig","%s":"big-secret","pad":"%s"}`,
		config.EnvAccessKeyID, config.EnvAccessKeySecret, strings.Repeat("x", 2*maxSecretsManagerAnswer)))
	sm := newSecretsManagerForTest(t, f)
	c, err := sm.Credentials(context.Background())
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "byte limit") {
		t.Fatalf("Credentials = %v, %v; want ErrNoCredentials naming the body limit", c, err)
	}
}
