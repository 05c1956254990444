package mnspush

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvCertURLAllow       = "MNS_CERT_URL_ALLOW"
	EnvDateWindow         = "MNS_PUSH_DATE_WINDOW"
	EnvCertFetchTimeout   = "MNS_CERT_FETCH_TIMEOUT"
	EnvSuccessStatus      = "MNS_PUSH_SUCCESS_STATUS"
	EnvFormat             = "MNS_PUSH_FORMAT"
	EnvDefaultMessageType = "ALICOM_PUSH_MESSAGE_TYPE"
)

// DefaultKnownTypes are the Alicom message types a MessageTag may name to type a pushed
// message (see the reference on Alicom messages).
var DefaultKnownTypes = []string{
	"SmsReport", "SmsUp", "VoiceReport", "VoiceCallReport", "FlowReport",
	"DypnsSmsVerifyReport", "MnsCardTemplate", "SignSmsReport", "TemplateSmsReport",
	"VoiceRecordReport", "VoiceRTASRReport", "GlobeSmsReport",
}

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
	// DefaultMessageType types pushed messages whose tag names no known type; empty leaves
	// them untyped (the generic handler).
	DefaultMessageType string
	// KnownTypes are the message types a MessageTag may name; default DefaultKnownTypes.
	KnownTypes []string
	// MaxBodyBytes bounds a push body; default 1 MiB (a 64 KB message, XML-escaped).
	MaxBodyBytes int64
	// DedupSize is how many handled message ids the endpoint remembers to acknowledge
	// repeated pushes without running the handler again; default 4096, negative disables.
	DedupSize int
	// Logger receives refusals and failures; default slog.Default().
	Logger *slog.Logger
	// AccessLog, when set, receives one line per request in the topic push guide's endpoint's access-log
	// format; when nil the same fields go to Logger at Info level.
	AccessLog io.Writer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

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
	if c.KnownTypes == nil {
		c.KnownTypes = DefaultKnownTypes
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.DedupSize == 0 {
		c.DedupSize = 4096
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first field that holds an unusable value. Zero values are fine: they
// stand for the defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if len(c.CertURLAllow) == 0 {
		errs = append(errs, errors.New("notify.Config.CertURLAllow: want at least one rule"))
	}
	for i, r := range c.CertURLAllow {
		if _, err := ParseCertURLRule(r.String()); err != nil || r.Host != strings.ToLower(r.Host) {
			errs = append(errs, fmt.Errorf("notify.Config.CertURLAllow[%d]: %s is not a valid scheme://host[:port]/path-prefix rule with a lower-case host", i, quote(r.String())))
		}
	}
	if c.DateWindow < 0 {
		errs = append(errs, fmt.Errorf("notify.Config.DateWindow: want a positive duration, got %s", c.DateWindow))
	}
	if c.CertFetchTimeout < 0 {
		errs = append(errs, fmt.Errorf("notify.Config.CertFetchTimeout: want a positive duration, got %s", c.CertFetchTimeout))
	}
	if c.CertCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("notify.Config.CertCacheTTL: want a positive duration, got %s", c.CertCacheTTL))
	}
	if c.MinRSAKeyBits < 512 {
		errs = append(errs, fmt.Errorf("notify.Config.MinRSAKeyBits: want at least 512, got %d", c.MinRSAKeyBits))
	}
	switch c.Format {
	case FormatAuto, FormatXML, FormatJSON, FormatSimplified:
	default:
		errs = append(errs, fmt.Errorf("notify.Config.Format: want XML, JSON, SIMPLIFIED or empty (auto), got %s", quote(string(c.Format))))
	}
	switch c.SuccessStatus {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
	default:
		errs = append(errs, fmt.Errorf("notify.Config.SuccessStatus: want 200, 201 or 204, got %d", c.SuccessStatus))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("notify.Config.MaxBodyBytes: want a positive size, got %d", c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

// ConfigFromEnv reads the configuration from environment variables through getenv
// (os.Getenv in production):
//
//	MNS_CERT_URL_ALLOW        comma-separated scheme://host[:port]/path-prefix rules
//	MNS_PUSH_DATE_WINDOW      Go duration, e.g. 15m
//	MNS_CERT_FETCH_TIMEOUT    Go duration, e.g. 5s
//	MNS_PUSH_SUCCESS_STATUS   200, 201 or 204
//	MNS_PUSH_FORMAT           XML, JSON, SIMPLIFIED or auto
//	ALICOM_PUSH_MESSAGE_TYPE  message type for pushes whose tag names none
//
// Unset variables leave the defaults. The result is validated.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	var errs []error
	if v := strings.TrimSpace(getenv(EnvCertURLAllow)); v != "" {
		rules, err := ParseCertURLAllow(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvCertURLAllow, err))
		}
		c.CertURLAllow = rules
	}
	duration := func(name string, dst *time.Duration) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive Go duration such as 15m, got %s", name, quote(v)))
			return
		}
		*dst = d
	}
	duration(EnvDateWindow, &c.DateWindow)
	duration(EnvCertFetchTimeout, &c.CertFetchTimeout)
	if v := strings.TrimSpace(getenv(EnvSuccessStatus)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || (n != 200 && n != 201 && n != 204) {
			errs = append(errs, fmt.Errorf("%s: want 200, 201 or 204, got %s", EnvSuccessStatus, quote(v)))
		}
		c.SuccessStatus = n
	}
	if v := strings.TrimSpace(getenv(EnvFormat)); v != "" {
		f, err := ParseFormat(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvFormat, err))
		}
		c.Format = f
	}
	c.DefaultMessageType = strings.TrimSpace(getenv(EnvDefaultMessageType))
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}
