package drain

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/queue/memqueue"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// BenchmarkRun is the drain's own CPU per message with the queue in memory: receive, a
// goroutine and a watchdog per message, the default Router (decode, deduplication, recovery,
// the handler timeout) to a no-op handler, delete batching. The network's share is in cmd/bench.
func BenchmarkRun(b *testing.B) {
	raw, err := os.ReadFile("../../events/messages/SmsReport.json")
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		b.Fatal(err)
	}
	body := base64.StdEncoding.EncodeToString(buf.Bytes())
	router, err := dispatch.NewRouter(dispatch.Options{
		Fallback:   func(context.Context, *dispatch.Message) error { return nil },
		DeadLetter: func(context.Context, *dispatch.Message, error) error { return nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	o := DefaultOptions()
	o.Logger = slog.New(slog.DiscardHandler)
	// Each run drains a fresh queue of perRun messages: the in-memory queue's receive walks its
	// list, so one long queue would measure the queue rather than the drain.
	const perRun = 1024
	var cpu time.Duration
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		q := memqueue.New("bench-SmsReport", memqueue.Options{VisibilityTimeout: time.Minute})
		for range perRun {
			q.Send(body)
		}
		b.StartTimer()
		before := processCPU()
		res, err := Run(context.Background(), []Source{{Queue: q, MessageType: "SmsReport"}}, router, o)
		cpu += processCPU() - before
		if err != nil {
			b.Fatal(err)
		}
		if rep := res.Queues[0]; rep.Deleted != perRun {
			b.Fatalf("deleted %d of %d (%+v)", rep.Deleted, perRun, rep)
		}
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*perRun), "cpu-ns/msg")
}
