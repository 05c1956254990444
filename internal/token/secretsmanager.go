package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/alicom-drain/alicom-drain/internal/config"
)

// SecretsManagerConfig configures a SecretsManager credential source.
type SecretsManagerConfig struct {
	// SecretID is the secret's name or ARN. Its SecretString is a JSON object with the keys
	// ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET.
	SecretID string
	// Getenv reads the AWS runtime's variables: AWS_REGION and the function role's
	// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, which Lambda sets.
	Getenv func(string) string
	// Endpoint overrides the Secrets Manager endpoint (tests); empty for AWS's own.
	Endpoint string
}

// maxSecretsManagerAnswer bounds a Secrets Manager answer (the SDK reads it whole): a secret
// holds at most 64 KiB, which the answer quotes once, escaped as JSON.
const maxSecretsManagerAnswer = 1 << 20

// limitTransport bounds the body of every answer (see limitBody).
type limitTransport struct {
	base    http.RoundTripper
	maxBody int64
}

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	return limitBody(resp, t.maxBody)
}

// SecretsManager reads the caller's Alibaba Cloud keys from an AWS Secrets Manager secret at run
// time, so that they never sit in the function's configuration and a rotation needs no
// redeploy. The keys are read once per instance and kept until Invalidate (after the keys were
// refused); a failed read is not cached, so the next call tries again.
type SecretsManager struct {
	id     string
	client *secretsmanager.Client

	mu     sync.Mutex
	cached Credentials
	reads  int
}

// NewSecretsManager returns the source for cfg. It does not read the secret yet.
func NewSecretsManager(cfg SecretsManagerConfig) (*SecretsManager, error) {
	if strings.TrimSpace(cfg.SecretID) == "" {
		return nil, errors.New("token.NewSecretsManager: SecretID is empty")
	}
	getenv := cfg.Getenv
	if getenv == nil {
		return nil, errors.New("token.NewSecretsManager: Getenv is nil")
	}
	region := getenv("AWS_REGION")
	if region == "" {
		return nil, errors.New("token.NewSecretsManager: AWS_REGION is not set: expected the region Lambda runs the function in")
	}
	awsCfg := aws.Config{
		Region: region,
		// Every read is bounded in time and in the answer's size.
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: limitTransport{base: http.DefaultTransport, maxBody: maxSecretsManagerAnswer}},
		// The function role's keys, read at each signing: Lambda sets them for the instance.
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			c := aws.Credentials{
				AccessKeyID: getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
				SessionToken: getenv("AWS_SESSION_TOKEN"), Source: "lambda-environment",
			}
			if c.AccessKeyID == "" || c.SecretAccessKey == "" {
				return aws.Credentials{}, errors.New("AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY not set: expected the function role's keys that Lambda provides")
			}
			return c, nil
		}),
		RetryMaxAttempts: 2,
	}
	var opts []func(*secretsmanager.Options)
	if cfg.Endpoint != "" {
		opts = append(opts, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(cfg.Endpoint) })
	}
	return &SecretsManager{id: cfg.SecretID, client: secretsmanager.NewFromConfig(awsCfg, opts...)}, nil
}

// Credentials returns the keys in the secret; it is a CredentialSource.
func (s *SecretsManager) Credentials(ctx context.Context) (Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached.Valid() {
		return s.cached, nil
	}
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.id)})
	s.reads++
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: reading Secrets Manager secret %s: %v", ErrNoCredentials, s.id, err)
	}
	if out.SecretString == nil {
		return Credentials{}, fmt.Errorf("%w: Secrets Manager secret %s has no SecretString: expected a JSON object with %s and %s",
			ErrNoCredentials, s.id, config.EnvAccessKeyID, config.EnvAccessKeySecret)
	}
	var doc map[string]string
	if err := json.Unmarshal([]byte(*out.SecretString), &doc); err != nil {
		// The text may be the secret itself: never quote it.
		return Credentials{}, fmt.Errorf("%w: Secrets Manager secret %s is not a JSON object of strings: expected %s and %s",
			ErrNoCredentials, s.id, config.EnvAccessKeyID, config.EnvAccessKeySecret)
	}
	c := Credentials{AccessKeyID: strings.TrimSpace(doc[config.EnvAccessKeyID]), AccessKeySecret: strings.TrimSpace(doc[config.EnvAccessKeySecret])}
	if !c.Valid() {
		return Credentials{}, fmt.Errorf("%w: Secrets Manager secret %s lacks %s or %s",
			ErrNoCredentials, s.id, config.EnvAccessKeyID, config.EnvAccessKeySecret)
	}
	s.cached = c
	return c, nil
}

// Invalidate drops the cached keys: the next Credentials reads the secret again. Call it when
// the keys were refused, since they may have been rotated.
func (s *SecretsManager) Invalidate() {
	s.mu.Lock()
	s.cached = Credentials{}
	s.mu.Unlock()
}

// Reads is how many times the secret was read (tests, diagnostics).
func (s *SecretsManager) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}
