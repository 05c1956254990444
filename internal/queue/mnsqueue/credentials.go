package mnsqueue

import (
	"context"
	"errors"

	"github.com/alicom-drain/alicom-drain/internal/redact"
)

// CredentialProvider hands the Queue the credentials for its next request and hears back when
// the server rejected them. The token package's Cache.ForQueue implements it (with plain
// strings, so neither package imports the other); StaticKeys is the one for fixed keys.
type CredentialProvider interface {
	// Credentials returns the credentials to sign the next request with.
	Credentials(ctx context.Context) (accessKeyID, accessKeySecret, securityToken string, err error)
	// ReportRejected tells the provider the server rejected this token (queue.ErrTokenRejected:
	// expired, revoked, unknown). It reports whether the next Credentials call may return
	// other credentials, that is whether the rejected call is worth one more try.
	ReportRejected(accessKeyID, securityToken string) bool
}

// StaticKeys is a CredentialProvider of fixed keys: a queue in one's own account, tests, tools.
type StaticKeys struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Credentials returns the fixed keys.
func (s StaticKeys) Credentials(context.Context) (string, string, string, error) {
	if s.AccessKeyID == "" || s.AccessKeySecret == "" {
		return "", "", "", errors.New("mnsqueue: StaticKeys needs AccessKeyID and AccessKeySecret")
	}
	return s.AccessKeyID, s.AccessKeySecret, s.SecurityToken, nil
}

// ReportRejected says false: fixed keys cannot be replaced.
func (StaticKeys) ReportRejected(string, string) bool { return false }

// String hides the secret and the token.
func (s StaticKeys) String() string {
	return "mnsqueue.StaticKeys{AccessKeyID:" + redact.ID(s.AccessKeyID) + " AccessKeySecret:" + redact.Secret(s.AccessKeySecret) +
		" SecurityToken:" + redact.Secret(s.SecurityToken) + "}"
}

// GoString hides the secret and the token.
func (s StaticKeys) GoString() string { return s.String() }

// keys is one consistent set of credentials: a request signs with the keys its own call
// obtained, so the three parts always belong to one token.
type keys struct {
	id, secret, token string
}
