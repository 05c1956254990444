package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/sink"
	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// buildSinks turns the sink configuration into the router's handlers: byType for the types
// whose sink differs from the default, fallback for every other type, and deadLetter. closeFn
// closes the sinks' idle connections. creds are the function's own keys, for forwarding into
// the user's MNS (token.DefaultChain in production).
func buildSinks(cfg config.SinkConfig, logger *slog.Logger, creds token.CredentialSource) (
	byType map[string]dispatch.HandlerFunc, fallback dispatch.HandlerFunc, deadLetter dispatch.DeadLetterFunc, closeFn func(), err error,
) {
	// The log sink writes its records straight to the log's writer when it knows it (one
	// write for all the records that wait meanwhile); through the logger otherwise.
	logHandler, logDeadLetter := sink.Log(logger), sink.DeadLetterLog(logger)
	if w := recordWriter(logger); w != nil {
		records := sink.NewLogSink(w)
		logHandler, logDeadLetter = records.Handler(), records.DeadLetter()
	}
	var (
		hook    *sink.Webhook
		forward *sink.Forward
		closers []func()
	)
	if cfg.Uses(config.SinkWebhook) {
		hook, err = sink.NewWebhook(sink.WebhookConfig{
			URL: cfg.WebhookURL, Secret: cfg.WebhookSecret.Reveal(), BatchSize: cfg.WebhookBatchSize, Timeout: cfg.WebhookTimeout,
		})
		if err != nil {
			return nil, nil, nil, nil, err
		}
		closers = append(closers, hook.CloseIdleConnections)
	}
	if cfg.Uses(config.SinkMNS) {
		forward, err = sink.NewForward(sink.ForwardConfig{Endpoint: cfg.ForwardEndpoint, Credentials: creds})
		if err != nil {
			return nil, nil, nil, nil, err
		}
		closers = append(closers, forward.CloseIdleConnections)
	}
	handler := func(name string) (dispatch.HandlerFunc, error) {
		switch name {
		case config.SinkLog:
			return logHandler, nil
		case config.SinkWebhook:
			return hook.Handler(), nil
		case config.SinkMNS:
			if cfg.ForwardTopic != "" {
				return forward.Topic(cfg.ForwardTopic), nil
			}
			return forward.Queue(cfg.ForwardQueue), nil
		}
		return nil, fmt.Errorf("app: unknown sink %q: expected log, webhook or mns", name)
	}
	byType = map[string]dispatch.HandlerFunc{}
	var errs []error
	for t, name := range cfg.ByType {
		if name == cfg.SinkFor("") {
			continue // the fallback does it
		}
		h, err := handler(name)
		errs = append(errs, err)
		byType[t] = h
	}
	fallback, err = handler(cfg.SinkFor(""))
	errs = append(errs, err)
	switch cfg.DeadLetter {
	case config.SinkWebhook:
		deadLetter = hook.DeadLetter()
	case config.SinkMNS:
		deadLetter = forward.DeadLetterQueue(cfg.DeadLetterQueue)
	default:
		deadLetter = logDeadLetter
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, nil, nil, err
	}
	closeFn = func() {
		for _, c := range closers {
			c()
		}
	}
	return byType, fallback, deadLetter, closeFn, nil
}

// newSinkRouter returns a router with the drain's policies and the configured sinks. The sinks,
// per-type ones included, sit behind the router's Fallback rather than in its mux, so that a Go
// handler registered afterwards (app.Main's register) takes precedence for its type instead of
// colliding with the sink's registration.
func newSinkRouter(cfg config.Config, sc config.SinkConfig, logger *slog.Logger, creds token.CredentialSource) (*dispatch.Router, func(), error) {
	byType, fallback, deadLetter, closeFn, err := buildSinks(sc, logger, creds)
	if err != nil {
		return nil, nil, err
	}
	r, err := dispatch.NewRouter(dispatch.Options{
		MaxAttempts:    cfg.MaxAttempts,
		HandlerTimeout: cfg.HandlerTimeout,
		Fallback:       sinkByType(byType, fallback),
		DeadLetter:     deadLetter,
		OutageHorizon:  sc.OutageHorizon,
	})
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return r, closeFn, nil
}

// sinkByType sends each message to its type's sink, or to fallback.
func sinkByType(byType map[string]dispatch.HandlerFunc, fallback dispatch.HandlerFunc) dispatch.HandlerFunc {
	if len(byType) == 0 {
		return fallback
	}
	return func(ctx context.Context, m *dispatch.Message) error {
		if h, ok := byType[m.Type]; ok {
			return h(ctx, m)
		}
		return fallback(ctx, m)
	}
}
