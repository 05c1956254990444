package app

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/mnspush"
	"github.com/alicom-drain/alicom-drain/internal/platform"
	"github.com/alicom-drain/alicom-drain/internal/push"
	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// The push function's time budget. MNS gives up on a topic push after 5 seconds and retries it;
// an answer that comes later is wasted and the handler runs twice. So a request ends after
// PushRequestTimeout, and a handler after PushHandlerTimeout, leaving time to answer.
const (
	PushRequestTimeout = 4500 * time.Millisecond
	PushHandlerTimeout = 4 * time.Second
)

const pushAbout = `Serves the push endpoint over plain HTTP, as the HTTP trigger (Function Compute) or the function
URL (Lambda) would: Alicom's HTTP batch push on POST /alicom/<MessageType>?token=<ALICOM_PUSH_TOKEN>
(off while ALICOM_PUSH_TOKEN is unset), and MNS topic pushes on every other path, verified by
their signature. Each message goes through the same router, dead-letter path and sinks as the
drain. Settings come from the environment: ALICOM_PUSH_*, MNS_CERT_URL_ALLOW, MNS_PUSH_*,
PUSH_MAX_CONCURRENT, ALICOM_SINK, DRAIN_MAX_ATTEMPTS, DRAIN_HANDLER_TIMEOUT (at most 4s here),
LOG_LEVEL (see docs/push.md).`

// MainHTTP is the whole of the push function's main: it loads the configuration, lets register
// add handlers to the router (nil keeps the default log handler for every type), builds the push
// endpoint's handler and serves it on the platform it finds (locally on -listen ADDR). A
// configuration problem is reported at start the way Main reports it.
func MainHTTP(register func(r *dispatch.Router)) {
	where := platform.Detect(os.Getenv)
	if where == platform.Local && platform.HelpRequested(os.Args[1:]) {
		platform.StartHTTP(nil, platform.HTTPOptions{Options: platform.Options{About: pushAbout}})
	}
	cfg, logger, opts := start(where, pushAbout, false)
	creds, _, err := credentialSource(cfg, where)
	if err != nil {
		platform.StartFailed(ConfigFailure(err), opts)
	}
	router, err := newPushRouter(cfg, logger, creds)
	if err != nil {
		platform.StartFailed(platform.Fail(platform.ConfigError, err), opts)
	}
	if register != nil {
		register(router)
	}
	var accessLog io.Writer
	if where == platform.Local {
		accessLog = os.Stdout
	}
	h, err := NewPushHandler(cfg, router, logger, accessLog)
	if err != nil {
		platform.StartFailed(ConfigFailure(err), opts)
	}
	platform.StartHTTP(h, platform.HTTPOptions{
		Options:      opts,
		Timeout:      PushRequestTimeout,
		MaxBodyBytes: push.ConfigFrom(cfg.Push).MaxBodyBytes(),
		Banner: func(w io.Writer, addr string) {
			// The topic push guide's endpoint prints the address to subscribe the same way.
			fmt.Fprintf(w, "Start Endpoint! Address: http://%s/notifications\n", addr)
		},
	})
}

// NewPushRouter is NewRouter with the handler timeout capped to fit the push budget.
func NewPushRouter(cfg config.Config, logger *slog.Logger) (*dispatch.Router, error) {
	return newPushRouter(cfg, logger, token.DefaultChain(os.Getenv))
}

// newPushRouter is NewPushRouter whose MNS forward sink signs with creds: MainHTTP gives it the
// same credential source as the drain's (credentialSource).
func newPushRouter(cfg config.Config, logger *slog.Logger, creds token.CredentialSource) (*dispatch.Router, error) {
	cfg.HandlerTimeout = min(cfg.HandlerTimeout, PushHandlerTimeout)
	cfg.MaxAttempts = pushMaxAttempts(cfg)
	r, _, err := newSinkRouter(cfg, cfg.Sink, logger, creds)
	return r, err
}

// pushMaxAttempts is the push router's poison threshold: DRAIN_MAX_ATTEMPTS, but no more than
// MNS delivers a topic push under its default strategy. A topic push carries no delivery count,
// so the router counts the deliveries it sees; a threshold past MNS's last delivery would never
// be reached, and a message whose handler keeps failing would be dropped by MNS unrecorded.
func pushMaxAttempts(cfg config.Config) int64 {
	return min(cfg.MaxAttempts, mnspush.BackoffRetryDeliveries)
}

// NewPushHandler builds the push function's net/http.Handler around router: Alicom's HTTP batch
// push on /alicom/<MessageType> (when ALICOM_PUSH_TOKEN is set) and MNS topic push on every other
// path. accessLog, when set, receives the topic push guide's access-log lines (local mode);
// otherwise the same fields go to logger.
func NewPushHandler(cfg config.Config, router *dispatch.Router, logger *slog.Logger, accessLog io.Writer) (http.Handler, error) {
	pc := push.ConfigFrom(cfg.Push)
	pc.MNS.Logger = logger
	pc.MNS.AccessLog = accessLog
	pc.Alicom.MaxAttempts = pushMaxAttempts(cfg)
	return push.New(pc, router, logger)
}
