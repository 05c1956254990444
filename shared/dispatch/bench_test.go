package dispatch

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/events"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

// sample is one sample body of package events as Alicom queues it.
type sample struct {
	name, typ, body, md5 string
}

// loadSamples returns every sample body of package events.
func loadSamples(b *testing.B) []sample {
	var out []sample
	for _, m := range events.Messages() {
		out = append(out, sample{name: m.Name, typ: m.Type, body: m.Body, md5: md5Hex(m.Body)})
	}
	if len(out) == 0 {
		b.Fatal("no sample bodies in package events")
	}
	return out
}

// benchRouter has a no-op typed handler for every registered type (taking the payload through
// Typed, as OnPayload does) and a no-op fallback.
func benchRouter(b *testing.B, opts Options) *Router {
	opts.Fallback = func(context.Context, *Message) error { return nil }
	r := mustRouter(b, opts)
	for _, typ := range alicom.KnownTypes() {
		On(r, typ, func(context.Context, *Message, any) error { return nil })
	}
	return r
}

// benchIDs are cycled through so that with the default dedup size every id has been
// forgotten before it comes round again: each Dispatch does the full work, none is Duplicate.
var benchIDs = func() []string {
	ids := make([]string, 2*DefaultDedupSize+1)
	for i := range ids {
		ids[i] = "0B2D3C3E5F6A7B8C-1-" + strconv.Itoa(i)
	}
	return ids
}()

func runDispatch(b *testing.B, r *Router, s sample) {
	runDispatchCtx(b, context.Background(), r, s)
}

func runDispatchCtx(b *testing.B, ctx context.Context, r *Router, s sample) {
	enqueued := time.Now()
	source := "Alicom-Queue-1092397003988387-" + s.typ
	var m Message
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		m = Message{
			ID: benchIDs[i], Type: s.typ, Source: source,
			Body: s.body, BodyMD5: s.md5, DequeueCount: 1, EnqueueTime: enqueued,
		}
		if i++; i == len(benchIDs) {
			i = 0
		}
		if out, err := r.Dispatch(ctx, &m); out != Handled {
			b.Fatalf("%s: %v, %v", s.name, out, err)
		}
	}
}

// BenchmarkDispatch measures decode + dispatch through a Router with the default options
// (Recover, a 30 s Timeout, deduplication) to a no-op typed handler, per sample body.
func BenchmarkDispatch(b *testing.B) {
	for _, s := range loadSamples(b) {
		b.Run(s.name, func(b *testing.B) { runDispatch(b, benchRouter(b, Options{}), s) })
	}
}

// BenchmarkDispatchOptions shows what the default middleware and deduplication cost, on the
// SmsReport sample.
func BenchmarkDispatchOptions(b *testing.B) {
	var report sample
	for _, s := range loadSamples(b) {
		if s.name == alicom.TypeSmsReport {
			report = s
		}
	}
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"defaults", Options{}},
		{"no timeout", Options{HandlerTimeout: -1}},
		{"no dedup", Options{DedupSize: -1}},
		{"no timeout no dedup", Options{HandlerTimeout: -1, DedupSize: -1}},
	} {
		b.Run(c.name, func(b *testing.B) { runDispatch(b, benchRouter(b, c.opts), report) })
		b.Run(c.name+" on the caller's goroutine", func(b *testing.B) {
			runDispatchCtx(b, CallerAbandons(context.Background()), benchRouter(b, c.opts), report)
		})
	}
}
