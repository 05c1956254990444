package mnsqueue

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/aliyun/credentials-go/credentials"

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

// keys is one consistent set of credentials.
type keys struct {
	id, secret, token string
}

// stashed is what the SDK signs with, and when its token was first seen.
type stashed struct {
	keys
	seq uint64
}

// sdkCredential is the credentials-go Credential the MNS SDK asks on every request. The SDK
// has no context, so each operation fetches its credentials (with the caller's ctx) just
// before calling the SDK and stashes them here; the SDK then reads the stash. The stash is
// one atomic pointer, so a request always signs with the three parts of one token.
//
// With several operations in flight on one Queue, a request may sign with a token another
// operation stashed: the stash only moves forward (to a token first seen later), so that token
// is never older than the operation's own. Otherwise an operation holding a token from just
// before a refresh could put it back, make a concurrent request fail with it, and get the
// fresh token reported as expired.
type sdkCredential struct {
	mu     sync.Mutex // serialises set; reads are lock-free
	cur    atomic.Pointer[stashed]
	seq    uint64
	recent [8]stashed // tokens seen lately, with the order they were first seen in
}

var _ credentials.Credential = (*sdkCredential)(nil)

var errNoStash = errors.New("mnsqueue: no credentials stashed before the SDK call")

func (c *sdkCredential) set(k keys) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.cur.Load()
	if cur != nil && cur.keys == k {
		return
	}
	var seq uint64
	for _, r := range c.recent {
		if r.seq != 0 && r.keys == k {
			seq = r.seq
			break
		}
	}
	if seq == 0 {
		c.seq++
		seq = c.seq
		c.recent[seq%uint64(len(c.recent))] = stashed{keys: k, seq: seq}
	}
	if cur != nil && seq < cur.seq {
		return // an older token than the one in use: keep the newer
	}
	c.cur.Store(&stashed{keys: k, seq: seq})
}

func (c *sdkCredential) load() (*keys, error) {
	k := c.cur.Load()
	if k == nil {
		return nil, errNoStash
	}
	return &k.keys, nil
}

func (c *sdkCredential) GetCredential() (*credentials.CredentialModel, error) {
	k, err := c.load()
	if err != nil {
		return nil, err
	}
	id, secret, token, typ := k.id, k.secret, k.token, c.typ(k)
	return &credentials.CredentialModel{AccessKeyId: &id, AccessKeySecret: &secret, SecurityToken: &token, Type: &typ}, nil
}

func (c *sdkCredential) typ(k *keys) string {
	if k.token != "" {
		return "sts"
	}
	return "access_key"
}

// GetAccessKeyId is part of the credentials-go interface (deprecated there).
func (c *sdkCredential) GetAccessKeyId() (*string, error) {
	k, err := c.load()
	if err != nil {
		return nil, err
	}
	return &k.id, nil
}

// GetAccessKeySecret is part of the credentials-go interface (deprecated there).
func (c *sdkCredential) GetAccessKeySecret() (*string, error) {
	k, err := c.load()
	if err != nil {
		return nil, err
	}
	return &k.secret, nil
}

// GetSecurityToken is part of the credentials-go interface (deprecated there).
func (c *sdkCredential) GetSecurityToken() (*string, error) {
	k, err := c.load()
	if err != nil {
		return nil, err
	}
	return &k.token, nil
}

// GetBearerToken is part of the credentials-go interface; MNS does not use bearer tokens.
func (c *sdkCredential) GetBearerToken() *string { s := ""; return &s }

// GetType is part of the credentials-go interface.
func (c *sdkCredential) GetType() *string {
	t := "access_key"
	if k := c.cur.Load(); k != nil {
		t = c.typ(&k.keys)
	}
	return &t
}
