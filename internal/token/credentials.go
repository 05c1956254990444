package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/redact"
)

// ErrNoCredentials means the credential chain found no credentials for calling Dybaseapi.
var ErrNoCredentials = errors.New("token: no credentials")

// Credentials are the caller's own keys used to call Dybaseapi: a RAM role's temporary keys
// (SecurityToken set) or a RAM user's AccessKey (SecurityToken empty). They are not the Alicom
// queue token. Every textual form redacts the secret and the token.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Valid reports whether both the key id and the secret are present.
func (c Credentials) Valid() bool { return c.AccessKeyID != "" && c.AccessKeySecret != "" }

// String shows the key id's prefix and hides the secret and the token.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{AccessKeyID:%s AccessKeySecret:%s SecurityToken:%s}",
		redact.ID(c.AccessKeyID), redact.Secret(c.AccessKeySecret), redact.Secret(c.SecurityToken))
}

// GoString is String, so %#v is as safe as %v.
func (c Credentials) GoString() string { return "token." + c.String() }

// Format makes every fmt verb (%v, %+v, %#v, %s, %d, %x...) print the redacted form.
func (c Credentials) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, c.String(), c.GoString())
}

// LogValue makes slog print the redacted form.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", redact.ID(c.AccessKeyID)),
		slog.String("access_key_secret", redact.Secret(c.AccessKeySecret)),
		slog.String("security_token", redact.Secret(c.SecurityToken)),
	)
}

// MarshalJSON writes the redacted form: credentials are never meant to be serialised, and a
// JSON log line of a struct holding them must not leak them.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"AccessKeyID":%q,"AccessKeySecret":%q,"SecurityToken":%q}`,
		redact.ID(c.AccessKeyID), redact.Secret(c.AccessKeySecret), redact.Secret(c.SecurityToken)), nil
}

// CredentialSource returns the credentials to call Dybaseapi with for the current invocation.
type CredentialSource func(ctx context.Context) (Credentials, error)

type credentialsKey struct{}

// WithCredentials returns a context carrying the caller's credentials. The platform adapter
// calls it with the function role's credentials of the current invocation; DefaultChain prefers
// them over the environment.
func WithCredentials(ctx context.Context, c Credentials) context.Context {
	return context.WithValue(ctx, credentialsKey{}, c)
}

// CredentialsFrom returns the credentials WithCredentials put into ctx, if any.
func CredentialsFrom(ctx context.Context) (Credentials, bool) {
	c, ok := ctx.Value(credentialsKey{}).(Credentials)
	return c, ok && c.Valid()
}

// DefaultChain returns the credential chain: first the credentials in the context
// (WithCredentials), then ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET with the
// optional ALIBABA_CLOUD_SECURITY_TOKEN read through getenv (os.Getenv when nil) at each call,
// so rotated role credentials are picked up. Nothing found is ErrNoCredentials, naming the
// variables.
func DefaultChain(getenv func(string) string) CredentialSource {
	if getenv == nil {
		getenv = os.Getenv
	}
	return func(ctx context.Context) (Credentials, error) {
		if c, ok := CredentialsFrom(ctx); ok {
			return c, nil
		}
		c := Credentials{
			AccessKeyID:     strings.TrimSpace(getenv(config.EnvAccessKeyID)),
			AccessKeySecret: strings.TrimSpace(getenv(config.EnvAccessKeySecret)),
			SecurityToken:   strings.TrimSpace(getenv(config.EnvSecurityToken)),
		}
		switch {
		case c.Valid():
			return c, nil
		case c.AccessKeyID != "":
			return Credentials{}, fmt.Errorf("%w: %s is set but %s is empty", ErrNoCredentials, config.EnvAccessKeyID, config.EnvAccessKeySecret)
		case c.AccessKeySecret != "":
			return Credentials{}, fmt.Errorf("%w: %s is set but %s is empty", ErrNoCredentials, config.EnvAccessKeySecret, config.EnvAccessKeyID)
		}
		return Credentials{}, fmt.Errorf("%w: the platform put none into the context and %s / %s (optionally %s) are not set",
			ErrNoCredentials, config.EnvAccessKeyID, config.EnvAccessKeySecret, config.EnvSecurityToken)
	}
}

// StaticSource returns a CredentialSource that always answers c (tests, tools).
func StaticSource(c Credentials) CredentialSource {
	return func(context.Context) (Credentials, error) {
		if !c.Valid() {
			return Credentials{}, fmt.Errorf("%w: static credentials need both an AccessKeyID and an AccessKeySecret", ErrNoCredentials)
		}
		return c, nil
	}
}

func formatRedacted(f fmt.State, verb rune, s, gos string) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(gos))
		return
	}
	_, _ = f.Write([]byte(s))
}
