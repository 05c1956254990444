// Command mnslocal serves the local MNS + Dybaseapi emulator (package shared/mnslocal) on
// one address: the MNS queue REST API under /queues/..., topics with signed HTTP push under
// /topics/..., the Dybaseapi RPC (QueryTokenForMnsQueue) at /, JSON stats at
// /_mnslocal/stats and the push signing certificate at /_mnslocal/cert.pem.
//
//	go run ./cmd/mnslocal -log-level debug
//
// It stops cleanly on SIGINT or SIGTERM. See docs/mnslocal.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		// The emulator's own errors already say "mnslocal:".
		msg := err.Error()
		if !strings.HasPrefix(msg, "mnslocal: ") {
			msg = "mnslocal: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(2)
	}
}

func run(args []string, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr, os.Getenv)
	if err != nil {
		return err
	}
	srv, err := mnslocal.Start(cfg)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w\n  another emulator (or another program) is serving %s: stop it, or choose another address with -addr 127.0.0.1:PORT "+
			"and point ALICOM_MNS_ENDPOINT and ALICOM_DYBASEAPI_ENDPOINT at http://127.0.0.1:PORT", err, cfg.Addr)
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	cfg.Logger.Info("mnslocal: shutting down")
	return srv.Close()
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseFlags turns the command line into a validated Config. The secret may also come
// from MNSLOCAL_ACCESS_KEY_SECRET, to keep it out of the process list.
func parseFlags(args []string, stderr io.Writer, getenv func(string) string) (mnslocal.Config, error) {
	fs := flag.NewFlagSet("mnslocal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg          mnslocal.Config
		messageTypes string
		queues       listFlag
		faults       listFlag
		logLevel     string
	)
	fs.StringVar(&cfg.Addr, "addr", mnslocal.DefaultAddr, "listen address (host:port; port 0 picks a free one)")
	fs.StringVar(&cfg.AccessKeyID, "access-key-id", mnslocal.DefaultAccessKeyID, "customer AccessKeyId the emulator accepts")
	fs.StringVar(&cfg.AccessKeySecret, "access-key-secret", "", "customer AccessKeySecret (default $MNSLOCAL_ACCESS_KEY_SECRET, else "+mnslocal.DefaultAccessKeySecret+")")
	fs.StringVar(&cfg.AlicomUID, "alicom-uid", mnslocal.DefaultAlicomUID, "account id in Alicom queue names Alicom-Queue-<uid>-<type>")
	fs.StringVar(&messageTypes, "message-types", strings.Join(mnslocal.DefaultMessageTypes, ","), "comma-separated Alicom message types whose queues exist at start (empty: none)")
	fs.Var(&queues, "queue", "plain queue to create at start (repeatable)")
	fs.DurationVar(&cfg.TokenTTL, "token-ttl", mnslocal.DefaultTokenTTL, "lifetime of the STS tokens QueryTokenForMnsQueue issues")
	fs.DurationVar(&cfg.VisibilityTimeout, "visibility-timeout", mnslocal.DefaultVisibilityTimeout, "visibility timeout of the queues created at start")
	fs.IntVar(&cfg.PollingWaitSeconds, "polling-wait-seconds", 0, "PollingWaitSeconds of the queues created at start (0..30)")
	fs.DurationVar(&cfg.Latency, "latency", 0, "delay added to every request")
	fs.DurationVar(&cfg.Jitter, "jitter", 0, "random extra delay in [0, jitter) added to every request")
	fs.Var(&faults, "fault", "inject faults: Operation=rate:kind[:stall], kind 500|drop|stall, e.g. BatchReceiveMessage=0.1:500 (repeatable)")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed for fault decisions and jitter")
	fs.Float64Var(&cfg.PushRetryScale, "push-retry-scale", 1, "multiplies the waits between topic push retries (0.01: BACKOFF_RETRY's 10-20 s become 100-200 ms)")
	fs.StringVar(&logLevel, "log-level", "info", "debug (a line per request), info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.AccessKeySecret == "" {
		cfg.AccessKeySecret = getenv("MNSLOCAL_ACCESS_KEY_SECRET")
	}
	if cfg.AccessKeySecret == "" && cfg.AccessKeyID == mnslocal.DefaultAccessKeyID {
		cfg.AccessKeySecret = mnslocal.DefaultAccessKeySecret
	}
	if cfg.AccessKeySecret == "" {
		return cfg, fmt.Errorf("-access-key-id %q needs -access-key-secret or MNSLOCAL_ACCESS_KEY_SECRET", cfg.AccessKeyID)
	}
	cfg.MessageTypes = []string{}
	for _, t := range strings.Split(messageTypes, ",") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.MessageTypes = append(cfg.MessageTypes, t)
		}
	}
	cfg.Queues = queues
	if len(faults) > 0 {
		cfg.Faults = make(map[string]mnslocal.Fault, len(faults))
		for _, f := range faults {
			op, fault, err := mnslocal.ParseFault(f)
			if err != nil {
				return cfg, fmt.Errorf("-fault: %w", err)
			}
			cfg.Faults[op] = fault
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return cfg, fmt.Errorf("-log-level %q: want debug, info, warn or error", logLevel)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	if cfg.TokenTTL < time.Second {
		return cfg, fmt.Errorf("-token-ttl %v: want at least 1s", cfg.TokenTTL)
	}
	return cfg, nil
}
