package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/mnspush"
)

// Defaults of the push function's settings.
const (
	// DefaultAlicomPushBudget leaves 200 ms of Alicom's 700 ms for the network and the answer.
	DefaultAlicomPushBudget = 500 * time.Millisecond
	// DefaultAlicomPushMaxBody bounds one Alicom batch. The batch size is not documented; a
	// receipt is about 300 bytes, so this holds thousands.
	DefaultAlicomPushMaxBody = 1 << 20
	// DefaultAlicomPushFinalDelivery is the first POST plus the retries at 1, 5 and 10 minutes
	// of the shortest retry schedule Alicom documents.
	DefaultAlicomPushFinalDelivery = 4
	// DefaultPushMaxConcurrent bounds the push requests served at once; more are answered 503.
	DefaultPushMaxConcurrent = 16
	// DefaultMNSPushHandlerTimeout fits in the 5 seconds MNS waits for a push answer.
	DefaultMNSPushHandlerTimeout = mnspush.DefaultHandlerTimeout
)

// pushVars lists every variable LoadPush reads, in the order the README shows them.
var pushVars = []Var{
	{"ALICOM_PUSH_TOKEN", "", "Secret in the Alicom push URL `/alicom/<Type>?token=...` (16 to 256 of `A-Za-z0-9._~-`); unset turns the Alicom route off (404)."},
	{"ALICOM_PUSH_BUDGET", "500ms", "Time the handlers of one Alicom batch get; Alicom waits 700 ms for the answer, so from 10ms to 650ms."},
	{"ALICOM_PUSH_MAX_BODY", "1048576", "Largest Alicom batch in bytes (1024..4194304); a larger one is answered 413 before it is read."},
	{"ALICOM_PUSH_FINAL_DELIVERY", "4", "The Alicom delivery of an item treated as its last: a failure then is dead-lettered instead of left to Alicom, which gives up."},
	{"MNS_CERT_URL_ALLOW", mnspush.DefaultCertURLAllow, "Comma-separated `scheme://host[:port]/path-prefix` rules for MNS signing certificate URLs."},
	{"MNS_PUSH_DATE_WINDOW", "15m", "How far an MNS push's Date may be from now, either way."},
	{"MNS_CERT_FETCH_TIMEOUT", "5s", "Time limit for one certificate download."},
	{"MNS_PUSH_SUCCESS_STATUS", "201", "Status answering a handled MNS push: 200, 201 or 204."},
	{"MNS_PUSH_FORMAT", "auto", "Notification format of the subscription: XML, JSON, SIMPLIFIED or auto."},
	{"MNS_PUSH_HANDLER_TIMEOUT", "4s", "Time the handler of one MNS push gets; MNS waits 5 s for the answer, so from 10ms to 4500ms."},
	{"ALICOM_PUSH_MESSAGE_TYPE", "", "Message type of MNS pushes whose tag names no known type; empty leaves them untyped."},
	{"PUSH_MAX_CONCURRENT", "16", "Push requests served at once (1..256); more are answered 503 at once, and the pusher retries."},
}

// PushConfig is the validated configuration of the push function: Alicom's HTTP batch push
// and MNS topic push.
type PushConfig struct {
	// AlicomToken is the secret of the Alicom route; "" turns the route off.
	AlicomToken string
	// AlicomBudget is the handler time of one Alicom batch.
	AlicomBudget time.Duration
	// AlicomMaxBody bounds an Alicom batch in bytes.
	AlicomMaxBody int64
	// AlicomFinalDelivery is the delivery of an item treated as Alicom's last.
	AlicomFinalDelivery int64

	// MNSCertURLAllow lists where MNS signing certificates may be fetched from.
	MNSCertURLAllow []mnspush.CertURLRule
	// MNSDateWindow is how far a push's Date may be from now.
	MNSDateWindow time.Duration
	// MNSCertFetchTimeout bounds one certificate download.
	MNSCertFetchTimeout time.Duration
	// MNSSuccessStatus answers a handled MNS push.
	MNSSuccessStatus int
	// MNSFormat is the subscription's notification format.
	MNSFormat mnspush.Format
	// MNSHandlerTimeout bounds the handler of one MNS push.
	MNSHandlerTimeout time.Duration
	// MNSDefaultMessageType types MNS pushes whose tag names no known type.
	MNSDefaultMessageType string

	// MaxConcurrent bounds the push requests served at once.
	MaxConcurrent int
}

// pushToken is what a push token may hold: characters that need no escaping in a URL query.
var pushToken = regexp.MustCompile(`^[A-Za-z0-9._~-]{16,256}$`)

// LoadPush reads the push function's configuration through getenv and validates all of it.
func LoadPush(getenv func(string) string) (PushConfig, error) {
	l := loader{getenv: getenv}
	c := l.loadPush()
	return c, errors.Join(l.errs...)
}

// loadPush reads pushVars.
func (l *loader) loadPush() PushConfig {
	c := PushConfig{
		AlicomToken:           l.pushToken("ALICOM_PUSH_TOKEN"),
		AlicomBudget:          l.duration("ALICOM_PUSH_BUDGET", DefaultAlicomPushBudget, 10*time.Millisecond, 650*time.Millisecond),
		AlicomMaxBody:         int64(l.intIn("ALICOM_PUSH_MAX_BODY", DefaultAlicomPushMaxBody, 1024, 4<<20)),
		AlicomFinalDelivery:   int64(l.intIn("ALICOM_PUSH_FINAL_DELIVERY", DefaultAlicomPushFinalDelivery, 1, 100)),
		MNSCertURLAllow:       l.certURLAllow("MNS_CERT_URL_ALLOW"),
		MNSDateWindow:         l.duration("MNS_PUSH_DATE_WINDOW", 15*time.Minute, time.Second, 24*time.Hour),
		MNSCertFetchTimeout:   l.duration("MNS_CERT_FETCH_TIMEOUT", 5*time.Second, 100*time.Millisecond, time.Minute),
		MNSSuccessStatus:      l.successStatus("MNS_PUSH_SUCCESS_STATUS"),
		MNSFormat:             l.pushFormat("MNS_PUSH_FORMAT"),
		MNSHandlerTimeout:     l.duration("MNS_PUSH_HANDLER_TIMEOUT", DefaultMNSPushHandlerTimeout, 10*time.Millisecond, 4500*time.Millisecond),
		MNSDefaultMessageType: l.optionalType("ALICOM_PUSH_MESSAGE_TYPE"),
		MaxConcurrent:         l.intIn("PUSH_MAX_CONCURRENT", DefaultPushMaxConcurrent, 1, 256),
	}
	return c
}

// pushToken reads a secret: the error describes what is wrong with it but never shows it.
func (l *loader) pushToken(name string) string {
	v := l.get(name)
	if v != "" && !pushToken.MatchString(v) {
		l.fail(name, "the value (%d characters, not shown) is not valid: expected 16 to 256 of A-Za-z0-9._~- (e.g. from `openssl rand -hex 24`)", len(v))
		return ""
	}
	return v
}

func (l *loader) certURLAllow(name string) []mnspush.CertURLRule {
	v := l.get(name)
	if v == "" {
		v = mnspush.DefaultCertURLAllow
	}
	rules, err := mnspush.ParseCertURLAllow(v)
	if err != nil {
		l.fail(name, "%q is not valid: expected comma-separated scheme://host[:port]/path-prefix rules (%v)", v, err)
		return nil
	}
	return rules
}

func (l *loader) successStatus(name string) int {
	v := l.get(name)
	if v == "" {
		return 201
	}
	n, err := strconv.Atoi(v)
	if err != nil || (n != 200 && n != 201 && n != 204) {
		l.fail(name, "%q is not valid: expected 200, 201 or 204", v)
		return 201
	}
	return n
}

func (l *loader) pushFormat(name string) mnspush.Format {
	v := l.get(name)
	f, err := mnspush.ParseFormat(v)
	if err != nil {
		l.fail(name, "%q is not valid: expected XML, JSON, SIMPLIFIED or auto", v)
		return mnspush.FormatAuto
	}
	return f
}

func (l *loader) optionalType(name string) string {
	v := l.get(name)
	if v != "" && !typeName.MatchString(v) {
		l.fail(name, "%q is not valid: expected a message type name such as SmsReport", v)
		return ""
	}
	return v
}

// String describes the configuration for a start-up log line, with the token shown only as
// set or not.
func (c PushConfig) String() string {
	token := "off"
	if c.AlicomToken != "" {
		token = "set"
	}
	return fmt.Sprintf("alicom route %s, budget %s, max body %d, final delivery %d; mns handler timeout %s, format %q; max concurrent %d",
		token, c.AlicomBudget, c.AlicomMaxBody, c.AlicomFinalDelivery, c.MNSHandlerTimeout, string(c.MNSFormat), c.MaxConcurrent)
}
