// Package config owns the functions' configuration: which environment variables they read,
// their defaults, and the validation that turns a wrong value into an error naming the variable
// and what it expects. Nothing else in the project reads the environment for these settings.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/drain"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// Defaults. The endpoints are Alicom's fixed ones for mainland China; the international pair is
// documented in the README. They are kept here only: the queue driver (mnsqueue) and the token
// fetcher (token.Dybaseapi) have no default endpoint and are given these through Config.
const (
	DefaultMessageTypes      = "SmsReport,SmsUp"
	DefaultMNSEndpoint       = "https://1943695596114318.mns.cn-hangzhou.aliyuncs.com"
	DefaultDybaseapiEndpoint = "https://dybaseapi.aliyuncs.com"
	DefaultRegion            = "cn-hangzhou"
)

// The variables that carry the caller's own Alibaba Cloud keys: the names Function Compute uses
// for the function role's credentials and the Alibaba Cloud SDKs use for AccessKeys. The token
// package's credential chain reads them by these names at each call (role keys rotate).
const (
	EnvAccessKeyID     = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessKeySecret = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	EnvSecurityToken   = "ALIBABA_CLOUD_SECURITY_TOKEN"
	// EnvCredentialsSecret names the AWS Secrets Manager secret that holds the two keys on
	// Lambda, read at run time so that no key sits in the function's configuration.
	EnvCredentialsSecret = "ALICOM_CREDENTIALS_SECRET"
)

// Var documents one environment variable. A test holds the README's configuration table to this
// list, so the two cannot drift apart.
type Var struct {
	Name    string
	Default string
	Meaning string
}

// Vars lists every variable Load reads, in the order the README shows them.
var Vars = append(append(coreVars, sinkVars...), pushVars...)

var coreVars = []Var{
	{"ALICOM_MESSAGE_TYPES", DefaultMessageTypes, "Comma-separated message types to drain; one Alicom queue each."},
	{"ALICOM_ACCOUNT_UID", "FC: the function's account", "Your Alibaba Cloud account UID; queues are named `Alicom-Queue-<uid>-<type>`."},
	{"ALICOM_QUEUE_NAMES", "", "Explicit queue names, `Type=QueueName,...`; overrides the derived name for those types."},
	{"ALICOM_MNS_ENDPOINT", DefaultMNSEndpoint, "MNS endpoint URL of the Alicom queues (`http://127.0.0.1:9911` for the emulator)."},
	{"ALICOM_DYBASEAPI_ENDPOINT", DefaultDybaseapiEndpoint, "Dybaseapi endpoint URL for `QueryTokenForMnsQueue`."},
	{"ALICOM_REGION", DefaultRegion, "Region ID sent to Dybaseapi."},
	{EnvAccessKeyID, "FC: the function role's", "AccessKey ID allowed `dybaseapi:QueryTokenForMnsQueue`; required outside Function Compute unless `" + EnvCredentialsSecret + "` is set."},
	{EnvAccessKeySecret, "FC: the function role's", "Its AccessKey secret; never logged."},
	{EnvCredentialsSecret, "", "AWS Lambda: name or ARN of a Secrets Manager secret holding the two keys above as JSON; read at run time, cached, re-read after a failure."},
	{"DRAIN_MODE", string(drainDefaults.Mode), "`drain`: receive until a receive answers empty, then stop; `follow`: keep long-polling until the deadline margin, handling each message as it arrives (docs/drain.md)."},
	{"DRAIN_RECEIVERS", strconv.Itoa(drainDefaults.Receivers), "Receivers per queue working in parallel (1..64); a drain starts with one and adds more while batches come back full (follow mode: and drops them when they do not)."},
	{"DRAIN_BATCH_SIZE", strconv.Itoa(drainDefaults.BatchSize), "Messages per receive request (1..16)."},
	{"DRAIN_WAIT_SECONDS", strconv.Itoa(int(drainDefaults.Wait / time.Second)), "Drain mode: long-poll wait of an invocation's first receive (0..30); later receives never wait. Follow mode long-polls " + drainDefaults.FollowWait.String() + "."},
	{"DRAIN_MAX_MESSAGES", strconv.Itoa(drainDefaults.MaxMessages), "Messages per queue per invocation at most; 0 means until empty or the deadline."},
	{"DRAIN_MAX_DURATION", "0", "How long an invocation keeps receiving at most (Go duration, e.g. `62s` for follow mode, docs/drain.md); 0 means until the deadline margin."},
	{"DRAIN_DEADLINE_MARGIN", "auto", "How long before the platform deadline to stop receiving; `auto` is handler timeout + 1s + 3s, cut to half the time left when the deadline is nearer."},
	{"DRAIN_MAX_ATTEMPTS", strconv.Itoa(dispatch.DefaultMaxAttempts), "Poison threshold: a message whose handler fails on this delivery or later is dead-lettered."},
	{"DRAIN_HANDLER_TIMEOUT", drainDefaults.HandlerTimeout.String(), "Time limit for one handler call; a handler still running a second later is abandoned and its message kept."},
	{"TOKEN_REFRESH_BEFORE", "2m", "Refresh a cached Alicom token when less than this remains."},
	{"LOG_LEVEL", "info", "debug, info, warn or error."},
}

// Config is the validated drain configuration.
type Config struct {
	MessageTypes      []string
	AccountUID        string
	QueueNames        map[string]string
	MNSEndpoint       string
	DybaseapiEndpoint string
	Region            string

	DrainMode      drain.Mode
	Receivers      int
	BatchSize      int
	Wait           time.Duration
	MaxMessages    int
	MaxDuration    time.Duration
	DeadlineMargin time.Duration // 0 means automatic, see drain.Options.DeadlineMargin
	MaxAttempts    int64
	HandlerTimeout time.Duration
	RefreshBefore  time.Duration
	LogLevel       slog.Level

	// HasAccessKey says both EnvAccessKeyID and EnvAccessKeySecret are set. The keys themselves
	// are read by the credential chain at each use, so that rotated role keys are picked up.
	HasAccessKey bool
	// CredentialsSecret is the Secrets Manager secret of EnvCredentialsSecret; empty for none.
	CredentialsSecret string

	// Sink says where handled messages and dead letters go (ALICOM_SINK, ALICOM_DEADLETTER, ...).
	Sink SinkConfig
	// Push configures the push function's receivers (ALICOM_PUSH_TOKEN, MNS_PUSH_*, ...).
	Push PushConfig

	// Warnings are findings that do not stop the function, such as a message type this version
	// does not know; the caller logs them at start.
	Warnings []string
}

// QueueName returns the queue that holds messages of type t: the explicit name when one was
// configured, otherwise Alicom's `Alicom-Queue-<uid>-<type>` with uid, which the caller supplies
// because on Function Compute it is known only per invocation.
func (c Config) QueueName(t, uid string) (string, error) {
	if n, ok := c.QueueNames[t]; ok {
		return n, nil
	}
	if uid == "" {
		return "", &VarError{Name: "ALICOM_ACCOUNT_UID",
			Problem: fmt.Sprintf("not set, and ALICOM_QUEUE_NAMES names no queue for %s: expected your account UID (digits)", t)}
	}
	return "Alicom-Queue-" + uid + "-" + t, nil
}

// CheckOutsideFC adds the checks that hold wherever the platform does not hand the function
// its account and its role: locally and on AWS Lambda the account UID (unless every type has an
// explicit queue name) and the keys must come from the environment, or on Lambda from the
// Secrets Manager secret. On Function Compute both arrive with each invocation, so there they
// are checked per invocation instead.
func (c Config) CheckOutsideFC() error {
	var errs []error
	if c.AccountUID == "" {
		for _, t := range c.MessageTypes {
			if _, ok := c.QueueNames[t]; !ok {
				errs = append(errs, &VarError{Name: "ALICOM_ACCOUNT_UID",
					Problem: fmt.Sprintf("not set, and ALICOM_QUEUE_NAMES names no queue for %s: expected your account UID (digits)", t)})
				break
			}
		}
	}
	if !c.HasAccessKey && c.CredentialsSecret == "" {
		errs = append(errs, &VarError{Name: EnvAccessKeyID,
			Problem: fmt.Sprintf("%s and %s are not both set: expected the AccessKey of a RAM user allowed dybaseapi:QueryTokenForMnsQueue (on AWS Lambda, or %s naming a Secrets Manager secret that holds them)",
				EnvAccessKeyID, EnvAccessKeySecret, EnvCredentialsSecret)})
	}
	return errors.Join(errs...)
}

// VarError is one configuration problem: the variable and what is wrong with its value,
// including what was expected.
type VarError struct {
	Name    string `json:"variable"`
	Problem string `json:"problem"`
}

// Error reads "NAME: problem".
func (e *VarError) Error() string { return e.Name + ": " + e.Problem }

// VarErrors lists the variable problems in err (a joined error from Load or CheckOutsideFC), so
// that a caller can report each one with its variable.
func VarErrors(err error) []*VarError {
	var out []*VarError
	var walk func(error)
	walk = func(err error) {
		if ve, ok := err.(*VarError); ok {
			out = append(out, ve)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if err != nil {
			out = append(out, &VarError{Problem: err.Error()})
		}
	}
	walk(err)
	return out
}

var (
	typeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
	// MNS queue names: letters, digits and '-', starting with a letter, at most 256 characters.
	queueName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,255}$`)
	digits    = regexp.MustCompile(`^[0-9]{1,32}$`)
	regionID  = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)
)

// Load reads the configuration through getenv (os.Getenv in production, a map in tests) and
// validates all of it, so that one run reports every wrong variable at once.
func Load(getenv func(string) string) (Config, error) {
	l := loader{getenv: getenv}
	c := Config{
		MessageTypes:      l.types("ALICOM_MESSAGE_TYPES", DefaultMessageTypes),
		AccountUID:        l.uid("ALICOM_ACCOUNT_UID"),
		QueueNames:        l.queueNames("ALICOM_QUEUE_NAMES"),
		MNSEndpoint:       l.endpoint("ALICOM_MNS_ENDPOINT", DefaultMNSEndpoint),
		DybaseapiEndpoint: l.endpoint("ALICOM_DYBASEAPI_ENDPOINT", DefaultDybaseapiEndpoint),
		Region:            l.region("ALICOM_REGION", DefaultRegion),
		DrainMode:         l.mode("DRAIN_MODE"),
		Receivers:         l.intIn("DRAIN_RECEIVERS", drainDefaults.Receivers, 1, 64),
		BatchSize:         l.intIn("DRAIN_BATCH_SIZE", drainDefaults.BatchSize, 1, 16),
		Wait:              time.Duration(l.intIn("DRAIN_WAIT_SECONDS", int(drainDefaults.Wait/time.Second), 0, 30)) * time.Second,
		MaxMessages:       l.intIn("DRAIN_MAX_MESSAGES", drainDefaults.MaxMessages, 0, 1<<30),
		MaxDuration:       l.duration("DRAIN_MAX_DURATION", drainDefaults.MaxDuration, 0, 24*time.Hour),
		MaxAttempts:       int64(l.intIn("DRAIN_MAX_ATTEMPTS", dispatch.DefaultMaxAttempts, 1, 1000)),
		HandlerTimeout:    l.duration("DRAIN_HANDLER_TIMEOUT", drainDefaults.HandlerTimeout, time.Millisecond, time.Hour),
		RefreshBefore:     l.duration("TOKEN_REFRESH_BEFORE", 2*time.Minute, 0, time.Hour),
		LogLevel:          l.level("LOG_LEVEL"),
		HasAccessKey:      l.get(EnvAccessKeyID) != "" && l.get(EnvAccessKeySecret) != "",
		CredentialsSecret: l.secretID(EnvCredentialsSecret),
		Sink:              l.loadSink(),
		Push:              l.loadPush(),
	}
	c.Warnings = l.warnings
	if v := l.get("DRAIN_DEADLINE_MARGIN"); v != "" && v != "auto" {
		c.DeadlineMargin = l.duration("DRAIN_DEADLINE_MARGIN", 0, time.Millisecond, time.Hour)
	}
	for t := range c.QueueNames {
		if !contains(c.MessageTypes, t) {
			l.fail("ALICOM_QUEUE_NAMES", "names a queue for %s, which ALICOM_MESSAGE_TYPES does not list: expected only types it lists (or add %s to it)", t, t)
		}
	}
	return c, errors.Join(l.errs...)
}

type loader struct {
	getenv   func(string) string
	errs     []error
	warnings []string
}

func (l *loader) get(name string) string { return strings.TrimSpace(l.getenv(name)) }

func (l *loader) fail(name, format string, args ...any) {
	l.errs = append(l.errs, &VarError{Name: name, Problem: fmt.Sprintf(format, args...)})
}

func (l *loader) warn(name, format string, args ...any) {
	l.warnings = append(l.warnings, name+": "+fmt.Sprintf(format, args...))
}

// secretID accepts a Secrets Manager secret name or ARN: printable ASCII without spaces.
func (l *loader) secretID(name string) string {
	v := l.get(name)
	if v == "" {
		return ""
	}
	if len(v) > 2048 || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r > '~' }) {
		l.fail(name, "%q is not a secret name or ARN: expected e.g. alicom-drain/alibaba-cloud-keys or arn:aws:secretsmanager:...", v)
		return ""
	}
	return v
}

// knownType checks t against the types this version decodes. A type that differs from a known
// one only in case is an error (Alicom's type names are case-sensitive, so it can never match a
// queue); a near miss or an unknown type is a warning, since Alicom adds types over time and
// their messages are still delivered, as raw JSON.
func (l *loader) knownType(name, t string) bool {
	if alicom.IsKnown(t) {
		return true
	}
	known := alicom.KnownTypes()
	for _, k := range known {
		if strings.EqualFold(k, t) {
			l.fail(name, "%q is not a message type: did you mean %s? (expected the exact spelling: type names are case-sensitive)", t, k)
			return false
		}
	}
	best, dist := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(k), strings.ToLower(t)); d < dist {
			best, dist = k, d
		}
	}
	if best != "" {
		l.warn(name, "%s is not a type this version knows: did you mean %s? Its messages will be delivered as raw JSON", t, best)
	} else {
		l.warn(name, "%s is not a type this version knows (%s); its messages will be delivered as raw JSON", t, strings.Join(known, ", "))
	}
	return true
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (l *loader) types(name, def string) []string {
	v := l.get(name)
	if v == "" {
		v = def
	}
	var out []string
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			continue
		case !typeName.MatchString(t):
			l.fail(name, "%q is not a message type name: expected a comma-separated list like SmsReport,SmsUp", t)
		case contains(out, t):
			l.fail(name, "%s is listed twice: expected each type once", t)
		case l.knownType(name, t):
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		l.fail(name, "no message type given: expected a comma-separated list like SmsReport,SmsUp")
	}
	return out
}

func (l *loader) uid(name string) string {
	v := l.get(name)
	if v != "" && !digits.MatchString(v) {
		l.fail(name, "%q is not an account UID: expected digits only", v)
		return ""
	}
	return v
}

func (l *loader) queueNames(name string) map[string]string {
	out := map[string]string{}
	v := l.get(name)
	if v == "" {
		return out
	}
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		t, q, ok := strings.Cut(pair, "=")
		t, q = strings.TrimSpace(t), strings.TrimSpace(q)
		switch {
		case !ok || !typeName.MatchString(t):
			l.fail(name, "%q is not Type=QueueName: expected e.g. SmsReport=Alicom-Queue-123-SmsReport", pair)
		case !queueName.MatchString(q):
			l.fail(name, "%q is not a valid MNS queue name: expected letters, digits and '-', starting with a letter", q)
		default:
			out[t] = q
		}
	}
	return out
}

func (l *loader) endpoint(name, def string) string {
	v := l.get(name)
	if v == "" {
		return def
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		l.fail(name, "%q is not an endpoint URL: expected scheme and host only, e.g. %s or http://127.0.0.1:9911", v, def)
		return def
	}
	return u.Scheme + "://" + u.Host
}

func (l *loader) region(name, def string) string {
	v := l.get(name)
	if v == "" {
		return def
	}
	if !regionID.MatchString(v) {
		l.fail(name, "%q is not a region ID: expected e.g. cn-hangzhou or ap-southeast-1", v)
		return def
	}
	return v
}

func (l *loader) intIn(name string, def, lo, hi int) int {
	v := l.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		l.fail(name, "%q is not valid: expected a whole number from %d to %d", v, lo, hi)
		return def
	}
	return n
}

func (l *loader) duration(name string, def, lo, hi time.Duration) time.Duration {
	v := l.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if v == "0" {
		d, err = 0, nil
	}
	if err != nil || d < lo || d > hi {
		l.fail(name, "%q is not valid: expected a duration such as 10s or 2m, from %s to %s", v, lo, hi)
		return def
	}
	return d
}

func (l *loader) level(name string) slog.Level {
	v := l.get(name)
	if v == "" {
		return slog.LevelInfo
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(v)); err != nil {
		l.fail(name, "%q is not a log level: expected debug, info, warn or error", v)
		return slog.LevelInfo
	}
	return lv
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
