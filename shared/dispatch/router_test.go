package dispatch

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

const smsReportJSON = `{"phone_number":"13000000000","success":true,"biz_id":"900619746936498440^0","out_id":"123456","send_time":"2017-06-01 10:00:00","report_time":"2017-06-01 10:00:05","err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1"}`

// newMessage returns a message as the drain would build it from a queue receive.
func newMessage(id, typ, jsonBody string, dequeueCount int64) *Message {
	body := base64.StdEncoding.EncodeToString([]byte(jsonBody))
	return &Message{
		ID: id, Type: typ, Source: "Alicom-Queue-1092397003988387-" + typ,
		Body: body, BodyMD5: md5Hex(body), DequeueCount: dequeueCount,
		EnqueueTime: time.Date(2017, 6, 1, 2, 0, 6, 0, time.UTC),
	}
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// deadLetters records what reached the dead-letter path.
type deadLetters struct {
	mu      sync.Mutex
	ids     []string
	reasons []error
	data    [][]byte
	fail    error // returned when set
	panics  bool
}

func (d *deadLetters) record(_ context.Context, m *Message, reason error) error {
	if d.panics {
		panic("dead-letter store exploded")
	}
	if d.fail != nil {
		return d.fail
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids = append(d.ids, m.ID)
	d.reasons = append(d.reasons, reason)
	d.data = append(d.data, m.Data)
	return nil
}

func (d *deadLetters) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.ids)
}

func mustRouter(t testing.TB, opts Options) *Router {
	t.Helper()
	if opts.DeadLetter == nil {
		opts.DeadLetter = (&deadLetters{}).record
	}
	r, err := NewRouter(opts)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	return r
}

var errDatabaseDown = errors.New("database down")

func TestDispatchOutcomes(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		msg         *Message
		deadLetters *deadLetters
		handler     HandlerFunc // registered for SmsReport when set
		wantOutcome Outcome
		wantErr     []error // each must match errors.Is (or errors.As for *PanicError)
		wantCalls   int32
		wantDead    int
	}{
		{
			name:        "a handler that succeeds has its message handled",
			msg:         newMessage("m1", "SmsReport", smsReportJSON, 1),
			handler:     func(context.Context, *Message) error { return nil },
			wantOutcome: Handled, wantCalls: 1,
		},
		{
			name: "a body whose MD5 does not match is kept for redelivery without running the handler",
			msg: func() *Message {
				m := newMessage("m1", "SmsReport", smsReportJSON, 1)
				m.BodyMD5 = md5Hex("other")
				return m
			}(),
			handler:     func(context.Context, *Message) error { return nil },
			wantOutcome: Retry, wantErr: []error{alicom.ErrMD5Mismatch},
		},
		{
			name:        "a body that is not base64 is dead-lettered at once",
			msg:         &Message{ID: "m1", Type: "SmsReport", Body: "not base64!", DequeueCount: 1},
			handler:     func(context.Context, *Message) error { return nil },
			wantOutcome: DeadLettered, wantErr: []error{alicom.ErrBase64}, wantDead: 1,
		},
		{
			name:        "a body that is not a JSON object is dead-lettered at once",
			msg:         newMessage("m1", "SmsReport", `["x"]`, 1),
			handler:     func(context.Context, *Message) error { return nil },
			wantOutcome: DeadLettered, wantErr: []error{alicom.ErrNotJSON}, wantDead: 1,
		},
		{
			name:        "a body whose fields do not fit its type is dead-lettered at once",
			msg:         newMessage("m1", "SmsReport", `{"success":"perhaps"}`, 1),
			handler:     func(context.Context, *Message) error { return nil },
			wantOutcome: DeadLettered, wantErr: []error{alicom.ErrFields}, wantDead: 1,
		},
		{
			name:        "a handler error below the attempt limit keeps the message for redelivery",
			msg:         newMessage("m1", "SmsReport", smsReportJSON, 4),
			handler:     func(context.Context, *Message) error { return errDatabaseDown },
			wantOutcome: Retry, wantErr: []error{errDatabaseDown}, wantCalls: 1,
		},
		{
			name:        "a handler error on the last allowed delivery dead-letters the message",
			msg:         newMessage("m1", "SmsReport", smsReportJSON, 5),
			handler:     func(context.Context, *Message) error { return errDatabaseDown },
			wantOutcome: DeadLettered, wantErr: []error{ErrAttemptsExhausted, errDatabaseDown}, wantCalls: 1, wantDead: 1,
		},
		{
			name:        "a handler error past the attempt limit dead-letters the message",
			msg:         newMessage("m1", "SmsReport", smsReportJSON, 12),
			handler:     func(context.Context, *Message) error { return errDatabaseDown },
			wantOutcome: DeadLettered, wantErr: []error{ErrAttemptsExhausted}, wantCalls: 1, wantDead: 1,
		},
		{
			name:        "a lower attempt limit dead-letters sooner",
			opts:        Options{MaxAttempts: 1},
			msg:         newMessage("m1", "SmsReport", smsReportJSON, 1),
			handler:     func(context.Context, *Message) error { return errDatabaseDown },
			wantOutcome: DeadLettered, wantErr: []error{ErrAttemptsExhausted}, wantCalls: 1, wantDead: 1,
		},
		{
			name:        "a message whose delivery count is unknown is never exhausted",
			msg:         newMessage("m1", "SmsReport", smsReportJSON, 0),
			handler:     func(context.Context, *Message) error { return errDatabaseDown },
			wantOutcome: Retry, wantErr: []error{errDatabaseDown}, wantCalls: 1,
		},
		{
			name:        "a permanent error dead-letters the message on its first delivery",
			msg:         newMessage("m1", "SmsReport", smsReportJSON, 1),
			handler:     func(context.Context, *Message) error { return Permanent(errors.New("unknown biz_id")) },
			wantOutcome: DeadLettered, wantCalls: 1, wantDead: 1,
		},
		{
			name:        "a panicking handler keeps the message for redelivery with the panic as error",
			msg:         newMessage("m1", "SmsReport", smsReportJSON, 1),
			handler:     func(context.Context, *Message) error { panic("nil map write") },
			wantOutcome: Retry, wantErr: []error{&PanicError{}}, wantCalls: 1,
		},
		{
			name:        "a handler that keeps panicking is dead-lettered when its attempts run out",
			msg:         newMessage("m1", "SmsReport", smsReportJSON, 5),
			handler:     func(context.Context, *Message) error { panic(errDatabaseDown) },
			wantOutcome: DeadLettered, wantErr: []error{ErrAttemptsExhausted, &PanicError{}, errDatabaseDown}, wantCalls: 1, wantDead: 1,
		},
		{
			name: "a handler that outlives its timeout keeps the message for redelivery",
			opts: Options{HandlerTimeout: 20 * time.Millisecond},
			msg:  newMessage("m1", "SmsReport", smsReportJSON, 1),
			handler: func(ctx context.Context, _ *Message) error {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Minute):
					return errors.New("the handler's context was never cancelled")
				}
			},
			wantOutcome: Retry, wantErr: []error{ErrHandlerTimeout, context.DeadlineExceeded}, wantCalls: 1,
		},
		{
			name:        "a dead-letter function that fails keeps the message",
			msg:         newMessage("m1", "SmsReport", smsReportJSON, 1),
			deadLetters: &deadLetters{fail: errors.New("log store unavailable")},
			handler:     func(context.Context, *Message) error { return Permanent(errDatabaseDown) },
			wantOutcome: Retry, wantErr: []error{ErrDeadLetterFailed, errDatabaseDown}, wantCalls: 1,
		},
		{
			name:        "a dead-letter function that panics keeps the message",
			msg:         newMessage("m1", "SmsReport", `{"success":"perhaps"}`, 1),
			deadLetters: &deadLetters{panics: true},
			wantOutcome: Retry, wantErr: []error{ErrDeadLetterFailed, &PanicError{}, alicom.ErrFields},
		},
		{
			name:        "a type with no handler goes to the dead-letter path by default",
			msg:         newMessage("m1", "FlowReport", `{"out_id":"x"}`, 1),
			wantOutcome: DeadLettered, wantErr: []error{ErrNoHandler}, wantDead: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl := tt.deadLetters
			if dl == nil {
				dl = &deadLetters{}
			}
			tt.opts.DeadLetter = dl.record
			r := mustRouter(t, tt.opts)
			var calls atomic.Int32
			if tt.handler != nil {
				r.Handle("SmsReport", func(ctx context.Context, m *Message) error {
					calls.Add(1)
					return tt.handler(ctx, m)
				})
			}
			out, err := r.Dispatch(context.Background(), tt.msg)
			if out != tt.wantOutcome {
				t.Errorf("outcome = %v (err %v), want %v", out, err, tt.wantOutcome)
			}
			for _, want := range tt.wantErr {
				var pe *PanicError
				if _, isPanic := want.(*PanicError); isPanic {
					if !errors.As(err, &pe) {
						t.Errorf("err = %v, want a *PanicError in it", err)
					}
					continue
				}
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to wrap %v", err, want)
				}
			}
			if (out == Retry || out == DeadLettered) && err == nil {
				t.Errorf("outcome %v came without an error", out)
			}
			if out == Handled && err != nil {
				t.Errorf("Handled came with error %v", err)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("handler ran %d times, want %d", got, tt.wantCalls)
			}
			if got := dl.count(); got != tt.wantDead {
				t.Errorf("dead-lettered %d times, want %d", got, tt.wantDead)
			}
			if out == DeadLettered && dl.count() > 0 && dl.reasons[0] != err {
				t.Errorf("dead-letter reason %v differs from the returned error %v", dl.reasons[0], err)
			}
		})
	}
}

func TestAPanicErrorSaysWhereTheHandlerPanicked(t *testing.T) {
	r := mustRouter(t, Options{})
	r.Handle("SmsReport", panickingHandler)
	_, err := r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 1))
	var pe *PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *PanicError", err)
	}
	if pe.Value != "index out of range in test" {
		t.Errorf("Value = %v", pe.Value)
	}
	if !strings.Contains(pe.Stack, "panickingHandler") || !strings.Contains(err.Error(), "panickingHandler") {
		t.Errorf("stack %q / error %q do not name panickingHandler", pe.Stack, err)
	}
	if strings.Contains(pe.Stack, "runtime.gopanic") {
		t.Errorf("stack %q keeps the runtime's frames", pe.Stack)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q spans lines", err)
	}
}

func panickingHandler(context.Context, *Message) error { panic("index out of range in test") }

func TestTheDeadLetterReasonOfADecodeFailureIsTheDecodeError(t *testing.T) {
	var dl deadLetters
	r := mustRouter(t, Options{DeadLetter: dl.record})
	m := newMessage("m1", "SmsReport", `{"success":"perhaps"}`, 1)
	if out, _ := r.Dispatch(context.Background(), m); out != DeadLettered {
		t.Fatalf("outcome = %v", out)
	}
	var de *alicom.DecodeError
	if !errors.As(dl.reasons[0], &de) || de.Reason != alicom.ReasonFields {
		t.Fatalf("reason = %v, want a fields DecodeError", dl.reasons[0])
	}
	if string(dl.data[0]) != `{"success":"perhaps"}` {
		t.Errorf("the dead-letter function saw Data %q, want the decoded JSON", dl.data[0])
	}
}

func TestFallback(t *testing.T) {
	tests := []struct {
		name     string
		msg      *Message
		wantType string
		wantRaw  string
	}{
		{name: "an unknown type reaches the fallback with its JSON as Raw",
			msg: newMessage("m1", "FlowReport", `{"out_id":"flow-order-3"}`, 1), wantType: "FlowReport", wantRaw: `{"out_id":"flow-order-3"}`},
		{name: "a known type without a handler reaches the fallback with its typed payload",
			msg: newMessage("m2", "SmsUp", `{"content":"TD"}`, 1), wantType: "SmsUp"},
		{name: "a pushed message without a type reaches the fallback as Raw",
			msg:     &Message{ID: "m3", Source: "my-topic", Body: base64.StdEncoding.EncodeToString([]byte(`{"content":"TD"}`))},
			wantRaw: `{"content":"TD"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *Message
			r := mustRouter(t, Options{Fallback: func(_ context.Context, m *Message) error { got = m; return nil }})
			OnSmsReport(r, func(context.Context, *Message, alicom.SmsReport) error {
				t.Error("the SmsReport handler ran")
				return nil
			})
			out, err := r.Dispatch(context.Background(), tt.msg)
			if out != Handled || err != nil {
				t.Fatalf("Dispatch = %v, %v", out, err)
			}
			if got == nil {
				t.Fatal("the fallback did not run")
			}
			if got.Type != tt.wantType {
				t.Errorf("Type = %q, want %q", got.Type, tt.wantType)
			}
			raw, isRaw := got.Payload.(alicom.Raw)
			if tt.wantRaw != "" && (!isRaw || string(raw) != tt.wantRaw) {
				t.Errorf("Payload = %#v, want Raw %s", got.Payload, tt.wantRaw)
			}
			if tt.wantRaw == "" && isRaw {
				t.Errorf("Payload = Raw, want the typed value")
			}
		})
	}
}

func TestAMessageWithoutATypeTakesItFromItsAlicomQueueName(t *testing.T) {
	r := mustRouter(t, Options{})
	var got alicom.SmsReport
	OnSmsReport(r, func(_ context.Context, _ *Message, v alicom.SmsReport) error { got = v; return nil })
	m := newMessage("m1", "SmsReport", smsReportJSON, 1)
	m.Type = ""
	if out, err := r.Dispatch(context.Background(), m); out != Handled {
		t.Fatalf("Dispatch = %v, %v", out, err)
	}
	if m.Type != "SmsReport" || got.BizID != "900619746936498440^0" {
		t.Errorf("Type = %q, payload %+v", m.Type, got)
	}
}

func TestACallerThatAlreadyHasTheJSONSkipsBodyDecoding(t *testing.T) {
	r := mustRouter(t, Options{})
	var got alicom.SmsUp
	OnSmsUp(r, func(_ context.Context, _ *Message, v alicom.SmsUp) error { got = v; return nil })
	m := &Message{ID: "p1", Type: "SmsUp", Body: "not base64 at all", Data: []byte(`{"content":"TD","sequence_id":7}`)}
	if out, err := r.Dispatch(context.Background(), m); out != Handled {
		t.Fatalf("Dispatch = %v, %v", out, err)
	}
	if got.Content != "TD" || got.SequenceID != "7" {
		t.Errorf("payload = %+v", got)
	}
}

func TestDuplicates(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		first     error // what the handler returns the first time
		ids       []string
		wantCalls int32
		wantLast  Outcome
	}{
		{name: "a message handled before is a duplicate and its handler does not run again",
			ids: []string{"a", "a"}, wantCalls: 1, wantLast: Duplicate},
		{name: "a message dead-lettered before is a duplicate",
			first: Permanent(errDatabaseDown), ids: []string{"a", "a"}, wantCalls: 1, wantLast: Duplicate},
		{name: "a message that failed before runs again",
			first: errDatabaseDown, ids: []string{"a", "a"}, wantCalls: 2, wantLast: Handled},
		{name: "with deduplication off a message runs every time",
			opts: Options{DedupSize: -1}, ids: []string{"a", "a"}, wantCalls: 2, wantLast: Handled},
		{name: "messages without an id are never duplicates",
			ids: []string{"", ""}, wantCalls: 2, wantLast: Handled},
		{name: "the oldest id is forgotten when the set is full",
			opts: Options{DedupSize: 2}, ids: []string{"a", "b", "c", "a"}, wantCalls: 4, wantLast: Handled},
		{name: "an id still in the set is remembered",
			opts: Options{DedupSize: 2}, ids: []string{"a", "b", "c", "c"}, wantCalls: 3, wantLast: Duplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.DeadLetter = (&deadLetters{}).record
			r := mustRouter(t, tt.opts)
			var calls atomic.Int32
			r.Handle("SmsReport", func(context.Context, *Message) error {
				if calls.Add(1) == 1 {
					return tt.first
				}
				return nil
			})
			var last Outcome
			for _, id := range tt.ids {
				last, _ = r.Dispatch(context.Background(), newMessage(id, "SmsReport", smsReportJSON, 1))
			}
			if last != tt.wantLast {
				t.Errorf("last outcome = %v, want %v", last, tt.wantLast)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("handler ran %d times, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestAMessageBeingHandledIsRetriedNotDuplicatedWhenItArrivesAgain(t *testing.T) {
	r := mustRouter(t, Options{})
	entered := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	r.Handle("SmsReport", func(context.Context, *Message) error {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		return nil
	})
	done := make(chan Outcome)
	go func() {
		out, _ := r.Dispatch(context.Background(), newMessage("same", "SmsReport", smsReportJSON, 1))
		done <- out
	}()
	<-entered
	out, err := r.Dispatch(context.Background(), newMessage("same", "SmsReport", smsReportJSON, 2))
	if out != Retry || !errors.Is(err, ErrInFlight) {
		t.Errorf("second delivery = %v, %v; want Retry with ErrInFlight", out, err)
	}
	close(release)
	if first := <-done; first != Handled {
		t.Errorf("first delivery = %v, want Handled", first)
	}
	if out, _ := r.Dispatch(context.Background(), newMessage("same", "SmsReport", smsReportJSON, 3)); out != Duplicate {
		t.Errorf("third delivery = %v, want Duplicate", out)
	}
	if calls.Load() != 1 {
		t.Errorf("handler ran %d times, want 1", calls.Load())
	}
}

func TestConcurrentDispatch(t *testing.T) {
	var dl deadLetters
	r := mustRouter(t, Options{DeadLetter: dl.record, DedupSize: 64})
	var handled atomic.Int64
	OnSmsReport(r, func(context.Context, *Message, alicom.SmsReport) error { handled.Add(1); return nil })
	OnSmsUp(r, func(_ context.Context, m *Message, _ alicom.SmsUp) error {
		if m.DequeueCount%2 == 0 {
			return errDatabaseDown
		}
		handled.Add(1)
		return nil
	})
	const workers, perWorker = 8, 150
	var wg sync.WaitGroup
	var outcomes [4]atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				var m *Message
				switch i % 3 {
				case 0:
					m = newMessage(fmt.Sprintf("r-%d-%d", w, i), "SmsReport", smsReportJSON, 1)
				case 1:
					m = newMessage(fmt.Sprintf("u-%d-%d", w, i), "SmsUp", `{"content":"TD"}`, int64(1+i%2))
				default:
					m = newMessage(fmt.Sprintf("shared-%d", i%10), "SmsReport", smsReportJSON, 1) // ids shared across workers
				}
				out, _ := r.Dispatch(context.Background(), m)
				outcomes[out].Add(1)
			}
		}()
	}
	// Registration while dispatching must be safe too.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			r.Use(func(h HandlerFunc) HandlerFunc { return h })
			r.Handle(fmt.Sprintf("FlowReport%d", i), func(context.Context, *Message) error { return nil })
		}
	}()
	wg.Wait()
	total := outcomes[Handled].Load() + outcomes[Retry].Load() + outcomes[DeadLettered].Load() + outcomes[Duplicate].Load()
	if total != workers*perWorker {
		t.Fatalf("%d outcomes for %d messages", total, workers*perWorker)
	}
	if handled.Load() != outcomes[Handled].Load() {
		t.Errorf("%d handler successes but %d Handled outcomes", handled.Load(), outcomes[Handled].Load())
	}
	if outcomes[DeadLettered].Load() != 0 || dl.count() != 0 {
		t.Errorf("%d dead-lettered, want none", dl.count())
	}
	if outcomes[Duplicate].Load() == 0 {
		t.Error("no duplicate among ids shared across workers")
	}
}

func TestMiddlewareOrder(t *testing.T) {
	var trace []string
	mark := func(name string) Middleware {
		return func(h HandlerFunc) HandlerFunc {
			return func(ctx context.Context, m *Message) error {
				_, hasDeadline := ctx.Deadline()
				trace = append(trace, fmt.Sprintf("%s deadline=%v", name, hasDeadline))
				return h(ctx, m)
			}
		}
	}
	r := mustRouter(t, Options{HandlerTimeout: time.Minute})
	r.Use(mark("first"), mark("second"))
	r.Handle("SmsReport", func(context.Context, *Message) error { trace = append(trace, "handler"); return nil })
	r.Use(mark("third")) // applies to handlers registered before it too
	if out, err := r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 1)); out != Handled {
		t.Fatalf("Dispatch = %v, %v", out, err)
	}
	want := "first deadline=true,second deadline=true,third deadline=true,handler"
	if got := strings.Join(trace, ","); got != want {
		t.Errorf("trace = %s\nwant    %s", got, want)
	}
}

func TestAPanicInCustomerMiddlewareIsRecovered(t *testing.T) {
	r := mustRouter(t, Options{})
	r.Use(func(HandlerFunc) HandlerFunc {
		return func(context.Context, *Message) error { panic("middleware bug") }
	})
	r.Handle("SmsReport", func(context.Context, *Message) error { return nil })
	out, err := r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 1))
	var pe *PanicError
	if out != Retry || !errors.As(err, &pe) {
		t.Errorf("Dispatch = %v, %v; want Retry with a *PanicError", out, err)
	}
}

func TestOptionsValidate(t *testing.T) {
	record := (&deadLetters{}).record
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "options with only a dead-letter function are valid", opts: Options{DeadLetter: record}},
		{name: "a negative timeout, horizon and dedup size are valid and disable", opts: Options{DeadLetter: record, HandlerTimeout: -1, OutageHorizon: -1, DedupSize: -1}},
		{name: "a missing dead-letter function is refused and named", opts: Options{}, wantErr: "Options.DeadLetter"},
		{name: "a negative attempt limit is refused and named", opts: Options{DeadLetter: record, MaxAttempts: -1}, wantErr: "Options.MaxAttempts"},
		{name: "a huge dedup size is refused and named", opts: Options{DeadLetter: record, DedupSize: 1 << 30}, wantErr: "Options.DedupSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRouter(tt.opts)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("NewRouter: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("NewRouter err = %v, want one naming %s", err, tt.wantErr)
			}
			if vErr := tt.opts.Validate(); (vErr == nil) != (err == nil) {
				t.Errorf("Validate = %v but NewRouter = %v", vErr, err)
			}
		})
	}
}

func TestDispatchRefusesANilMessage(t *testing.T) {
	r := mustRouter(t, Options{})
	if out, err := r.Dispatch(context.Background(), nil); out != Retry || err == nil {
		t.Errorf("Dispatch(nil) = %v, %v", out, err)
	}
}

func TestHandleRefusesASecondHandlerForTheSameType(t *testing.T) {
	r := mustRouter(t, Options{})
	r.Handle("SmsReport", func(context.Context, *Message) error { return nil })
	defer func() {
		v := recover()
		if s, _ := v.(string); !strings.Contains(s, `"SmsReport"`) || !strings.Contains(s, "already registered") {
			t.Errorf("recover() = %v, want a message naming SmsReport as already registered", v)
		}
	}()
	OnSmsReport(r, func(context.Context, *Message, alicom.SmsReport) error { return nil })
	t.Error("a second handler for SmsReport was accepted")
}

// Issue 8 item 4: a handler that never returns normally must not have its message deleted.
func TestAHandlerThatNeverReturnsIsNeverHandled(t *testing.T) {
	goexit := func(context.Context, *Message) error { runtime.Goexit(); return nil }
	tests := []struct {
		name     string
		opts     Options
		handler  HandlerFunc
		count    int64
		want     Outcome
		wantErr  error
		wantDead int
	}{
		{name: "a handler that calls runtime.Goexit keeps its message",
			handler: goexit, count: 1, want: Retry, wantErr: ErrHandlerExited},
		{name: "a handler that calls runtime.Goexit with no timeout and no dedup keeps its message",
			opts: Options{HandlerTimeout: -1, DedupSize: -1}, handler: goexit, count: 1, want: Retry, wantErr: ErrHandlerExited},
		{name: "a handler that calls runtime.Goexit on every delivery is dead-lettered at the attempt limit",
			handler: goexit, count: DefaultMaxAttempts, want: DeadLettered, wantErr: ErrHandlerExited, wantDead: 1},
		{name: "a handler abandoned at its timeout on every delivery is dead-lettered at the attempt limit",
			opts:    Options{HandlerTimeout: 20 * time.Millisecond},
			handler: func(context.Context, *Message) error { time.Sleep(time.Minute); return nil },
			count:   DefaultMaxAttempts, want: DeadLettered, wantErr: ErrHandlerTimeout, wantDead: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dl deadLetters
			tt.opts.DeadLetter = dl.record
			r := mustRouter(t, tt.opts)
			r.Handle("SmsReport", tt.handler)
			out, err := r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, tt.count))
			if out != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("Dispatch = %v, %v; want %v with %v", out, err, tt.want, tt.wantErr)
			}
			if dl.count() != tt.wantDead {
				t.Errorf("dead-lettered %d times, want %d", dl.count(), tt.wantDead)
			}
			if tt.wantDead == 0 && r.Dedup().Remembers("m1") {
				t.Error("the kept message is remembered as finished")
			}
		})
	}
}

func TestTheRouterFillsTheKeyBeforeTheHandlerRuns(t *testing.T) {
	r := mustRouter(t, Options{})
	var key string
	r.Handle("SmsReport", func(_ context.Context, m *Message) error { key = m.Key; return nil })
	if out, err := r.Dispatch(context.Background(), newMessage("m1", "SmsReport", smsReportJSON, 1)); out != Handled {
		t.Fatalf("Dispatch = %v, %v", out, err)
	}
	if key == "" {
		t.Error("the handler saw an empty Key")
	}
}

func TestAnUnavailableDestinationKeepsTheMessageWhateverItsDeliveryCount(t *testing.T) {
	var dl deadLetters
	r := mustRouter(t, Options{DeadLetter: dl.record})
	r.Handle("SmsReport", func(context.Context, *Message) error {
		return Unavailable(errors.New("receiver answered 502"))
	})
	m := newMessage("m1", "SmsReport", smsReportJSON, 40)
	m.EnqueueTime = time.Now().Add(-time.Hour)
	out, err := r.Dispatch(context.Background(), m)
	if out != Retry || !IsUnavailable(err) || dl.count() != 0 {
		t.Errorf("Dispatch = %v, %v with %d dead letters; want Retry with the Unavailable error and none", out, err, dl.count())
	}
}

// The push path has no delivery count of its own: the Router's Deduplicate counts the pushes
// of an id, so the same poison rule applies to pushes as to queue receives.
func TestAPushedMessageThatKeepsFailingIsDeadLetteredOnItsLastAllowedPush(t *testing.T) {
	var dl deadLetters
	r := mustRouter(t, Options{DeadLetter: dl.record, MaxAttempts: 3})
	r.Handle("SmsReport", func(context.Context, *Message) error { return errDatabaseDown })
	var outs []Outcome
	for range 3 {
		m := newMessage("pushed-1", "SmsReport", smsReportJSON, 0)
		m.Source = "alicom-receipts" // a topic, not a queue
		out, _ := r.Dispatch(context.Background(), m)
		outs = append(outs, out)
	}
	if want := []Outcome{Retry, Retry, DeadLettered}; fmt.Sprint(outs) != fmt.Sprint(want) {
		t.Errorf("outcomes %v, want %v", outs, want)
	}
	if dl.count() != 1 || ReasonCode(dl.reasons[0]) != ReasonAttemptsExhausted {
		t.Errorf("dead letters %v, want one with code %s", dl.reasons, ReasonAttemptsExhausted)
	}
}
