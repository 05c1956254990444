package mnspush

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Reasons a push is refused. Verify wraps one of them with details that are safe to log
// (attacker-controlled bytes quoted and truncated).
var (
	// ErrHeader: a header the verification needs is missing, repeated or malformed.
	ErrHeader = errors.New("mnspush: required header missing or malformed")
	// ErrStaleDate: the Date header is outside the accepted window (a replay, or a wrong clock).
	ErrStaleDate = errors.New("mnspush: Date outside the accepted window")
	// ErrBodyDigest: the body does not match the signed Content-MD5, so it was altered.
	ErrBodyDigest = errors.New("mnspush: body does not match Content-MD5")
	// ErrCertURLNotAllowed: the signing certificate URL is not on the allow-list; it was not fetched.
	ErrCertURLNotAllowed = errors.New("mnspush: certificate URL not allowed")
	// ErrCertRejected: the certificate URL answered with something that is not a usable
	// certificate (a redirect, an error status, not X.509, not RSA, a key too small).
	ErrCertRejected = errors.New("mnspush: signing certificate refused")
	// ErrCertUnavailable: the certificate could not be fetched right now (network, timeout,
	// server error). Not a proof of forgery: the push is answered 503 so that MNS retries.
	ErrCertUnavailable = errors.New("mnspush: signing certificate unavailable")
	// ErrBadSignature: the signature does not verify with the certificate's key.
	ErrBadSignature = errors.New("mnspush: signature does not verify")
)

// Request is an HTTP request as the endpoint received it, independent of the platform that
// carried it.
type Request struct {
	// Method is the HTTP method, e.g. POST.
	Method string
	// Target is the request target exactly as received: the raw (still escaped) path, plus
	// "?" and the raw query when there is one. MNS signs it as sent.
	Target string
	// Header holds the request headers; names may be in any case.
	Header http.Header
	// Body is the request body, already read.
	Body []byte
	// Proto is the protocol version, e.g. HTTP/1.1 (for the access log only).
	Proto string
	// RemoteAddr is the peer address (for logs only).
	RemoteAddr string
}

// headers is a header set keyed by lower-cased name, so lookups do not depend on how the
// platform spelled the names (Content-MD5, Content-md5, content-md5 ...).
type headers map[string][]string

func lowerHeaders(h http.Header) headers {
	out := make(headers, len(h))
	// Sorting the names makes the order of values deterministic when a platform handed us
	// the same header under two spellings.
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		lk := strings.ToLower(k)
		for _, v := range h[k] {
			out[lk] = append(out[lk], strings.TrimSpace(v))
		}
	}
	return out
}

// get returns the header's only value; ok is false when it is absent, and err is set when it
// appears more than once (a signed value must be unambiguous).
func (h headers) get(name string) (string, bool, error) {
	vs := h[name]
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
		return vs[0], true, nil
	default:
		return "", true, fmt.Errorf("%w: %s appears %d times", ErrHeader, name, len(vs))
	}
}

// first returns the first value of a header, or "" (for logs and optional fields).
func (h headers) first(name string) string {
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// StringToSign builds the string MNS signs for a push: method, Content-MD5, Content-Type and
// Date lines, then every x-mns-* header received (name lower-cased, sorted, "name:value\n"),
// then the request target as received.
func StringToSign(r *Request) string {
	return stringToSign(r.Method, r.Target, lowerHeaders(r.Header))
}

func stringToSign(method, target string, h headers) string {
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(strings.Join(h["content-md5"], ","))
	b.WriteByte('\n')
	b.WriteString(strings.Join(h["content-type"], ","))
	b.WriteByte('\n')
	b.WriteString(strings.Join(h["date"], ","))
	b.WriteByte('\n')
	var names []string
	for k := range h {
		if strings.HasPrefix(k, "x-mns-") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(strings.Join(h[k], ","))
		b.WriteByte('\n')
	}
	b.WriteString(target)
	return b.String()
}

// Verifier checks that a request was signed by MNS.
type Verifier struct {
	rules      []CertURLRule
	window     time.Duration
	minKeyBits int
	now        func() time.Time
	certs      *certCache
}

func newVerifier(c Config) *Verifier {
	return &Verifier{
		rules:      c.CertURLAllow,
		window:     c.DateWindow,
		minKeyBits: c.MinRSAKeyBits,
		now:        c.Now,
		certs:      newCertCache(c),
	}
}

// Verify returns nil when r carries a valid MNS signature, or an error wrapping one of the
// Err* reasons. The checks run cheapest first, and the certificate is fetched only when the
// request has passed every other check and names an allowed URL.
func (v *Verifier) Verify(ctx context.Context, r *Request) error {
	return v.verify(ctx, r.Method, r.Target, lowerHeaders(r.Header), r.Body)
}

func (v *Verifier) verify(ctx context.Context, method, target string, h headers, body []byte) error {
	if err := v.checkHeaders(h); err != nil {
		return err
	}
	auth, _, _ := h.get("authorization")
	certHeader, _, _ := h.get("x-mns-signing-cert-url")

	// The signature covers Content-MD5, not the body: without this check anyone holding one
	// signed push could replay its headers with a body of their own.
	md5Header, present, _ := h.get("content-md5")
	if !present {
		if len(body) > 0 {
			return fmt.Errorf("%w: Content-MD5 missing, so the body is not covered by the signature", ErrHeader)
		}
	} else if !bodyMatchesMD5(body, md5Header) {
		return fmt.Errorf("%w: Content-MD5 %s", ErrBodyDigest, quote(md5Header))
	}

	rawURL, err := decodeBase64(certHeader)
	if err != nil {
		return fmt.Errorf("%w: x-mns-signing-cert-url %s is not base64", ErrHeader, quote(certHeader))
	}
	certURL, err := checkCertURL(string(rawURL), v.rules)
	if err != nil {
		return err
	}

	sig, err := decodeBase64(auth)
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("%w: Authorization %s is not base64", ErrBadSignature, quote(auth))
	}

	key, err := v.certs.key(ctx, certURL)
	if err != nil {
		return err
	}
	digest := sha1.Sum([]byte(stringToSign(method, target, h)))
	if err := verifyPKCS1v15SHA1(key, digest[:], sig, v.minKeyBits); err != nil {
		return fmt.Errorf("%w (certificate %s)", err, quote(certURL))
	}
	return nil
}

// checkHeaders makes the checks that need no body: the signature headers are there once
// each, and Date is within the window.
func (v *Verifier) checkHeaders(h headers) error {
	for _, name := range []string{"authorization", "x-mns-signing-cert-url"} {
		if _, err := required(h, name); err != nil {
			return err
		}
	}
	date, err := required(h, "date")
	if err != nil {
		return err
	}
	for _, name := range []string{"content-type", "content-md5"} {
		if _, _, err := h.get(name); err != nil {
			return err
		}
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return fmt.Errorf("%w: Date %s does not parse", ErrHeader, quote(date))
	}
	if age := v.now().Sub(t); age > v.window || age < -v.window {
		return fmt.Errorf("%w: Date %s is %s away from now, window %s", ErrStaleDate, quote(date), age.Round(time.Second), v.window)
	}
	return nil
}

func required(h headers, name string) (string, error) {
	v, ok, err := h.get(name)
	if err != nil {
		return "", err
	}
	if !ok || v == "" {
		return "", fmt.Errorf("%w: %s missing", ErrHeader, name)
	}
	return v, nil
}

// bodyMatchesMD5 accepts the spellings of Content-MD5 seen in MNS traffic and its SDKs: the
// hex MD5 (MNS pushes send it upper-case), base64 of the hex MD5, and base64 of the raw digest.
func bodyMatchesMD5(body []byte, header string) bool {
	sum := md5.Sum(body)
	hexSum := hex.EncodeToString(sum[:])
	if len(header) == 32 {
		return subtle.ConstantTimeCompare([]byte(strings.ToLower(header)), []byte(hexSum)) == 1
	}
	dec, err := decodeBase64(header)
	if err != nil {
		return false
	}
	switch len(dec) {
	case 32:
		return subtle.ConstantTimeCompare([]byte(strings.ToLower(string(dec))), []byte(hexSum)) == 1
	case 16:
		return subtle.ConstantTimeCompare(dec, sum[:]) == 1
	}
	return false
}

func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// maxQuoted bounds how much of an attacker-controlled value reaches a log line.
const maxQuoted = 96

// quote renders an untrusted value for logs and errors: truncated, then Go-quoted so that
// control characters and invalid UTF-8 are escaped.
func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "…"
	}
	return strconv.Quote(s)
}
