package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/platform"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// slogLine is the line the functions' logger (shared/app.NewLogger: slog's JSON handler, plus
// request_id from the context) writes for a record of attrs at t: what LogSink must write.
func slogLine(t *testing.T, ctx context.Context, at time.Time, level slog.Level, msg string, attrs []slog.Attr) string {
	t.Helper()
	var buf bytes.Buffer
	r := slog.NewRecord(at, level, msg, 0)
	r.AddAttrs(attrs...)
	if id := platform.RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if err := slog.NewJSONHandler(&buf, nil).Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// oddMessages are messages whose every field takes a turn at what JSON escaping and the
// optional attributes must get right.
func oddMessages(t *testing.T) []*dispatch.Message {
	var out []*dispatch.Message
	for _, name := range []string{"SmsReport", "SmsUp", "SmsUp-emoji", "FlowReport"} {
		typ, _, _ := strings.Cut(name, "-")
		m := queued("id-"+name, typ, fixture(t, name))
		m.Data = fixture(t, name) // indented as stored: the record compacts it
		out = append(out, m)
	}
	shanghai := time.FixedZone("CST", 8*3600)
	odd := "quote\" backslash\\ nl\n cr\r tab\t nul\x00 esc\x1b del\x7f <html>&amp; bad\xff\xfe utf8 好👍 \u2028\u2029 end"
	out = append(out,
		&dispatch.Message{ID: odd, Type: odd, Source: odd, Body: odd, Tag: odd, DequeueCount: -7,
			EnqueueTime: time.Date(2026, 12, 2, 9, 3, 4, 120000789, shanghai), Data: []byte(`{"a" : "` + odd[:10] + `", "b":[1, 2.50, true,null]}`)},
		&dispatch.Message{ID: "no-time", Type: "SmsReport", Body: "e30=", Data: []byte(`{"x":"<&>\u2028"}`)},
		&dispatch.Message{ID: "bad-json", Type: "SmsReport", Body: "bm90IGpzb24=", Data: []byte(`{"x":`)},
		&dispatch.Message{ID: "never-decoded", Type: "SmsReport", Body: "%%%", DequeueCount: 1 << 40},
		&dispatch.Message{ID: "tagged", Type: "SmsUp", Tag: "tag-1", Data: []byte(` "a string" `)},
	)
	return out
}

func TestLogSinkWritesTheLinesOfTheFunctionsLogger(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 2, 3, 4500, time.FixedZone("", -3*3600-1800))
	reasons := []error{
		dispatch.Permanent(errors.New("refused: \"bad\"\n<tag>")),
		fmt.Errorf("wrapped: %w", dispatch.ErrAttemptsExhausted),
		nil,
	}
	for _, ctx := range []context.Context{context.Background(), platform.WithRequestID(context.Background(), "req-\"1\"")} {
		var buf bytes.Buffer
		s := NewLogSink(&buf)
		s.now = func() time.Time { return at }
		h, dl := s.Handler(), s.DeadLetter()
		for i, m := range oddMessages(t) {
			buf.Reset()
			if err := h(ctx, m); err != nil {
				t.Fatalf("Handler(%s) = %v", m.ID, err)
			}
			if want := slogLine(t, ctx, at, slog.LevelInfo, "alicom message", logAttrs(m)); buf.String() != want {
				t.Errorf("record of %q:\n got %s\nwant %s", m.ID, buf.String(), want)
			}
			buf.Reset()
			reason := reasons[i%len(reasons)]
			if err := dl(ctx, m, reason); err != nil {
				t.Fatalf("DeadLetter(%s) = %v", m.ID, err)
			}
			if want := slogLine(t, ctx, at, slog.LevelError, "dead-lettered", deadLetterAttrs(m, reason)); buf.String() != want {
				t.Errorf("dead-letter record of %q:\n got %s\nwant %s", m.ID, buf.String(), want)
			}
		}
	}
}

func TestLogSinkRecordsTheCurrentTime(t *testing.T) {
	var buf bytes.Buffer
	before := time.Now()
	if err := NewLogSink(&buf).Handler()(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport"))); err != nil {
		t.Fatal(err)
	}
	stamp, _, _ := strings.Cut(strings.TrimPrefix(buf.String(), `{"time":"`), `"`)
	at, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil || at.Before(before.Truncate(time.Second)) || time.Since(at) > time.Minute {
		t.Errorf("time %q (%v), want about %v", stamp, err, before)
	}
}

// TestARecordThatCannotBeWrittenKeepsTheMessage runs over both log sinks: Log (through a slog
// handler, at a level that would filter the record) and LogSink.
func TestARecordThatCannotBeWrittenKeepsTheMessage(t *testing.T) {
	type sinks struct {
		handler    dispatch.HandlerFunc
		deadLetter dispatch.DeadLetterFunc
	}
	kinds := map[string]func(w io.Writer) sinks{
		"Log": func(w io.Writer) sinks {
			logger := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelError + 4}))
			return sinks{Log(logger), DeadLetterLog(logger)}
		},
		"LogSink": func(w io.Writer) sinks {
			s := NewLogSink(w)
			return sinks{s.Handler(), s.DeadLetter()}
		},
	}
	writers := map[string]func(t *testing.T) io.Writer{
		"a writer that fails":           func(*testing.T) io.Writer { return failingWriter{} },
		"a writer that writes a prefix": func(*testing.T) io.Writer { return shortWriter{} },
		"a full device": func(t *testing.T) io.Writer {
			f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
			if err != nil {
				t.Skipf("no /dev/full here: %v", err)
			}
			t.Cleanup(func() { f.Close() })
			return f
		},
	}
	for kind, mkSinks := range kinds {
		for name, mk := range writers {
			if kind == "Log" && name == "a writer that writes a prefix" {
				continue // slog trusts a nil error; an *os.File never writes short without one
			}
			t.Run(kind+": a handled message's record on "+name+" is retried", func(t *testing.T) {
				s := mkSinks(mk(t))
				r, err := dispatch.NewRouter(dispatch.Options{Fallback: s.handler, DeadLetter: s.deadLetter, MaxAttempts: 100})
				if err != nil {
					t.Fatal(err)
				}
				out, err := r.Dispatch(context.Background(), queued("m1", "SmsReport", fixture(t, "SmsReport")))
				if out != dispatch.Retry || err == nil || !dispatch.IsUnavailable(err) {
					t.Fatalf("Dispatch = %v, %v; want Retry with an Unavailable error", out, err)
				}
			})
			t.Run(kind+": a dead letter's record on "+name+" keeps the original", func(t *testing.T) {
				s := mkSinks(mk(t))
				r, err := dispatch.NewRouter(dispatch.Options{DeadLetter: s.deadLetter})
				if err != nil {
					t.Fatal(err)
				}
				r.Handle("SmsReport", func(context.Context, *dispatch.Message) error { return dispatch.Permanent(errors.New("refused")) })
				out, err := r.Dispatch(context.Background(), queued("m2", "SmsReport", fixture(t, "SmsReport")))
				if out != dispatch.Retry || !errors.Is(err, dispatch.ErrDeadLetterFailed) {
					t.Fatalf("Dispatch = %v, %v; want Retry with ErrDeadLetterFailed", out, err)
				}
			})
		}
	}
}

// shortWriter writes all but the last byte and reports no error, breaking io.Writer's contract.
type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return max(len(p)-1, 0), nil }

// recordingWriter keeps each Write's bytes; a Write sleeps first, as a slow stderr would, so
// that concurrent records pile up behind it.
type recordingWriter struct {
	mu      sync.Mutex
	delay   time.Duration
	writes  [][]byte
	active  int // Writes running now: more than one would let lines interleave
	overlap bool
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.active++
	w.overlap = w.overlap || w.active > 1
	w.mu.Unlock()
	time.Sleep(w.delay)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active--
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestGroupWriterWritesEveryLineWholeOnceAndBatchesConcurrentOnes(t *testing.T) {
	w := &recordingWriter{delay: time.Millisecond}
	g := &groupWriter{w: w}
	const writers, each = 64, 30
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := range each {
				// Lengths vary, so a split or an interleaving shows as a line that is not one of these.
				line := fmt.Sprintf("{\"w\":%d,\"n\":%d,\"pad\":%q}\n", i, j, strings.Repeat("x", (i*each+j)%97))
				if err := g.write([]byte(line)); err != nil {
					t.Errorf("write = %v", err)
				}
			}
		})
	}
	wg.Wait()
	if w.overlap {
		t.Error("two Writes ran at once")
	}
	var lines []string
	for _, p := range w.writes {
		if len(p) == 0 || p[len(p)-1] != '\n' {
			t.Fatalf("a Write does not end a line: %q", p)
		}
		lines = append(lines, strings.SplitAfter(string(p[:len(p)-1]), "\n")...)
	}
	want := map[string]bool{}
	for i := range writers {
		for j := range each {
			want[fmt.Sprintf("{\"w\":%d,\"n\":%d,\"pad\":%q}", i, j, strings.Repeat("x", (i*each+j)%97))] = true
		}
	}
	seen := map[string]bool{}
	for _, l := range lines {
		l = strings.TrimSuffix(l, "\n")
		if !want[l] || seen[l] {
			t.Fatalf("line %q is split, interleaved or repeated", l)
		}
		seen[l] = true
	}
	if len(seen) != writers*each {
		t.Errorf("%d lines written, want %d", len(seen), writers*each)
	}
	if len(w.writes) > writers*each/4 {
		t.Errorf("%d Writes for %d concurrent records: want them batched", len(w.writes), writers*each)
	}
	t.Logf("%d records in %d Writes", writers*each, len(w.writes))
}

// gatedWriter blocks each Write until the test lets it go, then returns the result it is given.
type gatedWriter struct {
	started chan []byte
	results chan error
	short   bool // write all but one byte of a failing Write
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	w.started <- bytes.Clone(p)
	err := <-w.results
	if err != nil && w.short {
		return len(p) - 1, err
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// pendingLen is the size of the batch waiting for the running write.
func (g *groupWriter) pendingLen() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending == nil {
		return 0
	}
	return len(g.pending.buf)
}

func TestGroupWriterAFailedWriteFailsEveryRecordInItAndOnlyThose(t *testing.T) {
	for _, short := range []bool{false, true} {
		t.Run(fmt.Sprintf("short=%v", short), func(t *testing.T) {
			w := &gatedWriter{started: make(chan []byte), results: make(chan error), short: short}
			g := &groupWriter{w: w}
			first := make(chan error, 1)
			go func() { first <- g.write([]byte("first\n")) }()
			if got := <-w.started; string(got) != "first\n" {
				t.Fatalf("first Write = %q", got)
			}
			// Five records queue behind the running write.
			const n = 5
			errs := make(chan error, n)
			for i := range n {
				go func() { errs <- g.write(fmt.Appendf(nil, "r%d\n", i)) }()
			}
			for g.pendingLen() < n*3 {
				time.Sleep(time.Millisecond)
			}
			w.results <- nil // the first write succeeds
			if err := <-first; err != nil {
				t.Fatalf("first record: %v", err)
			}
			batch := <-w.started
			if len(batch) != n*3 || strings.Count(string(batch), "\n") != n {
				t.Fatalf("the batch Write = %q, want the %d queued records", batch, n)
			}
			full := errors.New("no space left on device")
			w.results <- full
			for range n {
				if err := <-errs; !errors.Is(err, full) {
					t.Errorf("a record of the failed write got %v", err)
				}
			}
			// The writer is idle again: the next record is written alone, and succeeds.
			last := make(chan error, 1)
			go func() { last <- g.write([]byte("last\n")) }()
			if got := <-w.started; string(got) != "last\n" {
				t.Fatalf("next Write = %q", got)
			}
			w.results <- nil
			if err := <-last; err != nil {
				t.Errorf("the record after a failed write: %v", err)
			}
		})
	}
}

func TestGroupWriterAShortWriteIsAFailure(t *testing.T) {
	g := &groupWriter{w: shortWriter{}}
	if err := g.write([]byte("line\n")); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("write = %v, want io.ErrShortWrite", err)
	}
}

func TestLogSinkConcurrentRecordsAreWholeLines(t *testing.T) {
	w := &recordingWriter{delay: 200 * time.Microsecond}
	s := NewLogSink(w)
	h := s.Handler()
	ctx := platform.WithRequestID(context.Background(), "req-1")
	var wg sync.WaitGroup
	const n = 256
	for i := range n {
		wg.Go(func() {
			if err := h(ctx, queued(fmt.Sprintf("m%d", i), "SmsReport", fixture(t, "SmsReport"))); err != nil {
				t.Errorf("Handler = %v", err)
			}
		})
	}
	wg.Wait()
	var ids []string
	for _, p := range w.writes {
		for line := range strings.Lines(string(p)) {
			id, ok := strings.CutPrefix(line[strings.Index(line, `"message_id":"`)+len(`"message_id":"`):], "m")
			if !ok || !strings.HasPrefix(line, `{"time":"`) || !strings.HasSuffix(line, `,"request_id":"req-1"}`+"\n") {
				t.Fatalf("line %q", line)
			}
			ids = append(ids, id[:strings.IndexByte(id, '"')])
		}
	}
	sort.Strings(ids)
	if len(ids) != n {
		t.Fatalf("%d records, want %d", len(ids), n)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			t.Fatalf("record of m%s written twice", ids[i])
		}
	}
}

// panickyWriter panics on its first Write, then writes.
type panickyWriter struct {
	calls int
	buf   bytes.Buffer
}

func (w *panickyWriter) Write(p []byte) (int, error) {
	w.calls++
	if w.calls == 1 {
		panic("broken writer")
	}
	return w.buf.Write(p)
}

func TestGroupWriterAPanickingWriteFailsItsRecordsAndTheNextOnesAreWritten(t *testing.T) {
	w := &panickyWriter{}
	g := &groupWriter{w: w}
	if err := g.write([]byte("first\n")); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("write = %v, want the panic as an error", err)
	}
	done := make(chan error, 1)
	go func() { done <- g.write([]byte("second\n")) }()
	select {
	case err := <-done:
		if err != nil || w.buf.String() != "second\n" {
			t.Errorf("write after the panic = %v, wrote %q", err, w.buf.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write after a panic hangs: the writer stayed busy")
	}
}
