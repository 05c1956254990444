package mnspush

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
)

// DefaultCertURLAllow is the allow-list used when none is configured: the only place the MNS
// documentation names for its signing certificate.
const DefaultCertURLAllow = "https://mnstest.oss-cn-hangzhou.aliyuncs.com/"

// CertURLRule is one allow-list entry: a certificate URL is accepted when its scheme and host
// are exactly these, its port is Port (or the scheme's default when Port is empty), and its
// path starts with PathPrefix. A PathPrefix ending in "/" therefore names a directory.
type CertURLRule struct {
	Scheme     string
	Host       string
	Port       string
	PathPrefix string
}

// String renders the rule in the form ParseCertURLRule reads.
func (r CertURLRule) String() string {
	host := r.Host
	if r.Port != "" {
		host = net.JoinHostPort(r.Host, r.Port)
	}
	return r.Scheme + "://" + host + r.PathPrefix
}

// ParseCertURLRule reads one `scheme://host[:port]/path-prefix` entry.
func ParseCertURLRule(s string) (CertURLRule, error) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil {
		return CertURLRule{}, fmt.Errorf("certificate URL rule %s: %w", quote(s), err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return CertURLRule{}, fmt.Errorf("certificate URL rule %s: scheme must be https or http", quote(s))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return CertURLRule{}, fmt.Errorf("certificate URL rule %s: want scheme://host[:port]/path-prefix, without user info, query or fragment", quote(s))
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return CertURLRule{}, fmt.Errorf("certificate URL rule %s: host is empty", quote(s))
	}
	prefix := u.Path
	if prefix == "" {
		prefix = "/"
	}
	if !cleanPath(prefix) {
		return CertURLRule{}, fmt.Errorf("certificate URL rule %s: path prefix must be a clean absolute path", quote(s))
	}
	return CertURLRule{Scheme: u.Scheme, Host: host, Port: u.Port(), PathPrefix: prefix}, nil
}

// ParseCertURLAllow reads a comma-separated list of rules, the format of MNS_CERT_URL_ALLOW.
func ParseCertURLAllow(s string) ([]CertURLRule, error) {
	var rules []CertURLRule
	for part := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		r, err := ParseCertURLRule(part)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	if len(rules) == 0 {
		return nil, errors.New("certificate URL allow-list is empty")
	}
	return rules, nil
}

// allows reports whether u is accepted by the rule. u must come from url.Parse; the decision
// uses the parsed parts only, never a string prefix, so that `host.evil.example`,
// `host@evil.example` and similar spellings cannot pass.
func (r CertURLRule) allows(u *url.URL) bool {
	if u.Scheme != r.Scheme || u.User != nil || u.Opaque != "" {
		return false
	}
	if strings.ToLower(u.Hostname()) != r.Host {
		return false
	}
	if effectivePort(u.Scheme, u.Port()) != effectivePort(r.Scheme, r.Port) {
		return false
	}
	// An escaped path (RawPath set) or one with dot segments could mean different things to
	// us and to the server that answers; such URLs are refused outright.
	if u.RawPath != "" || !cleanPath(u.Path) {
		return false
	}
	return strings.HasPrefix(u.Path, r.PathPrefix)
}

func effectivePort(scheme, port string) string {
	if port != "" {
		return port
	}
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// cleanPath accepts an absolute path that path.Clean leaves unchanged (a trailing slash
// allowed), so no "..", "." or "//" segments.
func cleanPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// checkCertURL parses the decoded certificate URL and returns it in canonical form when an
// allow-list rule accepts it. The canonical URL (scheme, host, path; nothing else) is what is
// fetched and what keys the cache, so the request made is exactly the one that was checked.
func checkCertURL(raw string, rules []CertURLRule) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %s does not parse", ErrCertURLNotAllowed, quote(raw))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("%w: %s has a query or fragment", ErrCertURLNotAllowed, quote(raw))
	}
	for _, r := range rules {
		if r.allows(u) {
			return (&url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host), Path: u.Path}).String(), nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrCertURLNotAllowed, quote(raw))
}
