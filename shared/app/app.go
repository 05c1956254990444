// Package app wires the drain function together: configuration from the environment, the
// token cache, one queue client per queue, the router with its handlers, and the bounded drain,
// into the handler the runtime adapters call once per invocation. Everything that should live as
// long as a warm instance is built here once; everything per invocation happens in Invoke.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/drain"
	"github.com/alicom-drain/alicom-drain/internal/platform"
	"github.com/alicom-drain/alicom-drain/internal/queue"
	"github.com/alicom-drain/alicom-drain/internal/sink"
	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// Main is the whole of a drain function's main: it loads the configuration from the
// environment, lets register add handlers to the router (nil keeps the default log handler for
// every type), and serves invocations on the platform it finds. A configuration error is
// printed, naming the variable, and the process exits with status 2.
func Main(register func(r *dispatch.Router)) {
	cfg, err := config.Load(os.Getenv)
	logger := NewLogger(os.Stderr, cfg.LogLevel)
	if err != nil {
		logger.Error("configuration is invalid", "error", err.Error())
		os.Exit(2)
	}
	router, err := NewRouter(cfg, logger)
	if err != nil {
		logger.Error("router", "error", err.Error())
		os.Exit(2)
	}
	if register != nil {
		register(router)
	}
	d, err := New(cfg, router, logger, token.DefaultChain(os.Getenv))
	if err != nil {
		logger.Error("start", "error", err.Error())
		os.Exit(2)
	}
	platform.Start(d.Invoke)
}

// NewLogger returns the JSON logger every function writes with: one object per line, which
// both platforms' log services index.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// NewRouter returns a router with the configured poison threshold and handler timeout, the log
// sink for every type without a handler of its own, and the log dead-letter sink.
func NewRouter(cfg config.Config, logger *slog.Logger) (*dispatch.Router, error) {
	return dispatch.NewRouter(dispatch.Options{
		MaxAttempts:    cfg.MaxAttempts,
		HandlerTimeout: cfg.HandlerTimeout,
		Fallback:       sink.Log(logger),
		DeadLetter:     sink.DeadLetterLog(logger),
		Logger:         logger,
	})
}

// Drain is the drain function's handler and what it keeps across the invocations of a warm
// instance: the token cache and one queue client per queue.
type Drain struct {
	cfg    config.Config
	log    *slog.Logger
	router drain.Dispatcher
	tokens *token.Cache

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
	Queues       []drain.Report    `json:"queues"`
	TokenFetches int64             `json:"token_fetches"`
	DurationMS   int64             `json:"duration_ms"`
}

// Invoke runs one bounded drain of every configured queue. It fails the invocation when a queue
// could not be drained at all (no token, queue missing, access denied), after reporting the rest.
func (d *Drain) Invoke(ctx context.Context, inv platform.Invocation) (any, error) {
	log := d.log.With("request_id", inv.RequestID)
	fetchesBefore := d.tokens.Fetches()
	uid := d.cfg.AccountUID
	if uid == "" {
		uid = inv.AccountID
	}
	sources := make([]drain.Source, 0, len(d.cfg.MessageTypes))
	for _, t := range d.cfg.MessageTypes {
		name, err := d.cfg.QueueName(t, uid)
		if err != nil {
			return nil, err
		}
		q, err := d.queue(t, name)
		if err != nil {
			return nil, err
		}
		sources = append(sources, drain.Source{Queue: q, MessageType: t})
	}
	opts := d.cfg.DrainOptions()
	opts.Logger = log
	res, err := drain.Run(ctx, sources, d.router, opts)
	if err != nil {
		return nil, err
	}
	rep := Report{
		RequestID: inv.RequestID, Platform: inv.Platform, Trigger: inv.Trigger, Queues: res.Queues,
		TokenFetches: d.tokens.Fetches() - fetchesBefore, DurationMS: res.DurationMS,
	}
	return rep, res.Err()
}

// queue returns the instance's client for a queue, creating it on first use: the MNS client
// keeps its connection alive across invocations.
func (d *Drain) queue(messageType, name string) (queue.Queue, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if q, ok := d.queues[name]; ok {
		return q, nil
	}
	q, err := queue.NewMNS(queue.MNSConfig{
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
