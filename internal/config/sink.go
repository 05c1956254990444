package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/redact"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// Sink names: where a handled message or a dead letter goes.
const (
	SinkLog     = "log"
	SinkWebhook = "webhook"
	SinkMNS     = "mns"
)

// Sink defaults.
const (
	DefaultWebhookBatchSize = 1
	DefaultWebhookTimeout   = 5 * time.Second
	// MaxWebhookBatchSize is the most events one webhook request carries, and the most messages
	// one MNS BatchSendMessage carries.
	MaxWebhookBatchSize = 16
)

// sinkVars lists the variables loadSink reads, in the order the README shows them; Vars
// includes them.
var sinkVars = []Var{
	{"ALICOM_SINK", SinkLog, "Where handled messages go: `log`, `webhook` or `mns` for every type, or `Type=sink` pairs with `*` for the rest, e.g. `SmsReport=webhook,SmsUp=mns,*=log`. Go handlers registered in code take precedence for their types."},
	{"ALICOM_DEADLETTER", SinkLog, "Where dead letters are recorded before their delete: `log`, `webhook` (a dead-letter event to `WEBHOOK_URL`) or `mns` (`DEADLETTER_MNS_QUEUE`). A failed record keeps the message."},
	{"ALICOM_OUTAGE_HORIZON", "48h", "A message whose destination is down (5xx, timeout, refused connection) is kept, whatever its delivery count, until it is this old; then it is dead-lettered. Keep it well below the queue's retention (4 days for Alicom queues)."},
	{"WEBHOOK_URL", "", "The receiver of the webhook sink: https, or plain http for loopback hosts only."},
	{"WEBHOOK_SECRET", "", "The Standard Webhooks signing secret, `whsec_<base64 key>` (a secret: never logged)."},
	{"WEBHOOK_BATCH_SIZE", "1", "Events per webhook request, 1 to 16; above 1 the body is `{\"messages\":[...]}`."},
	{"WEBHOOK_TIMEOUT", "5s", "Time limit of one webhook request (also bounded by the handler's deadline)."},
	{"FORWARD_MNS_ENDPOINT", "", "Your own MNS endpoint URL for the `mns` sink and dead-letter queue; requests sign with the same keys as the token fetch (the role on Function Compute, the Secrets Manager secret on Lambda, else `ALIBABA_CLOUD_*`)."},
	{"FORWARD_MNS_QUEUE", "", "Target queue of the `mns` sink; `{type}` is replaced by the message type. The body is forwarded unchanged, batched up to 16."},
	{"FORWARD_MNS_TOPIC", "", "Or a target topic of the `mns` sink (instead of a queue); the message tag is the type, cut to MNS's 16-character limit on tags (`DypnsSmsVerifyRe`)."},
	{"DEADLETTER_MNS_QUEUE", "", "The queue for `ALICOM_DEADLETTER=mns`, on `FORWARD_MNS_ENDPOINT`: each dead letter as a JSON dead-letter event."},
}

// Secret is a configuration value that must never be printed: every textual form, fmt verbs,
// slog and JSON alike, shows "(redacted)". Reveal returns the value.
type Secret string

// Reveal returns the secret's value, for the code that uses it.
func (s Secret) Reveal() string { return string(s) }

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "(redacted)"
}

// GoString hides the value.
func (s Secret) GoString() string { return s.String() }

// Format makes every fmt verb print the redacted form.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue makes slog print the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON writes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// SinkConfig is the validated configuration of the built-in sinks.
type SinkConfig struct {
	// ByType maps a message type to its sink; Default is the sink of every other type.
	ByType  map[string]string
	Default string
	// DeadLetter is the dead-letter sink.
	DeadLetter string
	// OutageHorizon is the age past which a message whose destination is down is dead-lettered
	// (dispatch.Options.OutageHorizon).
	OutageHorizon time.Duration

	WebhookURL       string
	WebhookSecret    Secret
	WebhookBatchSize int
	WebhookTimeout   time.Duration

	ForwardEndpoint string
	ForwardQueue    string
	ForwardTopic    string
	DeadLetterQueue string
}

// SinkFor returns the sink of messageType.
func (c SinkConfig) SinkFor(messageType string) string {
	if s, ok := c.ByType[messageType]; ok {
		return s
	}
	if c.Default == "" {
		return SinkLog
	}
	return c.Default
}

// Uses reports whether any message type, or the dead-letter path, goes to sink.
func (c SinkConfig) Uses(sink string) bool {
	return c.DeadLetter == sink || c.handles(sink)
}

// handles reports whether any message type goes to sink.
func (c SinkConfig) handles(sink string) bool {
	if c.SinkFor("") == sink {
		return true
	}
	for _, s := range c.ByType {
		if s == sink {
			return true
		}
	}
	return false
}

// LoadSink reads and validates only the sink variables, through getenv; Load does the same as
// part of the whole configuration.
func LoadSink(getenv func(string) string) (SinkConfig, error) {
	l := loader{getenv: getenv}
	c := l.loadSink()
	return c, errors.Join(l.errs...)
}

// mnsName: MNS queue and topic names are letters, digits and '-', starting with a letter, at
// most 256 characters. A forward queue may hold {type} placeholders.
var mnsName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,255}$`)

func (l *loader) loadSink() SinkConfig {
	c := SinkConfig{
		ByType:           map[string]string{},
		Default:          SinkLog,
		DeadLetter:       l.sinkName("ALICOM_DEADLETTER", l.get("ALICOM_DEADLETTER")),
		OutageHorizon:    l.duration("ALICOM_OUTAGE_HORIZON", dispatch.DefaultOutageHorizon, time.Minute, 7*24*time.Hour),
		WebhookURL:       l.webhookURL("WEBHOOK_URL"),
		WebhookSecret:    l.webhookSecret("WEBHOOK_SECRET"),
		WebhookBatchSize: l.intIn("WEBHOOK_BATCH_SIZE", DefaultWebhookBatchSize, 1, MaxWebhookBatchSize),
		WebhookTimeout:   l.duration("WEBHOOK_TIMEOUT", DefaultWebhookTimeout, 100*time.Millisecond, 5*time.Minute),
		ForwardQueue:     l.mnsTarget("FORWARD_MNS_QUEUE", true),
		ForwardTopic:     l.mnsTarget("FORWARD_MNS_TOPIC", false),
		DeadLetterQueue:  l.mnsTarget("DEADLETTER_MNS_QUEUE", false),
	}
	if v := l.get("FORWARD_MNS_ENDPOINT"); v != "" {
		c.ForwardEndpoint = l.endpoint("FORWARD_MNS_ENDPOINT", "https://<account id>.mns.<region>.aliyuncs.com")
	}
	l.sinkMap(&c)

	// Each sink in use needs its settings.
	if c.Uses(SinkWebhook) {
		if c.WebhookURL == "" {
			l.fail("WEBHOOK_URL", "not set, but ALICOM_SINK or ALICOM_DEADLETTER uses webhook: expected the receiver's https URL")
		}
		if c.WebhookSecret == "" {
			l.fail("WEBHOOK_SECRET", "not set, but ALICOM_SINK or ALICOM_DEADLETTER uses webhook: expected a Standard Webhooks secret whsec_<base64 key>")
		}
	}
	forwards := c.handles(SinkMNS)
	if c.Uses(SinkMNS) && c.ForwardEndpoint == "" {
		l.fail("FORWARD_MNS_ENDPOINT", "not set, but ALICOM_SINK or ALICOM_DEADLETTER uses mns: expected your MNS endpoint URL, e.g. https://<account id>.mns.cn-hangzhou.aliyuncs.com")
	}
	if forwards {
		switch {
		case c.ForwardQueue == "" && c.ForwardTopic == "":
			l.fail("FORWARD_MNS_QUEUE", "not set (nor FORWARD_MNS_TOPIC), but ALICOM_SINK uses mns: expected a queue name (may contain {type}) or set FORWARD_MNS_TOPIC")
		case c.ForwardQueue != "" && c.ForwardTopic != "":
			l.fail("FORWARD_MNS_TOPIC", "set together with FORWARD_MNS_QUEUE: expected one target, a queue or a topic")
		}
	}
	if c.DeadLetter == SinkMNS && c.DeadLetterQueue == "" {
		l.fail("DEADLETTER_MNS_QUEUE", "not set, but ALICOM_DEADLETTER is mns: expected a queue name on FORWARD_MNS_ENDPOINT")
	}
	return c
}

func (l *loader) sinkName(name, v string) string {
	switch v {
	case "":
		return SinkLog
	case SinkLog, SinkWebhook, SinkMNS:
		return v
	}
	l.fail(name, "%q is not valid: expected log, webhook or mns", v)
	return SinkLog
}

// sinkMap reads ALICOM_SINK: one sink name, or Type=sink pairs with * for the rest.
func (l *loader) sinkMap(c *SinkConfig) {
	const name = "ALICOM_SINK"
	v := l.get(name)
	if v == "" {
		return
	}
	if !strings.Contains(v, "=") {
		c.Default = l.sinkName(name, v)
		return
	}
	star := false
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		t, s, ok := strings.Cut(pair, "=")
		t, s = strings.TrimSpace(t), strings.TrimSpace(s)
		if !ok || (t != "*" && !typeName.MatchString(t)) {
			l.fail(name, "%q is not valid: expected Type=sink pairs such as SmsReport=webhook,SmsUp=mns,*=log", pair)
			continue
		}
		if _, dup := c.ByType[t]; dup || (t == "*" && star) {
			l.fail(name, "%q is not valid: expected each type once", pair)
			continue
		}
		s = l.sinkName(name, s)
		if t == "*" {
			star = true
			c.Default = s
		} else {
			c.ByType[t] = s
		}
	}
}

// webhookURL accepts https URLs, and plain http only for loopback hosts: an http receiver
// elsewhere would expose every receipt on the network. The value is echoed in errors without
// its query, which may hold a receiver's token.
func (l *loader) webhookURL(name string) string {
	v := l.get(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.Opaque != "" {
		l.fail(name, "%q is not valid: expected an absolute URL such as https://receiver.example.com/alicom", redact.URL(v))
		return ""
	}
	shown := redact.URL(v)
	switch {
	case u.User != nil:
		l.fail(name, "%q is not valid: expected no user:password@ in the URL (the request is signed with WEBHOOK_SECRET)", shown)
	case u.Fragment != "":
		l.fail(name, "%q is not valid: expected no #fragment", shown)
	case u.Scheme == "https":
		return u.String()
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return u.String()
	case u.Scheme == "http":
		l.fail(name, "%q is not valid: expected https (plain http only for loopback hosts such as 127.0.0.1 or localhost)", shown)
	default:
		l.fail(name, "%q is not valid: expected an https URL", shown)
	}
	return ""
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// webhookSecret accepts whsec_ followed by standard base64 of at least 24 bytes (Standard
// Webhooks recommends 24 to 64). The value never appears in an error.
func (l *loader) webhookSecret(name string) Secret {
	v := l.get(name)
	if v == "" {
		return ""
	}
	b64, ok := strings.CutPrefix(v, "whsec_")
	if !ok {
		l.fail(name, "the value is not valid: expected whsec_ followed by a base64 key (the value is not shown)")
		return ""
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) < 24 || len(key) > 64 {
		l.fail(name, "the value is not valid: expected whsec_ followed by standard base64 of a 24 to 64 byte key (the value is not shown)")
		return ""
	}
	return Secret(v)
}

func (l *loader) mnsTarget(name string, placeholder bool) string {
	v := l.get(name)
	if v == "" {
		return ""
	}
	check := v
	if placeholder {
		check = strings.ReplaceAll(v, "{type}", "Type")
	}
	if !mnsName.MatchString(check) {
		extra := ""
		if placeholder {
			extra = "; {type} is replaced by the message type"
		}
		l.fail(name, "%q is not valid: expected an MNS name of letters, digits and '-', starting with a letter%s", v, extra)
		return ""
	}
	return v
}

// sortedTypes lists the types with their own sink, for stable messages.
func (c SinkConfig) sortedTypes() []string {
	out := make([]string, 0, len(c.ByType))
	for t := range c.ByType {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// String describes the configuration without its secret, for a start-up log line.
func (c SinkConfig) String() string {
	var b strings.Builder
	for _, t := range c.sortedTypes() {
		fmt.Fprintf(&b, "%s=%s,", t, c.ByType[t])
	}
	fmt.Fprintf(&b, "*=%s deadletter=%s", c.SinkFor(""), c.DeadLetter)
	if c.Uses(SinkWebhook) {
		fmt.Fprintf(&b, " webhook=%s batch=%d timeout=%s", redact.URL(c.WebhookURL), c.WebhookBatchSize, c.WebhookTimeout)
	}
	if c.ForwardEndpoint != "" {
		fmt.Fprintf(&b, " mns=%s queue=%q topic=%q deadletter_queue=%q", c.ForwardEndpoint, c.ForwardQueue, c.ForwardTopic, c.DeadLetterQueue)
	}
	return b.String()
}
