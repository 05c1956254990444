// Package push is the push function's one http.Handler: it routes Alicom's HTTP batch push
// (PathPrefix /alicom/<MessageType>, package alicompush) and MNS topic push (every other path,
// package mnspush) to the same dispatcher, and bounds the requests served at once, so that
// memory stays bounded whatever the number of clients.
//
// Wiring (the function's main, through the platform layer):
//
//	pc, err := config.LoadPush(os.Getenv)
//	c := push.ConfigFrom(pc)
//	c.Alicom.MaxAttempts = routerOptions.MaxAttempts // the Router's poison threshold
//	h, err := push.New(c, router, logger)
//	// serve h: FC HTTP trigger, Lambda function URL or -listen ADDR
package push

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/alicompush"
	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/mnspush"
	"github.com/alicom-drain/alicom-drain/internal/push/delivery"
)

// Dispatcher hands a message to its handler; *dispatch.Router satisfies it.
type Dispatcher = delivery.Dispatcher

// Defaults of the zero Config fields.
const (
	DefaultMaxConcurrent = config.DefaultPushMaxConcurrent
	// DefaultSlotWait is how long a request waits for a free slot before it is answered 503.
	DefaultSlotWait = 100 * time.Millisecond
)

// Config configures the push handler. The zero value serves MNS topic push only, with every
// default.
type Config struct {
	// Alicom configures the Alicom route; an empty Alicom.Token turns the route off (404).
	Alicom alicompush.Config
	// MNS configures MNS topic push verification.
	MNS mnspush.Config
	// MaxConcurrent bounds the requests served at once; default DefaultMaxConcurrent.
	MaxConcurrent int
	// SlotWait is how long a request over the bound waits for a slot; default DefaultSlotWait.
	SlotWait time.Duration
}

// ConfigFrom turns the settings read from the environment into a Config.
func ConfigFrom(s config.PushConfig) Config {
	return Config{
		Alicom: alicompush.Config{
			Token:         s.AlicomToken,
			Budget:        s.AlicomBudget,
			MaxBodyBytes:  s.AlicomMaxBody,
			FinalDelivery: s.AlicomFinalDelivery,
		},
		MNS: mnspush.Config{
			CertURLAllow:       s.MNSCertURLAllow,
			DateWindow:         s.MNSDateWindow,
			CertFetchTimeout:   s.MNSCertFetchTimeout,
			SuccessStatus:      s.MNSSuccessStatus,
			Format:             s.MNSFormat,
			HandlerTimeout:     s.MNSHandlerTimeout,
			DefaultMessageType: s.MNSDefaultMessageType,
		},
		MaxConcurrent: s.MaxConcurrent,
	}
}

// MaxBodyBytes is the largest body either route accepts, with the defaults applied: what the
// platform edge in front of the handler must let through. Each route refuses a larger body
// itself, and the Alicom route refuses a wrong token before reading any.
func (c Config) MaxBodyBytes() int64 {
	alicom, mns := c.Alicom.MaxBodyBytes, c.MNS.MaxBodyBytes
	if alicom <= 0 {
		alicom = alicompush.DefaultMaxBodyBytes
	}
	if mns <= 0 {
		mns = mnspush.DefaultMaxBodyBytes
	}
	return max(alicom, mns)
}

// Validate reports every field that holds an unusable value.
func (c Config) Validate() error {
	var errs []error
	if c.Alicom.Token != "" {
		errs = append(errs, c.Alicom.Validate())
	}
	errs = append(errs, c.MNS.Validate())
	if c.MaxConcurrent < 0 {
		errs = append(errs, errors.New("push.Config.MaxConcurrent: want a positive number"))
	}
	if c.SlotWait < 0 {
		errs = append(errs, errors.New("push.Config.SlotWait: want a positive duration"))
	}
	return errors.Join(errs...)
}

// handler is the push function's http.Handler.
type handler struct {
	alicom   http.Handler // nil when the route is off
	mns      http.Handler
	slots    chan struct{}
	slotWait time.Duration
	logger   *slog.Logger
}

// New returns the push function's handler: requests under alicompush.PathPrefix go to the
// Alicom receiver, all others to the MNS topic push receiver, both dispatching to d. logger
// receives every request's line (nil: slog.Default()), unless the receiver configs name
// their own. The two receivers share one delivery counter.
func New(c Config, d Dispatcher, logger *slog.Logger) (http.Handler, error) {
	if d == nil {
		return nil, errors.New("push.New: Dispatcher is nil")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.SlotWait == 0 {
		c.SlotWait = DefaultSlotWait
	}
	counter := delivery.NewCounter(0)
	if c.MNS.Logger == nil {
		c.MNS.Logger = logger
	}
	if c.MNS.Deliveries == nil {
		c.MNS.Deliveries = counter
	}
	mns, err := mnspush.New(c.MNS, d)
	if err != nil {
		return nil, err
	}
	h := &handler{mns: mns, slots: make(chan struct{}, c.MaxConcurrent), slotWait: c.SlotWait, logger: logger}
	if c.Alicom.Token != "" {
		if c.Alicom.Logger == nil {
			c.Alicom.Logger = logger
		}
		if c.Alicom.Deliveries == nil {
			c.Alicom.Deliveries = counter
		}
		if h.alicom, err = alicompush.New(c.Alicom, d); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// ServeHTTP takes a slot, then routes. Neither step reads the body.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.acquire(r.Context()) {
		h.logger.LogAttrs(r.Context(), slog.LevelWarn, "push refused: too many requests at once",
			slog.Int("status", http.StatusServiceUnavailable), slog.Int("max_concurrent", cap(h.slots)))
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests at once", http.StatusServiceUnavailable)
		return
	}
	defer func() { <-h.slots }()
	if strings.HasPrefix(r.URL.Path, alicompush.PathPrefix) || r.URL.Path == strings.TrimSuffix(alicompush.PathPrefix, "/") {
		if h.alicom == nil {
			h.logger.LogAttrs(r.Context(), slog.LevelWarn, "alicom push refused: the route is off because ALICOM_PUSH_TOKEN is not set",
				slog.Int("status", http.StatusNotFound))
			http.NotFound(w, r)
			return
		}
		h.alicom.ServeHTTP(w, r)
		return
	}
	h.mns.ServeHTTP(w, r)
}

// acquire takes a slot, waiting at most slotWait.
func (h *handler) acquire(ctx context.Context) bool {
	select {
	case h.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(h.slotWait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}
