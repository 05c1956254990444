package app

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/drain"
	"github.com/alicom-drain/alicom-drain/internal/platform"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// MetricsNamespace is the CloudWatch namespace of the drain's metrics on Lambda.
const MetricsNamespace = "AlicomDrain"

// MetricsMessage is the msg of every metrics line, what an SLS query or a CloudWatch Logs
// filter selects them by.
const MetricsMessage = "alicom-drain metrics"

// Metrics publishes, after each invocation, one line per queue with its received, handled,
// failed, dead-lettered and duplicate counts and the age of the oldest message received. On
// Lambda the line is in CloudWatch Embedded Metric Format, which CloudWatch turns into metrics
// without an API call; elsewhere it is the same JSON without the _aws member, which SLS indexes
// on Function Compute (see docs/operations.md for the query and the alert rule). The lines are
// written directly, not through the logger: LOG_LEVEL filters diagnostics, never metrics.
type Metrics struct {
	mu  sync.Mutex
	w   io.Writer
	emf bool
	now func() time.Time
}

// NewMetrics returns a publisher writing to w in the form the platform turns into metrics.
func NewMetrics(w io.Writer, where platform.Platform) *Metrics {
	return &Metrics{w: w, emf: where == platform.Lambda, now: time.Now}
}

// metricLine is one queue's metrics. Field order is the order of the line.
type metricLine struct {
	AWS          *emfMeta `json:"_aws,omitempty"`
	Time         string   `json:"time"`
	Level        string   `json:"level"`
	Msg          string   `json:"msg"`
	RequestID    string   `json:"request_id"`
	Function     string   `json:"function"`
	MessageType  string   `json:"message_type"`
	Queue        string   `json:"queue"`
	Received     int64    `json:"received"`
	Handled      int64    `json:"handled"`
	Failed       int64    `json:"failed"`
	DeadLettered int64    `json:"dead_lettered"`
	Duplicates   int64    `json:"duplicates"`
	OldestAgeMS  int64    `json:"oldest_age_ms"`
	StopReason   string   `json:"stop_reason"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

var emfMetrics = []emfMetric{
	{"received", "Count"}, {"handled", "Count"}, {"failed", "Count"},
	{"dead_lettered", "Count"}, {"duplicates", "Count"}, {"oldest_age_ms", "Milliseconds"},
}

// Publish writes the metrics lines of one invocation. A nil *Metrics publishes nothing.
func (m *Metrics) Publish(inv platform.Invocation, queues []QueueReport) {
	if m == nil {
		return
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, q := range queues {
		line := metricLine{
			Time: now.UTC().Format(time.RFC3339Nano), Level: "INFO", Msg: MetricsMessage,
			RequestID: inv.RequestID, Function: inv.Function, MessageType: q.MessageType, Queue: q.Queue,
			Received: q.Received, Handled: q.Handled, Failed: q.Failed, DeadLettered: q.DeadLettered,
			Duplicates: q.Duplicates, OldestAgeMS: q.OldestAgeMS, StopReason: string(q.Stop),
		}
		if m.emf {
			line.AWS = &emfMeta{Timestamp: now.UnixMilli(), CloudWatchMetrics: []emfDirective{{
				Namespace: MetricsNamespace, Dimensions: [][]string{{"function", "message_type"}}, Metrics: emfMetrics,
			}}}
		}
		b, err := json.Marshal(line)
		if err != nil {
			continue
		}
		_, _ = m.w.Write(append(b, '\n'))
	}
}

// ageTracker passes messages on to the router and remembers, per queue, the enqueue time of the
// oldest message received in one invocation.
type ageTracker struct {
	next drain.Dispatcher
	mu   sync.Mutex
	min  map[string]time.Time
}

func newAgeTracker(next drain.Dispatcher) *ageTracker {
	return &ageTracker{next: next, min: map[string]time.Time{}}
}

func (a *ageTracker) Dispatch(ctx context.Context, m *dispatch.Message) (dispatch.Outcome, error) {
	if !m.EnqueueTime.IsZero() {
		a.mu.Lock()
		if t, ok := a.min[m.Source]; !ok || m.EnqueueTime.Before(t) {
			a.min[m.Source] = m.EnqueueTime
		}
		a.mu.Unlock()
	}
	return a.next.Dispatch(ctx, m)
}

func (a *ageTracker) oldestAgeMS(queue string, now time.Time) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.min[queue]
	if !ok {
		return 0
	}
	return max(0, now.Sub(t).Milliseconds())
}
