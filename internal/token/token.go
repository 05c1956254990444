package token

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/redact"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

// Token is the temporary STS credential Dybaseapi hands out for one message type's Alicom queue.
// Every textual form redacts the secret and the security token.
type Token struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
	CreateTime      time.Time
	ExpireTime      time.Time
}

// IsZero reports whether t holds no token.
func (t Token) IsZero() bool { return t.AccessKeyID == "" && t.SecurityToken == "" }

// ExpiredAt reports whether the token is expired at now.
func (t Token) ExpiredAt(now time.Time) bool { return !now.Before(t.ExpireTime) }

// same reports whether t and o are the same token (the secret is implied by the pair).
func (t Token) same(o Token) bool {
	return t.AccessKeyID == o.AccessKeyID && t.SecurityToken == o.SecurityToken
}

// String shows the key id's prefix and the times, and hides the secret and the token.
func (t Token) String() string {
	return fmt.Sprintf("Token{AccessKeyID:%s AccessKeySecret:%s SecurityToken:%s CreateTime:%s ExpireTime:%s}",
		redact.ID(t.AccessKeyID), redact.Secret(t.AccessKeySecret), redact.Secret(t.SecurityToken),
		formatTime(t.CreateTime), formatTime(t.ExpireTime))
}

// GoString is String, so %#v is as safe as %v.
func (t Token) GoString() string { return "token." + t.String() }

// Format makes every fmt verb print the redacted form.
func (t Token) Format(f fmt.State, verb rune) { formatRedacted(f, verb, t.String(), t.GoString()) }

// LogValue makes slog print the redacted form.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", redact.ID(t.AccessKeyID)),
		slog.String("access_key_secret", redact.Secret(t.AccessKeySecret)),
		slog.String("security_token", redact.Secret(t.SecurityToken)),
		slog.Time("create_time", t.CreateTime),
		slog.Time("expire_time", t.ExpireTime),
	)
}

// MarshalJSON writes the redacted form (see Credentials.MarshalJSON).
func (t Token) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"AccessKeyID":%q,"AccessKeySecret":%q,"SecurityToken":%q,"CreateTime":%q,"ExpireTime":%q}`,
		redact.ID(t.AccessKeyID), redact.Secret(t.AccessKeySecret), redact.Secret(t.SecurityToken),
		formatTime(t.CreateTime), formatTime(t.ExpireTime)), nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// ParseAlicomTime parses a Dybaseapi time ("2006-01-02 15:04:05", Beijing time, whatever the
// machine's zone). RFC 3339 values (with their own offset) are accepted too, in case the API
// ever answers in the ISO form other Alibaba Cloud APIs use.
func ParseAlicomTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.ParseInLocation(time.DateTime, s, alicom.Beijing); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q is neither yyyy-MM-dd HH:mm:ss (UTC+8) nor RFC 3339", s)
}
