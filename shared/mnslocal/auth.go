package mnslocal

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// stsKeyPrefix starts every AccessKeyId the emulator issues, as real STS key ids do.
const stsKeyPrefix = "STS."

// maxSkew is how far a request's Date (MNS) or Timestamp (RPC) may be from the clock.
const maxSkew = 15 * time.Minute

// stsCred is a temporary credential issued by QueryTokenForMnsQueue. It may only consume
// (receive, peek, delete, change visibility) the Alicom queue of its message type.
type stsCred struct {
	keyID, secret, token string
	messageType, queue   string
	expires              time.Time
	revoked              bool // set by ExpireTokens; guarded by credStore.mu
}

// credStore holds the customer key pair and every STS credential issued so far.
type credStore struct {
	customerID, customerSecret string

	mu    sync.RWMutex
	byKey map[string]*stsCred
}

func newCredStore(id, secret string) *credStore {
	return &credStore{customerID: id, customerSecret: secret, byKey: make(map[string]*stsCred)}
}

func (c *credStore) add(cred *stsCred, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Forget credentials expired for an hour so a long-running emulator stays small;
	// requests with them then get InvalidAccessKeyId, as on the real service.
	if len(c.byKey) > 1024 {
		for k, v := range c.byKey {
			if now.Sub(v.expires) > time.Hour {
				delete(c.byKey, k)
			}
		}
	}
	c.byKey[cred.keyID] = cred
}

func (c *credStore) lookup(keyID string) (cred stsCred, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p := c.byKey[keyID]
	if p == nil {
		return stsCred{}, false
	}
	return *p, true
}

func (c *credStore) expireAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.byKey {
		v.revoked = true
	}
}

// principal is who signed an MNS request: the customer (sts == nil) or an issued STS
// credential.
type principal struct {
	sts *stsCred
}

// authenticateMNS checks the Authorization header, the Date, the key, the STS token and
// the signature of an MNS request, in that order.
func (s *Server) authenticateMNS(r *http.Request) (principal, *apiError) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return principal{}, errf(400, "MissingAuthorizationHeader", "The Authorization header is missing.")
	}
	rest, ok := strings.CutPrefix(authz, "MNS ")
	sep := strings.LastIndexByte(rest, ':')
	if !ok || sep <= 0 || sep == len(rest)-1 {
		return principal{}, errf(400, "InvalidAuthorizationHeader", "The Authorization header you provided is invalid: want \"MNS <AccessKeyId>:<Signature>\".")
	}
	keyID, signature := strings.TrimSpace(rest[:sep]), strings.TrimSpace(rest[sep+1:])

	date := r.Header.Get("x-mns-date")
	if date == "" {
		date = r.Header.Get("Date")
	}
	if date == "" {
		return principal{}, errf(400, "MissingDateHeader", "The Date header is missing.")
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return principal{}, errf(400, "InvalidDateHeader", "The Date header you provided is not a valid RFC 1123 GMT date.")
	}
	if skew := s.now().Sub(t); skew > maxSkew || skew < -maxSkew {
		return principal{}, errf(408, "TimeExpired", "The http request you sent is expired.")
	}

	var p principal
	secret := ""
	switch {
	case keyID == s.creds.customerID:
		secret = s.creds.customerSecret
	case strings.HasPrefix(keyID, stsKeyPrefix):
		cred, ok := s.creds.lookup(keyID)
		if !ok {
			return principal{}, errf(403, "InvalidAccessKeyId", "The access Id you provided is not exist.")
		}
		token := r.Header.Get("security-token")
		if token == "" {
			token = r.Header.Get("x-mns-security-token")
		}
		if !hmac.Equal([]byte(token), []byte(cred.token)) {
			return principal{}, errf(403, "InvalidSecurityToken", "The security token you provided is invalid.")
		}
		if cred.revoked || !s.now().Before(cred.expires) {
			return principal{}, errf(403, "SecurityTokenExpired", "The security token you provided has expired.")
		}
		secret = cred.secret
		p.sts = &cred
	default:
		return principal{}, errf(403, "InvalidAccessKeyId", "The access Id you provided is not exist.")
	}

	want := mnsSignature(secret, mnsStringToSign(r, date))
	if !hmac.Equal([]byte(signature), []byte(want)) {
		return principal{}, errf(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	}
	return p, nil
}

// authorize applies the scope of STS credentials: they may consume their own Alicom
// queue and nothing else. queueName is "" for requests that name no queue.
func (p principal) authorize(op, queueName string) *apiError {
	if p.sts == nil {
		return nil
	}
	switch op {
	case "ReceiveMessage", "BatchReceiveMessage", "PeekMessage", "BatchPeekMessage",
		"DeleteMessage", "BatchDeleteMessage", "ChangeMessageVisibility":
		if queueName == p.sts.queue {
			return nil
		}
	}
	return errAccessDenied
}

// mnsStringToSign rebuilds the string the client signed. The resource is the request
// target exactly as received: clients disagree on escaping and each signs what it sent.
func mnsStringToSign(r *http.Request, date string) string {
	var b strings.Builder
	b.Grow(256)
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(r.Header.Get("Content-MD5"))
	b.WriteByte('\n')
	b.WriteString(r.Header.Get("Content-Type"))
	b.WriteByte('\n')
	b.WriteString(date)
	b.WriteByte('\n')
	var names []string
	for k := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-mns-") {
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool { return strings.ToLower(names[i]) < strings.ToLower(names[j]) })
	for _, k := range names {
		b.WriteString(strings.ToLower(k))
		b.WriteByte(':')
		b.WriteString(strings.TrimSpace(strings.Join(r.Header[k], ",")))
		b.WriteByte('\n')
	}
	b.WriteString(requestTarget(r))
	return b.String()
}

// requestTarget is the raw path and query of r, also when a client sent the absolute form.
func requestTarget(r *http.Request) string {
	t := r.RequestURI
	if i := strings.Index(t, "://"); i >= 0 && !strings.HasPrefix(t, "/") {
		rest := t[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			return rest[j:]
		}
		return "/"
	}
	return t
}

// mnsSignature is base64(HMAC-SHA1(secret, stringToSign)).
func mnsSignature(secret, stringToSign string) string {
	h := hmac.New(sha1.New, []byte(secret))
	h.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}
