// Package redact is how every package shows a credential without giving it away: a key id
// keeps a short prefix so operators can tell keys apart, a secret or a token shows only
// whether it is set, a URL loses its query and user info, and text a server or an SDK produced loses the secrets it quotes.
package redact

import (
	"net/url"
	"strings"
)

// Redacted stands for a value that is not shown.
const Redacted = "(redacted)"

// ID shows a key id's first four characters ("LTAI", "STS.") and hides the rest; an id of
// eight characters or fewer is hidden whole, and an empty one shows as "".
func ID(id string) string {
	switch {
	case id == "":
		return `""`
	case len(id) <= 8:
		return Redacted
	default:
		return id[:4] + "…" + Redacted
	}
}

// Secret hides a secret or a token; an empty one shows as "", so a missing value is visible.
func Secret(s string) string {
	if s == "" {
		return `""`
	}
	return Redacted
}

// URL shows a URL without its query and user info, which may carry credentials (a token
// parameter, user:password@): each is dropped, a query shown as "?…". A value that does not
// parse is cut at its first '?' or '@'.
func URL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		if i := strings.IndexAny(v, "?@"); i >= 0 {
			return v[:i] + "…"
		}
		return v
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}

// From removes each secret from text a server or an SDK produced (an error message that quotes
// the request), in every encoding a request carries it in: as is, query-escaped (once or
// twice, as signatures do) and path-escaped. Secrets shorter than 4 characters are left
// alone: replacing them would mangle the text and hide nothing.
func From(text string, secrets ...string) string {
	for _, secret := range secrets {
		if len(secret) < 4 {
			continue
		}
		for _, form := range []string{secret, url.QueryEscape(secret), url.QueryEscape(url.QueryEscape(secret)), url.PathEscape(secret)} {
			text = strings.ReplaceAll(text, form, Redacted)
		}
	}
	return text
}
