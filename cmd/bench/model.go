package main

import (
	"slices"
	"time"
)

// This file is the report model: what a run measured, and the figures derived from it. The
// measurement fills it (main.go and the measure files); the renderers (markdown.go, svg.go)
// only read it.

// results is everything one run measured.
type results struct {
	Settings settings
	Started  time.Time
	Elapsed  time.Duration
	Rows     []row
	Empty    []emptyRow
	Process  []processRow
	Warm     []warmRow
	Follow   []followRow
	Profile  *clientProfile
	Binaries []binaryRow
	CPU      []cpuBench
	Micro    []microRow
	// NotMeasured says, per optional part, why it is missing.
	NotMeasured map[string]string
}

// variantKind names a consuming loop.
type variantKind string

const (
	kindOurs       variantKind = "ours"
	kindPythonDemo variantKind = "python-demo"
	kindDotnetDemo variantKind = "dotnet-demo"
	kindJava       variantKind = "java"
)

var allVariants = []variantKind{kindOurs, kindPythonDemo, kindDotnetDemo, kindJava}

// The names the official demos' loops go by, everywhere the bench shows them.
const (
	labelPythonDemo = "the official Python demo's loop"
	labelDotnetDemo = "the official .NET demo's loop"
	labelJava       = "the Java receive SDK's puller"
)

// baselines in the order they are run and shown, with the concurrency each has.
var baselines = []struct {
	kind  variantKind
	label string
	conc  int
	fn    baselineFunc
}{
	{kindPythonDemo, labelPythonDemo, 1, pythonDemo},
	{kindDotnetDemo, labelDotnetDemo, 2, dotnetDemo},
	{kindJava, labelJava, 16, javaPuller},
}

// row is one variant at one round trip, measured in the bench process.
type row struct {
	RTT     time.Duration
	Kind    variantKind
	Label   string
	Conc    int  // receivers (ours) or threads (baselines)
	Default bool // ours at drain.DefaultOptions
	Best    bool // ours at the receiver count with the highest throughput at this RTT
	Budget  time.Duration
	Runs    int // ours: how many runs the median was taken from

	// From the emulator's counters.
	Messages      int64 // messages deleted
	Left          int64 // messages still in the queues afterwards
	MNSRequests   int64
	TokenRequests int64
	Ops           map[string]int64

	Own loopResult // the loop's own counts and times
	// CPU is the CPU time the bench process used during the run: the variant and the
	// emulator together (they share the process).
	CPU time.Duration
}

// CPUPerMsg is the process CPU time per message deleted.
func (r row) CPUPerMsg() time.Duration { return perMsg(r.CPU, r.Messages) }

// Rate is messages per second over the time the messages took (steady time).
func (r row) Rate() float64 { return rate(r.Messages, r.Own.steady) }

// WallRate is messages per second over the whole run, final empty receives included.
func (r row) WallRate() float64 { return rate(r.Messages, r.Own.wall) }

// WallShare is WallRate as a share of Rate.
func (r row) WallShare() float64 {
	if r.Rate() == 0 {
		return 0
	}
	return r.WallRate() / r.Rate()
}

// ReqPerMsg is MNS requests per message deleted.
func (r row) ReqPerMsg() float64 { return perMsgF(r.MNSRequests, r.Messages) }

// Bound is C × 16 / RTT, the most a drain with C receivers can receive per second.
func (r row) Bound() float64 { return float64(r.Conc*16) / r.RTT.Seconds() }

// BoundShare is Rate as a share of Bound.
func (r row) BoundShare() float64 { return r.Rate() / r.Bound() }

// SteadySeconds is the steady time in seconds.
func (r row) SteadySeconds() float64 { return r.Own.steady.Seconds() }

// emptyRow is one invocation of the drain function on an empty queue.
type emptyRow struct {
	Wait          time.Duration // DRAIN_WAIT_SECONDS in effect
	Default       bool          // DRAIN_WAIT_SECONDS unset
	Warm          bool          // a token was already cached by an earlier invocation
	MNSRequests   int64
	TokenRequests int64
	Ops           map[string]int64
	Wall          time.Duration
}

// processRow is one local invocation of the function binary on a backlog, from process start
// to exit, at the default settings.
type processRow struct {
	Handler                    string // handlerLogSink (the function as deployed) or handlerNoop
	RTT                        time.Duration
	Receivers                  int
	Backlog                    int64
	Messages, Left             int64
	Wall                       time.Duration
	CPU                        time.Duration // the function process's own (getrusage of the child)
	IdleCPU                    time.Duration // the same invocation's on empty queues: start-up and end
	MaxRSS                     int64         // VmHWM, sampled
	MNSRequests, TokenRequests int64
}

// Rate is messages per second from process start to exit.
func (p processRow) Rate() float64 { return rate(p.Messages, p.Wall) }

// CPUPerMsg is the function process's CPU time per message.
func (p processRow) CPUPerMsg() time.Duration { return perMsg(p.CPU, p.Messages) }

// NetCPUPerMsg is the function process's CPU time per message without its start-up and end
// (the CPU of the same invocation on empty queues).
func (p processRow) NetCPUPerMsg() time.Duration { return perMsg(max(p.CPU-p.IdleCPU, 0), p.Messages) }

// ReqPerMsg is MNS requests per message.
func (p processRow) ReqPerMsg() float64 { return perMsgF(p.MNSRequests, p.Messages) }

// warmRow is a warm instance at one round trip: the drain wired as the function's main wires
// it, in the bench process, invoked again and again, each time on a fresh backlog.
type warmRow struct {
	Handler     string // handlerLogSink (the function as deployed) or handlerNoop
	RTT         time.Duration
	Receivers   int
	Backlog     int64            // messages preloaded before every invocation
	Invocations []warmInvocation // in order, the first included
}

// warmInvocation is one invocation of a warm instance.
type warmInvocation struct {
	Wall                       time.Duration
	CPU                        time.Duration // the bench process's, around the invocation only
	Messages, Left             int64
	MNSRequests, TokenRequests int64
}

// measured are the invocations the figures are taken over: all but the first, which pays once
// what an instance pays once (the token fetch, the first connections, the heap's growth).
func (w warmRow) measured() []warmInvocation {
	if len(w.Invocations) < 2 {
		return nil
	}
	return w.Invocations[1:]
}

// Measured is how many invocations the figures are taken over.
func (w warmRow) Measured() int { return len(w.measured()) }

// cpuPerMsg is the measured invocations' CPU time per message, ascending.
func (w warmRow) cpuPerMsg() []time.Duration {
	var out []time.Duration
	for _, inv := range w.measured() {
		out = append(out, perMsg(inv.CPU, inv.Messages))
	}
	slices.Sort(out)
	return out
}

// CPUPerMsg is the median of the measured invocations' CPU time per message.
func (w warmRow) CPUPerMsg() time.Duration { return percentile(w.cpuPerMsg(), 0.5) }

// MinCPUPerMsg is the least of the measured invocations' CPU time per message.
func (w warmRow) MinCPUPerMsg() time.Duration { return percentile(w.cpuPerMsg(), 0) }

// MaxCPUPerMsg is the most of the measured invocations' CPU time per message.
func (w warmRow) MaxCPUPerMsg() time.Duration { return percentile(w.cpuPerMsg(), 1) }

// FirstCPUPerMsg is the first invocation's CPU time per message, which the figures leave out.
func (w warmRow) FirstCPUPerMsg() time.Duration {
	if len(w.Invocations) == 0 {
		return 0
	}
	return perMsg(w.Invocations[0].CPU, w.Invocations[0].Messages)
}

// Wall is the median wall time of the measured invocations.
func (w warmRow) Wall() time.Duration {
	var walls []time.Duration
	for _, inv := range w.measured() {
		walls = append(walls, inv.Wall)
	}
	slices.Sort(walls)
	return percentile(walls, 0.5)
}

// Rate is messages per second of an invocation of the median wall time.
func (w warmRow) Rate() float64 { return rate(w.Backlog, w.Wall()) }

// ReqPerMsg is MNS requests per message over the measured invocations.
func (w warmRow) ReqPerMsg() float64 {
	var reqs, msgs int64
	for _, inv := range w.measured() {
		reqs, msgs = reqs+inv.MNSRequests, msgs+inv.Messages
	}
	return perMsgF(reqs, msgs)
}

// TokenRequests are the token requests of the measured invocations: none while the cached
// tokens are fresh.
func (w warmRow) TokenRequests() int64 {
	var n int64
	for _, inv := range w.measured() {
		n += inv.TokenRequests
	}
	return n
}

// followRow is the function in DRAIN_MODE=follow at one round trip.
type followRow struct {
	RTT                      time.Duration
	Messages                 int
	IdleWindow, ActiveWindow time.Duration
	IdleRequests             int64
	IdlePerMinute            float64
	ActiveRequests           int64
	Latencies                []time.Duration // enqueue to handler record, sorted
	NotMeasured              string
}

// P50 is the median latency.
func (f followRow) P50() time.Duration { return percentile(f.Latencies, 0.5) }

// P99 is the 99th percentile latency.
func (f followRow) P99() time.Duration { return percentile(f.Latencies, 0.99) }

// Max is the largest latency.
func (f followRow) Max() time.Duration { return percentile(f.Latencies, 1) }

// ReqPerMsg is MNS requests per message while messages arrive at random times.
func (f followRow) ReqPerMsg() float64 { return perMsgF(f.ActiveRequests, int64(len(f.Latencies))) }

// clientProfile is the top of the client's share of a CPU profile of ours.
type clientProfile struct {
	RTT       time.Duration
	Receivers int
	Messages  int64
	Top       []string // go tool pprof -top lines
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func perMsg(d time.Duration, n int64) time.Duration {
	if n == 0 {
		return 0
	}
	return d / time.Duration(n)
}

func perMsgF(x, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(x) / float64(n)
}

// at returns the rows at one round trip.
func (res *results) at(rtt time.Duration) []row {
	var out []row
	for _, r := range res.Rows {
		if r.RTT == rtt {
			out = append(out, r)
		}
	}
	return out
}

func find(rows []row, pred func(row) bool) (row, bool) {
	for _, r := range rows {
		if pred(r) {
			return r, true
		}
	}
	return row{}, false
}

func isBest(r row) bool    { return r.Kind == kindOurs && r.Best }
func isDefault(r row) bool { return r.Kind == kindOurs && r.Default }
func isKind(k variantKind) func(row) bool {
	return func(r row) bool { return r.Kind == k }
}

// mainRows are the rows of the comparison table: ours at its default and best settings, then
// the baselines, per round trip.
func (res *results) mainRows() []row {
	var out []row
	for _, rtt := range res.Settings.RTTs {
		rows := res.at(rtt)
		if r, ok := find(rows, isDefault); ok {
			out = append(out, r)
		}
		if r, ok := find(rows, isBest); ok && !r.Default {
			out = append(out, r)
		}
		for _, r := range rows {
			if r.Kind != kindOurs {
				out = append(out, r)
			}
		}
	}
	return out
}

// oursRows are every receiver count ours ran with.
func (res *results) oursRows() []row {
	var out []row
	for _, r := range res.Rows {
		if r.Kind == kindOurs {
			out = append(out, r)
		}
	}
	return out
}

// warmEmpty is the warm empty-queue invocation at the default wait, if measured.
func (res *results) warmEmpty(def bool, wait time.Duration) (emptyRow, bool) {
	for _, e := range res.Empty {
		if e.Warm && (def && e.Default || !def && !e.Default && e.Wait == wait) {
			return e, true
		}
	}
	return emptyRow{}, false
}

// processAt is the run of the function as deployed (the log sink) at rtt, if measured.
func (res *results) processAt(rtt time.Duration) (processRow, bool) {
	return res.processWith(handlerLogSink, rtt)
}

// processWith is the process run with handler at rtt, if measured.
func (res *results) processWith(handler string, rtt time.Duration) (processRow, bool) {
	for _, p := range res.Process {
		if p.RTT == rtt && p.Handler == handler {
			return p, true
		}
	}
	return processRow{}, false
}

// warmWith is the warm instance with handler at rtt, if measured.
func (res *results) warmWith(handler string, rtt time.Duration) (warmRow, bool) {
	for _, w := range res.Warm {
		if w.RTT == rtt && w.Handler == handler && w.Measured() > 0 {
			return w, true
		}
	}
	return warmRow{}, false
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)-1) + 0.5)
	return sorted[i]
}
