// Package app wires the functions together. For the drain: configuration from the environment,
// the token cache, one queue client per queue, the router with its handlers, and the bounded
// drain, into the handler the platform layer calls once per invocation (Main). For the push
// function: the same configuration and router behind the push endpoint's net/http.Handler
// (MainHTTP). Everything that should live as long as a warm instance is built here once;
// everything per invocation happens in Invoke.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/drain"
	"github.com/alicom-drain/alicom-drain/internal/platform"
	"github.com/alicom-drain/alicom-drain/internal/queue"
	"github.com/alicom-drain/alicom-drain/internal/queue/mnsqueue"
	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// drainAbout is the local usage's explanation of the drain function.
const drainAbout = `Runs one drain of the Alicom queues, as one timer invocation on Function Compute or Lambda
would: the report goes to stdout (and only the report, so it can be piped to jq), the logs to
stderr as JSON lines. Settings come from the environment: ALICOM_*, DRAIN_*, TOKEN_*, LOG_LEVEL
and the caller's keys ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET (see README.md).
Exit status: 0 drained, 1 the invocation failed, 2 a setting or an argument is wrong.`

// Main is the whole of a drain function's main: it loads the configuration from the
// environment, lets register add handlers to the router (nil keeps the default log handler for
// every type), and serves invocations on the platform it finds. A configuration problem is
// reported at start as one JSON line naming each variable and what it expects (exit status 2
// locally; the runtime's init error on Lambda; every invocation failing with it on Function
// Compute).
func Main(register func(r *dispatch.Router)) {
	where := platform.Detect(os.Getenv)
	if where == platform.Local && platform.HelpRequested(os.Args[1:]) {
		platform.Start(nil, platform.Options{About: drainAbout})
	}
	cfg, logger, opts := start(where, drainAbout, true)
	creds, secret, err := credentialSource(cfg, where)
	if err != nil {
		platform.StartFailed(ConfigFailure(err), opts)
	}
	d, err := newDrain(cfg, logger, creds, register)
	if err != nil {
		platform.StartFailed(platform.Fail(platform.ConfigError, err), opts)
	}
	d.secret = secret
	d.metrics = NewMetrics(os.Stderr, where)
	platform.Start(d.Invoke, opts)
}

// start loads and checks the configuration and builds the logger; on a problem it reports it and
// does not return. needsKeys adds the checks of a function that calls Dybaseapi.
func start(where platform.Platform, about string, needsKeys bool) (config.Config, *slog.Logger, platform.Options) {
	cfg, err := config.Load(os.Getenv)
	logger := NewLogger(os.Stderr, cfg.LogLevel)
	opts := platform.Options{Logger: logger, About: about}
	if err == nil && where != platform.FunctionCompute && needsKeys {
		err = cfg.CheckOutsideFC()
	}
	if err != nil {
		platform.StartFailed(ConfigFailure(err), opts)
	}
	for _, w := range cfg.Warnings {
		logger.Warn("configuration", "warning", w)
	}
	return cfg, logger, opts
}

// ConfigFailure marks a configuration error for the platform: type ConfigError, with each
// variable and what it expects as the failure's details.
func ConfigFailure(err error) error {
	return &platform.Error{Type: platform.ConfigError, Err: err, Details: config.VarErrors(err)}
}

// NewRouter returns a router with the configured poison threshold and handler timeout, the
// configured sink (ALICOM_SINK, log by default) for every type without a handler of its own,
// and the configured dead-letter sink (ALICOM_DEADLETTER). A sink that forwards into the
// user's MNS signs with token.DefaultChain (the FC invocation's role, then the environment);
// Main gives it the function's own credential source instead (see credentialSource).
func NewRouter(cfg config.Config, logger *slog.Logger) (*dispatch.Router, error) {
	r, _, err := newSinkRouter(cfg, cfg.Sink, logger, token.DefaultChain(os.Getenv))
	return r, err
}

// newDrain is Main's wiring: the router with the configured sinks, register's handlers on it,
// and the handler. creds are the caller's own keys for both Dybaseapi and the sink that
// forwards into the user's MNS, so the two always authenticate the same way (Secrets Manager
// on Lambda when ALICOM_CREDENTIALS_SECRET is set).
func newDrain(cfg config.Config, logger *slog.Logger, creds token.CredentialSource, register func(r *dispatch.Router)) (*Drain, error) {
	router, _, err := newSinkRouter(cfg, cfg.Sink, logger, creds)
	if err != nil {
		return nil, err
	}
	if register != nil {
		register(router)
	}
	return New(cfg, router, logger, creds)
}

// Drain is the drain function's handler and what it keeps across the invocations of a warm
// instance: the token cache and one queue client per queue.
type Drain struct {
	cfg     config.Config
	log     *slog.Logger
	router  drain.Dispatcher
	tokens  *token.Cache
	secret  *token.SecretsManager // nil unless the keys come from Secrets Manager
	metrics *Metrics              // nil publishes none

	mu     sync.Mutex
	queues map[string]queue.Queue
}

// New builds the handler. creds is where the caller's own keys come from (token.DefaultChain in
// production: the FC invocation's role first, then the environment).
func New(cfg config.Config, router drain.Dispatcher, logger *slog.Logger, creds token.CredentialSource) (*Drain, error) {
	fetcher, err := token.NewDybaseapi(token.DybaseapiConfig{
		Endpoint: cfg.DybaseapiEndpoint, Region: cfg.Region, Credentials: creds,
	})
	if err != nil {
		return nil, err
	}
	cache, err := token.NewCache(fetcher, token.CacheOptions{RefreshBefore: cfg.RefreshBefore, Logger: logger})
	if err != nil {
		return nil, err
	}
	return &Drain{cfg: cfg, log: logger, router: router, tokens: cache, queues: map[string]queue.Queue{}}, nil
}

// Report is the invocation's result: what the platform records, and what a local run prints.
type Report struct {
	RequestID    string            `json:"request_id"`
	Platform     platform.Platform `json:"platform"`
	Trigger      platform.Trigger  `json:"trigger"`
	Queues       []QueueReport     `json:"queues"`
	TokenFetches int64             `json:"token_fetches"`
	DurationMS   int64             `json:"duration_ms"`
}

// QueueReport is the drain's report of one queue with the age of the oldest message received,
// the backlog signal an operator alarms on.
type QueueReport struct {
	drain.Report
	// OldestAgeMS is how long the oldest message received in this invocation had waited in the
	// queue (now − its enqueue time) when the drain finished; 0 when none was received.
	OldestAgeMS int64 `json:"oldest_age_ms"`
}

// Invoke runs one bounded drain of every configured queue. It fails the invocation when a queue
// could not be drained at all (no token, queue missing, access denied); the report of the other
// queues is returned with the error, and the platform layer keeps it in the failure's record.
func (d *Drain) Invoke(ctx context.Context, inv platform.Invocation) (any, error) {
	log := d.log.With("request_id", inv.RequestID)
	ctx = platform.WithRequestID(ctx, inv.RequestID)
	fetchesBefore := d.tokens.Fetches()
	if inv.Platform == platform.FunctionCompute && !inv.RoleCredentials && !d.cfg.HasAccessKey {
		return nil, platform.Fail(platform.CredentialsError, fmt.Errorf(
			"Function Compute gave this invocation no role credentials: expected `role` in s.yaml naming a RAM role allowed dybaseapi:QueryTokenForMnsQueue (or %s / %s set)",
			config.EnvAccessKeyID, config.EnvAccessKeySecret))
	}
	uid := d.cfg.AccountUID
	if uid == "" {
		uid = inv.AccountID
	}
	sources := make([]drain.Source, 0, len(d.cfg.MessageTypes))
	for _, t := range d.cfg.MessageTypes {
		name, err := d.cfg.QueueName(t, uid)
		if err != nil {
			return nil, ConfigFailure(err)
		}
		q, err := d.queue(t, name)
		if err != nil {
			return nil, platform.Fail(platform.QueueError, err)
		}
		sources = append(sources, drain.Source{Queue: q, MessageType: t})
	}
	opts := d.cfg.DrainOptions()
	opts.Logger = log
	ages := newAgeTracker(d.router)
	res, err := drain.Run(ctx, sources, ages, opts)
	if err != nil {
		return nil, platform.Fail(platform.ConfigError, err)
	}
	now := time.Now()
	rep := Report{
		RequestID: inv.RequestID, Platform: inv.Platform, Trigger: inv.Trigger,
		TokenFetches: d.tokens.Fetches() - fetchesBefore, DurationMS: res.DurationMS,
	}
	for _, q := range res.Queues {
		rep.Queues = append(rep.Queues, QueueReport{Report: q, OldestAgeMS: ages.oldestAgeMS(q.Queue, now)})
	}
	d.metrics.Publish(inv, rep.Queues)
	if err := queueFailure(rep.Queues); err != nil {
		if t := platform.TypeOf(err); d.secret != nil && (t == platform.CredentialsError || t == platform.TokenError) {
			// The keys may have been rotated: read the secret again next time.
			d.secret.Invalidate()
		}
		return rep, err
	}
	return rep, nil
}

// queueFailure is the invocation's error when a queue stopped on one: its class is the first
// failed queue's, and the message names every failed queue and how many there were.
func queueFailure(queues []QueueReport) error {
	var failed []string
	var first platform.ErrorType
	for _, q := range queues {
		if q.Stop != drain.StopError {
			continue
		}
		failed = append(failed, q.Queue+": "+q.Error)
		if first == "" {
			first = classifyQueueError(q.Err)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return platform.Fail(first, fmt.Errorf("%d of %d queues failed: %s", len(failed), len(queues), strings.Join(failed, "; ")))
}

// classifyQueueError names the class of the error a queue's drain stopped on: the caller's own
// keys missing or refused (token.ErrNoCredentials), no Alicom queue token (the queue driver's
// credentials, the token cache, failed: queue.ErrCredentials), or the queue itself.
func classifyQueueError(err error) platform.ErrorType {
	switch {
	case errors.Is(err, token.ErrNoCredentials):
		return platform.CredentialsError
	case errors.Is(err, queue.ErrCredentials):
		return platform.TokenError
	default:
		return platform.QueueError
	}
}

// queue returns the instance's client for a queue, creating it on first use: the MNS client
// keeps its connection alive across invocations.
func (d *Drain) queue(messageType, name string) (queue.Queue, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if q, ok := d.queues[name]; ok {
		return q, nil
	}
	q, err := mnsqueue.New(mnsqueue.Config{
		Endpoint:       d.cfg.MNSEndpoint,
		QueueName:      name,
		Credentials:    d.tokens.ForQueue(messageType, name),
		RequestTimeout: d.cfg.DrainOptions().LongestWait() + 10*time.Second,
		MaxConns:       2 * d.cfg.Receivers,
	})
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", name, err)
	}
	d.queues[name] = q
	return q, nil
}

// credentialSource is where the caller's keys come from: on Lambda with a configured secret,
// Secrets Manager (read at run time, cached, re-read after a refusal); otherwise the FC
// invocation's role, then the environment.
func credentialSource(cfg config.Config, where platform.Platform) (token.CredentialSource, *token.SecretsManager, error) {
	if cfg.CredentialsSecret == "" {
		return token.DefaultChain(os.Getenv), nil, nil
	}
	if where == platform.FunctionCompute {
		return nil, nil, &config.VarError{Name: config.EnvCredentialsSecret,
			Problem: "is set on Function Compute, where the function role's keys are used: expected it unset (it is for AWS Lambda)"}
	}
	sm, err := token.NewSecretsManager(token.SecretsManagerConfig{SecretID: cfg.CredentialsSecret, Getenv: os.Getenv})
	if err != nil {
		return nil, nil, err
	}
	return sm.Credentials, sm, nil
}
