package mnslocal

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by Start to zero-valued Config fields.
const (
	DefaultAddr              = "127.0.0.1:9911"
	DefaultAccessKeyID       = "mnslocal"
	DefaultAccessKeySecret   = "mnslocal-secret"
	DefaultAlicomUID         = "1234567890123456"
	DefaultTokenTTL          = 10 * time.Minute
	DefaultVisibilityTimeout = 30 * time.Second
	// DefaultStall is how long a "stall" fault holds a request when Fault.Stall is zero:
	// longer than the MNS Go SDK's default 35 s client timeout.
	DefaultStall = 40 * time.Second
)

// DefaultMessageTypes are the Alicom message types whose queues a zero Config creates.
var DefaultMessageTypes = []string{"SmsReport", "SmsUp", "VoiceReport", "VoiceCallReport", "DypnsSmsVerifyReport", "MnsCardTemplate"}

// Operations lists every operation name the emulator counts in Stats.Requests and
// accepts as a key of Config.Faults.
var Operations = []string{
	"SendMessage", "BatchSendMessage", "ReceiveMessage", "BatchReceiveMessage",
	"PeekMessage", "BatchPeekMessage", "DeleteMessage", "BatchDeleteMessage",
	"ChangeMessageVisibility", "GetQueueAttributes", "SetQueueAttributes",
	"CreateQueue", "DeleteQueue", "ListQueue", "QueryTokenForMnsQueue",
	"CreateTopic", "DeleteTopic", "GetTopicAttributes", "PublishMessage",
	"Subscribe", "Unsubscribe", "GetSubscriptionAttributes",
}

// Config configures an emulator. The zero value is usable: every zero field takes the
// default named in its comment.
type Config struct {
	// Addr is the listen address; "127.0.0.1:0" picks a free port. Default DefaultAddr.
	Addr string
	// AccessKeyID and AccessKeySecret are the customer key pair, allowed to do everything.
	// Defaults DefaultAccessKeyID / DefaultAccessKeySecret.
	AccessKeyID, AccessKeySecret string
	// AlicomUID is the account id in Alicom queue names Alicom-Queue-<uid>-<type>.
	// Default DefaultAlicomUID.
	AlicomUID string
	// MessageTypes are the Alicom message types whose queues exist from the start.
	// nil means DefaultMessageTypes; an empty non-nil slice means none.
	MessageTypes []string
	// Queues are plain queues created at start.
	Queues []string
	// TokenTTL is the lifetime of STS tokens issued by QueryTokenForMnsQueue. Default 10m.
	TokenTTL time.Duration
	// VisibilityTimeout of the queues created at start (whole seconds, 1s..12h). Default 30s.
	VisibilityTimeout time.Duration
	// PollingWaitSeconds of the queues created at start (0..30). Default 0.
	PollingWaitSeconds int
	// Latency is added to every request before it is answered, plus a uniformly random
	// extra in [0, Jitter).
	Latency, Jitter time.Duration
	// Faults injects failures by operation name (see Operations).
	Faults map[string]Fault
	// Seed makes fault decisions and jitter reproducible.
	Seed int64
	// Logger receives a summary at start and a debug line per request; nil discards.
	Logger *slog.Logger
	// Now is the clock for message times, visibility, retention, Date skew and token
	// expiry; nil means time.Now. Long-poll waits always use real time. Real SDKs sign
	// with the real time, so keep a test clock within 15 minutes of it.
	Now func() time.Time
	// PushRetryScale multiplies the waits between push retries (BACKOFF_RETRY: 10–20 s,
	// EXPONENTIAL_DECAY_RETRY: 1 s doubling to 512 s), so tests can watch retries happen in
	// milliseconds: 0.001 turns 10 s into 10 ms. 0 means 1 (the real schedule).
	PushRetryScale float64
}

// FaultKind says how an injected fault fails a request.
type FaultKind string

// The fault kinds.
const (
	// FaultInternalError answers 500 InternalError.
	FaultInternalError FaultKind = "500"
	// FaultDrop closes the connection without answering.
	FaultDrop FaultKind = "drop"
	// FaultStall holds the request for Fault.Stall before answering normally, to look like
	// a response slower than the client's timeout.
	FaultStall FaultKind = "stall"
)

// Fault injects failures into a fraction Rate (0..1) of an operation's requests.
type Fault struct {
	Rate  float64
	Kind  FaultKind
	Stall time.Duration // for FaultStall; zero means DefaultStall
}

// Validate reports the first field that holds a value the emulator cannot use. Zero
// values are valid: they mean the defaults.
func (c Config) Validate() error {
	if c.Addr != "" {
		if _, port, err := net.SplitHostPort(c.Addr); err != nil {
			return fmt.Errorf("mnslocal: Config.Addr %q: want host:port: %w", c.Addr, err)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("mnslocal: Config.Addr %q: want a numeric port", c.Addr)
		}
	}
	if c.AccessKeyID != "" && strings.HasPrefix(c.AccessKeyID, stsKeyPrefix) {
		return fmt.Errorf("mnslocal: Config.AccessKeyID %q: must not start with %q (reserved for issued STS keys)", c.AccessKeyID, stsKeyPrefix)
	}
	if strings.ContainsAny(c.AccessKeyID, ": \t\r\n") {
		return errors.New("mnslocal: Config.AccessKeyID must not contain ':' or white space")
	}
	if (c.AccessKeyID == "") != (c.AccessKeySecret == "") {
		return errors.New("mnslocal: Config.AccessKeyID and Config.AccessKeySecret: set both or neither")
	}
	if c.AlicomUID != "" {
		for _, r := range c.AlicomUID {
			if r < '0' || r > '9' {
				return fmt.Errorf("mnslocal: Config.AlicomUID %q: want decimal digits", c.AlicomUID)
			}
		}
	}
	uid := c.AlicomUID
	if uid == "" {
		uid = DefaultAlicomUID
	}
	for _, t := range c.MessageTypes {
		if t == "" {
			return errors.New("mnslocal: Config.MessageTypes holds an empty message type")
		}
		if err := checkQueueName(alicomQueueName(uid, t)); err != nil {
			return fmt.Errorf("mnslocal: Config.MessageTypes %q: %v", t, err)
		}
	}
	for _, q := range c.Queues {
		if err := checkQueueName(q); err != nil {
			return fmt.Errorf("mnslocal: Config.Queues %q: %v", q, err)
		}
	}
	if c.TokenTTL < 0 {
		return fmt.Errorf("mnslocal: Config.TokenTTL %v: want >= 0", c.TokenTTL)
	}
	if c.VisibilityTimeout != 0 && (c.VisibilityTimeout < time.Second || c.VisibilityTimeout > 43200*time.Second || c.VisibilityTimeout%time.Second != 0) {
		return fmt.Errorf("mnslocal: Config.VisibilityTimeout %v: want whole seconds in 1s..12h", c.VisibilityTimeout)
	}
	if c.PollingWaitSeconds < 0 || c.PollingWaitSeconds > 30 {
		return fmt.Errorf("mnslocal: Config.PollingWaitSeconds %d: want 0..30", c.PollingWaitSeconds)
	}
	if c.Latency < 0 || c.Jitter < 0 {
		return fmt.Errorf("mnslocal: Config.Latency %v / Config.Jitter %v: want >= 0", c.Latency, c.Jitter)
	}
	if c.PushRetryScale < 0 || math.IsNaN(c.PushRetryScale) || math.IsInf(c.PushRetryScale, 0) {
		return fmt.Errorf("mnslocal: Config.PushRetryScale %v: want a finite number >= 0 (0 means 1)", c.PushRetryScale)
	}
	for op, f := range c.Faults {
		if err := f.validate(op); err != nil {
			return fmt.Errorf("mnslocal: Config.Faults: %w", err)
		}
	}
	return nil
}

func (f Fault) validate(op string) error {
	if !knownOperation(op) {
		return fmt.Errorf("operation %q is unknown (want one of %s)", op, strings.Join(Operations, ", "))
	}
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("%s: rate %v: want 0..1", op, f.Rate)
	}
	switch f.Kind {
	case FaultInternalError, FaultDrop, FaultStall:
	case "":
		if f.Rate != 0 {
			return fmt.Errorf("%s: kind is empty: want %q, %q or %q", op, FaultInternalError, FaultDrop, FaultStall)
		}
	default:
		return fmt.Errorf("%s: kind %q: want %q, %q or %q", op, f.Kind, FaultInternalError, FaultDrop, FaultStall)
	}
	if f.Stall < 0 {
		return fmt.Errorf("%s: stall %v: want >= 0", op, f.Stall)
	}
	return nil
}

// ParseFault parses the command-line form "Operation=rate:kind[:stall]", for example
// "BatchReceiveMessage=0.1:500" or "DeleteMessage=0.5:stall:40s".
func ParseFault(s string) (op string, f Fault, err error) {
	op, spec, ok := strings.Cut(s, "=")
	if !ok || op == "" {
		return "", Fault{}, fmt.Errorf("fault %q: want Operation=rate:kind[:stall]", s)
	}
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return "", Fault{}, fmt.Errorf("fault %q: want Operation=rate:kind[:stall]", s)
	}
	rate, err := strconv.ParseFloat(parts[0], 64)
	if err != nil {
		return "", Fault{}, fmt.Errorf("fault %q: rate %q is not a number", s, parts[0])
	}
	f = Fault{Rate: rate, Kind: FaultKind(parts[1])}
	if len(parts) == 3 {
		if f.Kind != FaultStall {
			return "", Fault{}, fmt.Errorf("fault %q: only kind %q takes a duration", s, FaultStall)
		}
		if f.Stall, err = time.ParseDuration(parts[2]); err != nil {
			return "", Fault{}, fmt.Errorf("fault %q: stall: %v", s, err)
		}
	}
	if err := f.validate(op); err != nil {
		return "", Fault{}, fmt.Errorf("fault %q: %v", s, err)
	}
	return op, f, nil
}

func knownOperation(op string) bool {
	for _, o := range Operations {
		if o == op {
			return true
		}
	}
	return false
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.AccessKeyID == "" {
		c.AccessKeyID, c.AccessKeySecret = DefaultAccessKeyID, DefaultAccessKeySecret
	}
	if c.AlicomUID == "" {
		c.AlicomUID = DefaultAlicomUID
	}
	if c.MessageTypes == nil {
		c.MessageTypes = append([]string(nil), DefaultMessageTypes...)
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.VisibilityTimeout == 0 {
		c.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func alicomQueueName(uid, messageType string) string {
	return "Alicom-Queue-" + uid + "-" + messageType
}

// checkQueueName applies the MNS naming rule: a letter first, then letters, digits and
// hyphens, at most 120 characters.
func checkQueueName(name string) error {
	if name == "" || len(name) > 120 {
		return fmt.Errorf("queue name length %d: want 1..120", len(name))
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case (r >= '0' && r <= '9') || r == '-':
			if i == 0 {
				return errors.New("queue name must start with a letter")
			}
		default:
			return fmt.Errorf("queue name has character %q: want letters, digits and '-'", r)
		}
	}
	return nil
}
