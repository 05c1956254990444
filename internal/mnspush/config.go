package mnspush

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/push/delivery"
)

// Config configures an Endpoint (and its Verifier). The zero value is usable: every zero field
// takes the default its comment names.
type Config struct {
	// CertURLAllow lists where signing certificates may be fetched from; default
	// DefaultCertURLAllow only.
	CertURLAllow []CertURLRule
	// DateWindow is how far the Date header may be from now, either way; default 15 minutes
	// (the skew MNS itself allows on requests).
	DateWindow time.Duration
	// CertFetchTimeout bounds one certificate download; default 5 seconds.
	CertFetchTimeout time.Duration
	// CertCacheTTL is how long a fetched certificate is trusted before it is fetched again;
	// default 1 hour.
	CertCacheTTL time.Duration
	// HTTPClient fetches certificates (its transport and TLS roots are used); default a plain
	// client. Redirects are never followed and the timeout is CertFetchTimeout, whatever the
	// client says.
	HTTPClient *http.Client
	// MinRSAKeyBits is the smallest signing key accepted; default 512, the size of the key
	// MNS signs with.
	MinRSAKeyBits int
	// Format pins the notification format of the subscription; default FormatAuto.
	Format Format
	// SuccessStatus answers a handled push: 200, 201 (the default, as in the MNS samples) or 204.
	SuccessStatus int
	// DefaultMessageType types pushed messages whose tag names no type of the alicom
	// registry; empty leaves them untyped (the generic handler).
	DefaultMessageType string
	// MaxBodyBytes bounds a push body; default DefaultMaxBodyBytes. A larger Content-Length
	// is refused before the body is read.
	MaxBodyBytes int64
	// HandlerTimeout bounds the dispatch of one push; default DefaultHandlerTimeout, within
	// the 5 seconds MNS waits for an answer. A handler still running then is answered 500
	// and MNS retries.
	HandlerTimeout time.Duration
	// Deliveries counts deliveries per message id (the DequeueCount the Router sees); default
	// a counter of its own. The push function shares one between its receivers.
	Deliveries *delivery.Counter
	// Logger receives refusals and failures; default slog.Default().
	Logger *slog.Logger
	// AccessLog, when set, receives one line per request in the topic push guide's endpoint's access-log
	// format; when nil the same fields go to Logger at Info level.
	AccessLog io.Writer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Defaults of the zero Config fields that have one.
const (
	// BackoffRetryDeliveries is how often MNS delivers a topic push under BACKOFF_RETRY, the
	// default strategy of a subscription: once and 3 retries, 10-20 s apart.
	BackoffRetryDeliveries = 4
	// DefaultMaxBodyBytes bounds a push body: an MNS message is at most 64 KiB, which JSON
	// escaping can grow six-fold (\u0000), plus the notification envelope.
	DefaultMaxBodyBytes = 512 << 10
	// DefaultHandlerTimeout leaves a second of the 5 seconds MNS waits for an answer.
	DefaultHandlerTimeout = 4 * time.Second
)

func (c Config) withDefaults() Config {
	if c.CertURLAllow == nil {
		r, _ := ParseCertURLRule(DefaultCertURLAllow)
		c.CertURLAllow = []CertURLRule{r}
	}
	if c.DateWindow == 0 {
		c.DateWindow = 15 * time.Minute
	}
	if c.CertFetchTimeout == 0 {
		c.CertFetchTimeout = 5 * time.Second
	}
	if c.CertCacheTTL == 0 {
		c.CertCacheTTL = time.Hour
	}
	if c.MinRSAKeyBits == 0 {
		c.MinRSAKeyBits = 512
	}
	if c.SuccessStatus == 0 {
		c.SuccessStatus = http.StatusCreated
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.HandlerTimeout == 0 {
		c.HandlerTimeout = DefaultHandlerTimeout
	}
	c.Deliveries, c.Logger, c.Now = delivery.Defaults(c.Deliveries, c.Logger, c.Now)
	return c
}

// Validate reports the first field that holds an unusable value. Zero values are fine: they
// stand for the defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if len(c.CertURLAllow) == 0 {
		errs = append(errs, errors.New("mnspush.Config.CertURLAllow: want at least one rule"))
	}
	for i, r := range c.CertURLAllow {
		if _, err := ParseCertURLRule(r.String()); err != nil || r.Host != strings.ToLower(r.Host) {
			errs = append(errs, fmt.Errorf("mnspush.Config.CertURLAllow[%d]: %s is not a valid scheme://host[:port]/path-prefix rule with a lower-case host", i, quote(r.String())))
		}
	}
	if c.DateWindow < 0 {
		errs = append(errs, fmt.Errorf("mnspush.Config.DateWindow: want a positive duration, got %s", c.DateWindow))
	}
	if c.CertFetchTimeout < 0 {
		errs = append(errs, fmt.Errorf("mnspush.Config.CertFetchTimeout: want a positive duration, got %s", c.CertFetchTimeout))
	}
	if c.CertCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("mnspush.Config.CertCacheTTL: want a positive duration, got %s", c.CertCacheTTL))
	}
	if c.MinRSAKeyBits < 512 {
		errs = append(errs, fmt.Errorf("mnspush.Config.MinRSAKeyBits: want at least 512, got %d", c.MinRSAKeyBits))
	}
	switch c.Format {
	case FormatAuto, FormatXML, FormatJSON, FormatSimplified:
	default:
		errs = append(errs, fmt.Errorf("mnspush.Config.Format: want XML, JSON, SIMPLIFIED or empty (auto), got %s", quote(string(c.Format))))
	}
	switch c.SuccessStatus {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
	default:
		errs = append(errs, fmt.Errorf("mnspush.Config.SuccessStatus: want 200, 201 or 204, got %d", c.SuccessStatus))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("mnspush.Config.MaxBodyBytes: want a positive size, got %d", c.MaxBodyBytes))
	}
	if c.HandlerTimeout < 0 {
		errs = append(errs, fmt.Errorf("mnspush.Config.HandlerTimeout: want a positive duration, got %s", c.HandlerTimeout))
	}
	return errors.Join(errs...)
}
