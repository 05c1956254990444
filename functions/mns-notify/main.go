// Command mns-notify is the MNS topic push endpoint: an HTTP-triggered function that verifies
// each push (see internal/mnspush and docs/push.md) and hands the message to the same dispatch as
// the drain. It runs under Function Compute 3.0 (HTTP trigger, runtime go1, binary main) when
// FC_RUNTIME_API is set, under AWS Lambda (function URL, provided.al2023, binary bootstrap)
// when AWS_LAMBDA_RUNTIME_API is set, and otherwise as a plain HTTP server, like the topic push guide's
// simple_http_notify_endpoint.py:
//
//	MNS_CERT_URL_ALLOW=http://127.0.0.1:9911/_mnslocal/ go run ./functions/mns-notify -listen 127.0.0.1:8080
//
// Every message is logged as one JSON line by the default handler; register your own handlers
// in registerHandlers.
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
	"syscall"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/mnspush"
	"github.com/alicom-drain/alicom-drain/internal/push"
	"github.com/alicom-drain/alicom-drain/internal/sink"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// registerHandlers is where a deployment adds its own handlers, by message type:
//
//	r.Handle("SmsReport", func(ctx context.Context, m *dispatch.Message) error {
//		report := m.Payload.(alicom.SmsReport)
//		...
//	})
//
// Types without a handler go to the log sink.
func registerHandlers(r *dispatch.Router) {}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run builds the endpoint and serves it on the platform the environment names; locally it
// returns when ctx ends. The result is the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mns-notify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "local mode: address to serve plain HTTP on")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mns-notify [-listen ADDR]   (configuration from MNS_CERT_URL_ALLOW, MNS_PUSH_*, ALICOM_PUSH_MESSAGE_TYPE; see docs/push.md)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	local := getenv("FC_RUNTIME_API") == "" && getenv("AWS_LAMBDA_RUNTIME_API") == ""
	ep, err := newEndpoint(getenv, logger, stdout, local)
	if err != nil {
		logger.Error("configuration is invalid", "error", err.Error())
		return 2
	}
	// The platform checks are inlined rather than taken from internal/platform: this function's
	// events are HTTP requests, which that package does not convert.
	switch {
	case getenv("FC_RUNTIME_API") != "":
		fc.Start(fcHandler(ep))
	case getenv("AWS_LAMBDA_RUNTIME_API") != "":
		lambda.Start(lambdaHandler(ep))
	default:
		if err := serveLocal(ctx, *listen, ep, stdout); err != nil {
			logger.Error("serve", "error", err.Error())
			return 1
		}
	}
	return 0
}

// newEndpoint wires configuration, router and endpoint. Locally the access log goes to
// stdout in the topic push guide's format; on the platforms it is a JSON log line like everything else.
func newEndpoint(getenv func(string) string, logger *slog.Logger, stdout io.Writer, local bool) (*mnspush.Endpoint, error) {
	pc, err := config.LoadPush(getenv)
	if err != nil {
		return nil, err
	}
	cfg := push.ConfigFrom(pc).MNS
	cfg.Logger = logger
	if local {
		cfg.AccessLog = stdout
	}
	router, err := dispatch.NewRouter(dispatch.Options{
		Fallback:   sink.Log(logger),
		DeadLetter: sink.DeadLetterLog(logger),
		Logger:     logger,
	})
	if err != nil {
		return nil, err
	}
	registerHandlers(router)
	return mnspush.New(cfg, router)
}
