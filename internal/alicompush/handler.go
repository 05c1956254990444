package alicompush

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/push/delivery"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// Source is the dispatch.Message Source of every pushed item.
const Source = "alicom-push"

// PathPrefix starts the path of every Alicom push: PathPrefix + message type.
const PathPrefix = "/alicom/"

// Defaults of the zero Config fields.
const (
	DefaultBudget          = 500 * time.Millisecond
	DefaultMaxBodyBytes    = 1 << 20
	DefaultFinalDelivery   = 4
	DefaultItemConcurrency = 8
	DefaultRecordWindow    = 100 * time.Millisecond
)

// Config configures a Handler. Token is required; every other zero field takes the default
// its comment names.
type Config struct {
	// Token is the secret the push URL carries in its token query parameter.
	Token string
	// Budget is the time the handlers of one batch get, counted from the request's arrival;
	// default DefaultBudget. Alicom waits 700 ms for the answer; items not finished by then
	// are answered 503 and come again with Alicom's retry of the batch.
	Budget time.Duration
	// RecordWindow is how long after the Budget an item of Alicom's last push (FinalDelivery)
	// that was not settled within the Budget may take to be settled (recorded on the
	// dead-letter path, as a rule); default DefaultRecordWindow. Alicom does not push such an
	// item again, so answering without recording it would lose it; the window bounds the
	// record, so that a dead-letter write that hangs does not hold the answer. With the
	// default Budget the answer still comes within Alicom's 700 ms.
	RecordWindow time.Duration
	// MaxBodyBytes bounds a batch; default DefaultMaxBodyBytes. A larger Content-Length is
	// refused before the body is read.
	MaxBodyBytes int64
	// FinalDelivery is the delivery of an item (as counted by this instance) treated as
	// Alicom's last: its DequeueCount is raised to MaxAttempts, so that a handler failing
	// then is dead-lettered rather than left to Alicom, which gives up after its schedule.
	// Default DefaultFinalDelivery, the shortest schedule Alicom documents.
	FinalDelivery int64
	// MaxAttempts is the Router's poison threshold (dispatch.Options.MaxAttempts); default
	// dispatch.DefaultMaxAttempts.
	MaxAttempts int64
	// ItemConcurrency bounds the items of one batch dispatched at once; default
	// DefaultItemConcurrency.
	ItemConcurrency int
	// Deliveries counts deliveries per item id; default a counter of its own.
	Deliveries *delivery.Counter
	// Logger receives one line per request; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Budget == 0 {
		c.Budget = DefaultBudget
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.FinalDelivery == 0 {
		c.FinalDelivery = DefaultFinalDelivery
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = dispatch.DefaultMaxAttempts
	}
	if c.ItemConcurrency == 0 {
		c.ItemConcurrency = DefaultItemConcurrency
	}
	if c.RecordWindow == 0 {
		c.RecordWindow = DefaultRecordWindow
	}
	c.Deliveries, c.Logger, c.Now = delivery.Defaults(c.Deliveries, c.Logger, c.Now)
	return c
}

// Validate reports every field that holds an unusable value, never showing the token.
func (c Config) Validate() error {
	var errs []error
	if len(c.Token) < 16 {
		errs = append(errs, fmt.Errorf("alicompush.Config.Token: want at least 16 characters, got %d", len(c.Token)))
	}
	c = c.withDefaults()
	if c.Budget < 0 {
		errs = append(errs, fmt.Errorf("alicompush.Config.Budget: want a positive duration, got %s", c.Budget))
	}
	if c.RecordWindow < 0 {
		errs = append(errs, fmt.Errorf("alicompush.Config.RecordWindow: want a positive duration, got %s", c.RecordWindow))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("alicompush.Config.MaxBodyBytes: want a positive size, got %d", c.MaxBodyBytes))
	}
	if c.FinalDelivery < 0 || c.MaxAttempts < 0 || c.ItemConcurrency < 0 {
		errs = append(errs, fmt.Errorf("alicompush.Config: FinalDelivery, MaxAttempts and ItemConcurrency must be positive, got %d, %d, %d", c.FinalDelivery, c.MaxAttempts, c.ItemConcurrency))
	}
	return errors.Join(errs...)
}

// Handler serves Alicom's HTTP batch push on PathPrefix + message type.
type Handler struct {
	cfg      Config
	token    [sha256.Size]byte
	dispatch delivery.Dispatcher
	known    map[string]string // lower-cased type -> registry spelling
}

// New returns a Handler that dispatches the items of accepted batches to d.
func New(c Config, d delivery.Dispatcher) (*Handler, error) {
	if d == nil {
		return nil, errors.New("alicompush.New: Dispatcher is nil")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	known := map[string]string{}
	for _, t := range alicom.KnownTypes() {
		known[strings.ToLower(t)] = t
	}
	return &Handler{cfg: c, token: sha256.Sum256([]byte(c.Token)), dispatch: d, known: known}, nil
}

// Answer bodies. Alicom checks that code is a number and 0 on success; on failure the status
// alone makes it retry.
var okBody = []byte(`{"code":0,"msg":"接收成功"}`)

var typeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// ServeHTTP answers one push. Everything that can be decided from the request line and the
// headers (token, method, path, content type, declared length) is decided before one byte of
// the body is read.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Now()
	if !h.tokenOK(r) {
		h.answer(w, r, start, http.StatusForbidden, "token missing or wrong", nil)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.answer(w, r, start, http.StatusMethodNotAllowed, "method "+quote(r.Method)+" is not POST", nil)
		return
	}
	messageType, ok := h.messageType(r.URL.Path)
	if !ok {
		h.answer(w, r, start, http.StatusNotFound, "path is not "+PathPrefix+"<MessageType>", nil)
		return
	}
	if reason := contentTypeProblem(r.Header.Get("Content-Type")); reason != "" {
		h.answer(w, r, start, http.StatusUnsupportedMediaType, reason, nil)
		return
	}
	if r.ContentLength > h.cfg.MaxBodyBytes {
		h.answer(w, r, start, http.StatusRequestEntityTooLarge, fmt.Sprintf("Content-Length %d is larger than %d bytes", r.ContentLength, h.cfg.MaxBodyBytes), nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.answer(w, r, start, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", h.cfg.MaxBodyBytes), nil)
		} else {
			h.answer(w, r, start, http.StatusBadRequest, "reading the body: "+err.Error(), nil)
		}
		return
	}
	items, err := ParseBatch(body)
	if err != nil {
		h.answer(w, r, start, http.StatusBadRequest, err.Error(), nil)
		return
	}
	if err := checkType(messageType, items); err != nil {
		status := http.StatusUnprocessableEntity
		if errors.Is(err, ErrNotBatch) {
			status = http.StatusBadRequest
		}
		h.answer(w, r, start, status, err.Error(), nil)
		return
	}
	res := h.deliver(r.Context(), start, messageType, items)
	switch {
	case res.failed > 0:
		h.answer(w, r, start, http.StatusInternalServerError, "handler failed, Alicom will retry the batch: "+res.firstErr.Error(), &res)
	case res.late > 0:
		h.answer(w, r, start, http.StatusServiceUnavailable, "not finished within the budget, Alicom will retry the batch: "+res.firstErr.Error(), &res)
	default:
		h.answer(w, r, start, http.StatusOK, "", &res)
	}
}

// tokenOK compares the token query parameter with the configured one in constant time (of
// their digests, so that not even the length leaks).
func (h *Handler) tokenOK(r *http.Request) bool {
	got := r.URL.Query()["token"]
	if len(got) != 1 {
		return false
	}
	sum := sha256.Sum256([]byte(got[0]))
	return subtle.ConstantTimeCompare(sum[:], h.token[:]) == 1
}

// messageType reads the type from the path; a type of the registry is matched in any case
// and given its registry spelling, any other well-formed name is kept (its items are
// delivered as alicom.Raw, like an unknown type from the queue).
func (h *Handler) messageType(path string) (string, bool) {
	name, ok := strings.CutPrefix(path, PathPrefix)
	if !ok || !typeName.MatchString(name) {
		return "", false
	}
	if t, ok := h.known[strings.ToLower(name)]; ok {
		return t, true
	}
	return name, true
}

// contentTypeProblem accepts application/json in UTF-8 (what Alicom sends, charset optional).
func contentTypeProblem(ct string) string {
	if ct == "" {
		return "Content-Type missing: expected application/json"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return "Content-Type " + quote(ct) + " is not application/json"
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "Content-Type " + quote(ct) + ": expected charset UTF-8"
	}
	return ""
}

// result sums up the items of one batch.
type result struct {
	items, handled, deadLettered, duplicates, failed, late int
	firstErr                                               error
}

// deliver dispatches the items, at most ItemConcurrency at once, each within what is left of
// the budget (and, on Alicom's last push, of the record window after it: see deliverItem).
// An item the batch holds twice is dispatched once.
func (h *Handler) deliver(ctx context.Context, start time.Time, messageType string, items []json.RawMessage) result {
	deadline := start.Add(h.cfg.Budget)
	recordBy := deadline.Add(h.cfg.RecordWindow)
	res := result{items: len(items)}
	var mu sync.Mutex
	note := func(o dispatch.Outcome, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch o {
		case dispatch.Handled:
			res.handled++
		case dispatch.DeadLettered:
			res.deadLettered++
		case dispatch.Duplicate:
			res.duplicates++
		default:
			if err == nil {
				err = errors.New("the dispatcher kept an item without saying why")
			}
			if errors.Is(err, delivery.ErrBudget) || errors.Is(err, dispatch.ErrInFlight) {
				res.late++
			} else {
				res.failed++
			}
			if res.firstErr == nil {
				res.firstErr = err
			}
		}
	}
	seen := make(map[string]bool, len(items))
	sem := make(chan struct{}, h.cfg.ItemConcurrency)
	var wg sync.WaitGroup
	for _, raw := range items {
		payload, id := identify(messageType, raw)
		if seen[id] {
			note(dispatch.Duplicate, nil)
			continue
		}
		seen[id] = true
		m := h.message(messageType, id, payload, raw)
		sem <- struct{}{}
		left := deadline.Sub(h.cfg.Now())
		if left <= 0 {
			<-sem
			err := fmt.Errorf("%w (%s, item %s not started)", delivery.ErrBudget, h.cfg.Budget, m.ID)
			if m.FinalDelivery {
				h.notRecorded(ctx, m, err)
			}
			note(dispatch.Retry, err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			note(h.deliverItem(ctx, m, left, recordBy))
		}()
	}
	wg.Wait()
	return res
}

// deliverItem dispatches one item within left and returns its result.
//
// On Alicom's last push (m.FinalDelivery) an item that is not settled when the answer goes out
// is lost: Alicom does not push it again. The Router dead-letters any failure of a final
// delivery, but not one that ends because the context is done (dispatch.Poison keeps it, and
// dispatch.DeadLetter could not write with that context anyway), which is how an item over the
// budget ends. So when the item's budget has run out, it is dispatched once more, until
// recordBy, with a context of its own that Alicom hanging up does not end:
//
//   - a handler still running (abandoned at the budget) holds the item in flight, so the Router
//     does not run it again but dead-letters the item (the attempt limit is reached) and
//     records it with that context: DeadLettered, the answer can be 200;
//   - a handler that has ended meanwhile with success makes the item a Duplicate; one that
//     ended with an error (it honoured its context) runs once more, and its result stands;
//   - a record that fails or is not done by recordBy leaves the item Retry: the answer fails.
//
// A final item still not settled is written to the log with its body (notRecorded), so that
// it is never dropped without a trace.
func (h *Handler) deliverItem(ctx context.Context, m *dispatch.Message, left time.Duration, recordBy time.Time) (dispatch.Outcome, error) {
	if !m.FinalDelivery {
		return delivery.Dispatch(ctx, h.dispatch, m, left)
	}
	// A second dispatch gets a copy, made before the first starts: the Router writes to the
	// message it dispatches (Decode fills Key), and a handler abandoned at the budget may
	// still be reading m.
	again := *m
	budget, cancel := context.WithTimeoutCause(ctx, left, delivery.ErrBudget)
	o, err := delivery.Dispatch(budget, h.dispatch, m, left)
	ranOut := budget.Err() != nil
	cancel()
	if o == dispatch.Retry && ranOut {
		o, err = h.settle(ctx, &again, recordBy, err)
	}
	if o == dispatch.Retry {
		h.notRecorded(ctx, &again, err)
	}
	return o, err
}

// settle dispatches a final item whose budget ran out once more, until recordBy, so that the
// Router can record it (see deliverItem). The context is detached from the request's: the
// record matters most when Alicom has stopped waiting, and the window bounds it instead.
// last is the first dispatch's error, kept in the text of a failure.
func (h *Handler) settle(ctx context.Context, m *dispatch.Message, recordBy time.Time, last error) (dispatch.Outcome, error) {
	left := recordBy.Sub(h.cfg.Now())
	if left <= 0 {
		return dispatch.Retry, fmt.Errorf("%w; no time was left to record item %s on the dead-letter path", last, m.ID)
	}
	o, err := delivery.Dispatch(context.WithoutCancel(ctx), h.dispatch, m, left)
	if o == dispatch.Retry {
		if err == nil {
			err = errors.New("the dispatcher kept an item without saying why")
		}
		return o, fmt.Errorf("settling item %s after its budget ran out: %w (first dispatch: %v)", m.ID, err, last)
	}
	return o, err
}

// notRecorded writes an item of Alicom's last push that is neither handled nor recorded on the
// dead-letter path to the log, with its body and why: Alicom will not push it again, so this
// line is all that is left of it. Like the log sink's records it goes straight to the log
// handler, whatever the log level, because it is data, not a diagnostic.
func (h *Handler) notRecorded(ctx context.Context, m *dispatch.Message, reason error) {
	if reason == nil {
		reason = errors.New("the dispatcher kept an item without saying why")
	}
	rec := slog.NewRecord(h.cfg.Now(), slog.LevelError, "alicom push item not recorded", 0)
	rec.AddAttrs(
		slog.String("message_type", m.Type),
		slog.String("message_id", m.ID),
		slog.Int64("dequeue_count", m.DequeueCount),
		slog.String("source", m.Source),
		slog.String("reason", reason.Error()),
		slog.String("body", m.Body),
	)
	_ = h.cfg.Logger.Handler().Handle(context.WithoutCancel(ctx), rec) // nothing is left to tell of a failure
}

// identify parses an item and names it. A payload that does not parse is left nil for the
// Router, which dead-letters it with the decode error, as it would the same body from the
// queue.
func identify(messageType string, raw json.RawMessage) (payload any, id string) {
	payload, err := alicom.Parse(messageType, raw)
	if err != nil {
		payload = nil
	}
	return payload, itemID(messageType, payload, raw)
}

// message builds the dispatch.Message of one item, shaped like one from the queue, and counts
// the delivery.
func (h *Handler) message(messageType, id string, payload any, raw json.RawMessage) *dispatch.Message {
	count, first := h.cfg.Deliveries.Seen(id, h.cfg.Now())
	final := count >= h.cfg.FinalDelivery
	if final && count < h.cfg.MaxAttempts {
		count = h.cfg.MaxAttempts
	}
	return &dispatch.Message{
		ID:               id,
		Type:             messageType,
		Source:           Source,
		Body:             base64.StdEncoding.EncodeToString(raw),
		DequeueCount:     count,
		EnqueueTime:      first,
		FirstDequeueTime: first,
		Data:             raw,
		Payload:          payload,
		FinalDelivery:    final,
	}
}

// answer writes the status with its JSON body and logs the request in one line: the path
// without its query (which holds the token), never the token.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, start time.Time, status int, reason string, res *result) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if status == http.StatusOK {
		w.Write(okBody)
	} else {
		b, _ := json.Marshal(struct {
			Code int    `json:"code"`
			Msg  string `json:"msg"`
		}{status, http.StatusText(status)})
		w.Write(b)
	}
	attrs := []slog.Attr{
		slog.Int("status", status),
		slog.String("path", quote(r.URL.Path)),
		slog.String("remote", quote(r.RemoteAddr)),
		slog.Int64("duration_ms", h.cfg.Now().Sub(start).Milliseconds()),
	}
	if res != nil {
		attrs = append(attrs, slog.Int("items", res.items), slog.Int("handled", res.handled),
			slog.Int("dead_lettered", res.deadLettered), slog.Int("duplicates", res.duplicates),
			slog.Int("failed", res.failed), slog.Int("late", res.late))
	}
	level, msg := slog.LevelInfo, "alicom push"
	switch {
	case status >= 500:
		level, msg = slog.LevelError, "alicom push not handled"
	case status >= 400:
		level, msg = slog.LevelWarn, "alicom push refused"
	}
	if reason != "" {
		attrs = append(attrs, slog.String("reason", reason))
	}
	h.cfg.Logger.LogAttrs(r.Context(), level, msg, attrs...)
}
