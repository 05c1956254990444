package sink

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// The sinks' throughput, each fed as the drain feeds them: 16 concurrent handler calls (one
// received batch) at a time. Each reports messages per second and requests per message.
// `go test -run - -bench . ./internal/sink` (make bench runs them with the rest).

// concurrency is how many messages the drain dispatches at once per receiver.
const concurrency = 16

// feed runs h over b.N decoded messages from concurrency goroutines.
func feed(b *testing.B, h dispatch.HandlerFunc) { feedFrom(b, h, concurrency) }

// feedFrom runs h over b.N decoded messages from goroutines goroutines.
func feedFrom(b *testing.B, h dispatch.HandlerFunc, goroutines int) {
	body := fixture(b, "SmsReport")
	r, err := dispatch.NewRouter(dispatch.Options{DeadLetter: noDeadLetter, Fallback: h, DedupSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range goroutines {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				m := queued(fmt.Sprintf("m%d", i), "SmsReport", body)
				if out, err := r.Dispatch(context.Background(), m); out != dispatch.Handled {
					b.Errorf("Dispatch = %v, %v", out, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}

func report(b *testing.B, requests int64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/msg")
}

func BenchmarkWebhookSink(b *testing.B) {
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			w := newTestWebhook(b, srv.URL, batch, func(c *WebhookConfig) { c.Linger = 0 }) // the production linger
			feed(b, w.Handler())
			report(b, requests.Load())
		})
	}
}

func BenchmarkForwardSinkToMNSQueue(b *testing.B) {
	srv := startMNS(b, "fwd-SmsReport")
	f := newTestForward(b, srv.URL(), func(c *ForwardConfig) { c.Linger = 0 }) // the production linger
	feed(b, f.Queue("fwd-{type}"))
	st := srv.Stats()
	report(b, st.Requests["BatchSendMessage"]+st.Requests["SendMessage"])
}

// BenchmarkLogSink compares Log (through slog) with LogSink, with 16 concurrent handlers (one
// received batch) and 64 (the drain's most), writing to io.Discard (the encoding alone) and to
// /dev/null (a write syscall each, as on stderr). writes/msg shows LogSink's group commit.
func BenchmarkLogSink(b *testing.B) {
	outs := map[string]func(b *testing.B) io.Writer{
		"discard": func(*testing.B) io.Writer { return io.Discard },
		"devnull": func(b *testing.B) io.Writer {
			f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				b.Skip(err)
			}
			b.Cleanup(func() { f.Close() })
			return f
		},
	}
	for _, goroutines := range []int{concurrency, 64} {
		for _, out := range []string{"discard", "devnull"} {
			b.Run(fmt.Sprintf("slog/%s/c=%d", out, goroutines), func(b *testing.B) {
				w := &countingWriter{w: outs[out](b)}
				feedFrom(b, Log(slog.New(slog.NewJSONHandler(w, nil))), goroutines)
				reportWrites(b, w)
			})
			b.Run(fmt.Sprintf("direct/%s/c=%d", out, goroutines), func(b *testing.B) {
				w := &countingWriter{w: outs[out](b)}
				feedFrom(b, NewLogSink(w).Handler(), goroutines)
				reportWrites(b, w)
			})
		}
	}
}

// countingWriter counts Writes; both sinks call it under their own lock, one at a time.
type countingWriter struct {
	w      io.Writer
	writes atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.w.Write(p)
}

func reportWrites(b *testing.B, w *countingWriter) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	b.ReportMetric(float64(w.writes.Load())/float64(b.N), "writes/msg")
}
