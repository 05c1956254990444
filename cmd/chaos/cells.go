package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/faultproxy"
)

// cell is one row of the fault matrix.
type cell struct {
	Name    string
	Finding string // the issue-8 finding it reproduces, or the fault family
	// Short cells run inside make test (go test ./cmd/chaos): they pass on this tree and
	// finish in seconds. The rest run with make chaos.
	Short bool
	Run   func(ctx context.Context, b binaries) (outcome, error)
}

// outcome is what a cell measured and whether it held.
type outcome struct {
	Ledger  ledger
	Failed  []string // each broken promise, in words
	Skipped string   // why the cell did not run
	Extra   string   // a measured fact worth a column of its own
}

const (
	visibility = 3 * time.Second
	mb         = int64(1 << 20)
	// memoryBudget is what the functions are deployed with.
	memoryBudget = 128 * mb
	// rssGuard kills a function whose memory runs away, to protect the machine the matrix runs on.
	rssGuard = 400 * mb
)

// judge holds the ledger against the promises every cell checks: nothing lost, nothing deleted
// without a record, counters that add up, and (when wantEmpty) the queue drained in the end.
func judge(l ledger, wantEmpty bool) []string {
	var out []string
	if l.Lost > 0 {
		out = append(out, fmt.Sprintf("%d lost", l.Lost))
	}
	if l.DeletedNoRecord > 0 {
		out = append(out, fmt.Sprintf("%d deleted without a record", l.DeletedNoRecord))
	}
	if wantEmpty && l.Left > 0 {
		out = append(out, fmt.Sprintf("%d still queued after %d invocations", l.Left, l.Invocations))
	}
	out = append(out, l.ReportFailed...)
	return out
}

// drainCell is the common shape: a world, a set of receipts, some faults, invocations of a
// function until the queue is empty, then the ledger.
type drainCell struct {
	n        int
	vis      time.Duration
	faults   []faultproxy.Fault
	env      []string
	testfunc bool
	timeout  time.Duration
	maxRuns  int
	bodies   func() []string // instead of n SmsReports
	latency  time.Duration
}

func (d drainCell) run(ctx context.Context, b binaries) (outcome, error) {
	vis := d.vis
	if vis == 0 {
		vis = visibility
	}
	w, err := newWorld(b, vis, 1)
	if err != nil {
		return outcome{}, err
	}
	defer w.close()
	if d.bodies != nil {
		err = w.send(d.bodies()...)
	} else {
		err = w.sendReports("c", d.n)
	}
	if err != nil {
		return outcome{}, err
	}
	w.srv.SetLatency(d.latency, 0)
	w.proxy.Add(d.faults...)
	bin := b.drain
	if d.testfunc {
		bin = b.testfunc
	}
	maxRuns := d.maxRuns
	if maxRuns == 0 {
		maxRuns = 6
	}
	runs, err := w.drainUntilEmpty(ctx, spec{bin: bin, env: append(w.baseEnv(), d.env...), timeout: d.timeout, rssLimit: rssGuard}, maxRuns, vis+3*time.Second)
	if err != nil {
		return outcome{}, err
	}
	l := w.account(runs)
	return outcome{Ledger: l, Failed: judge(l, true)}, nil
}

func cellOf(d drainCell) func(context.Context, binaries) (outcome, error) { return d.run }

// cells is the matrix, in the order the table shows it.
func cells() []cell {
	return []cell{
		{Name: "no fault (control)", Finding: "—", Short: true, Run: cellOf(drainCell{n: 200})},

		// The findings of issue 8, one cell each.
		{Name: "LOG_LEVEL=warn", Finding: "#1", Short: true, Run: cellOf(drainCell{n: 50, env: []string{"LOG_LEVEL=warn"}, maxRuns: 2})},
		{Name: "stderr on a full device (2>/dev/full)", Finding: "#2", Short: true, Run: stderrFull},
		{Name: "MD5 mismatch in transit (first receive altered)", Finding: "#3", Short: true, Run: md5Mismatch},
		{Name: "handler calls runtime.Goexit", Finding: "#4", Short: true, Run: cellOf(drainCell{n: 40, testfunc: true, env: []string{"CHAOS_HANDLER=goexit", "CHAOS_EVERY=4"}})},
		{Name: "handler ignores its context (40 s, deadline 20 s)", Finding: "#5", Short: true, Run: ignoreCtx},
		{Name: "delete retry budget vs deadline (deletes stall)", Finding: "#5", Short: true, Run: deleteStall},
		{Name: "deadline ≤ margin (-timeout 10s)", Finding: "#5", Short: true, Run: shortDeadline},
		{Name: "token rejected (InvalidAccessKeyId) on a warm instance", Finding: "#6", Short: true, Run: rejectedToken},
		{Name: "300 MB token answer", Finding: "#7", Short: true, Run: hugeAnswer(faultproxy.OpToken)},
		{Name: "300 MB MNS receive answer", Finding: "#7", Short: true, Run: hugeAnswer(faultproxy.OpReceive)},
		{Name: "push endpoint: 300 unauthenticated 1 MiB bodies", Finding: "#8", Short: true, Run: pushFlood},
		{Name: "report honesty: delete answers lost", Finding: "#9", Short: true, Run: lostDeleteAnswers},
		{Name: "report honesty: request_id on every record", Finding: "#9", Short: true, Run: requestIDs},
		{Name: "report honesty: duplicates on a warm instance (first deletes fail)", Finding: "#9", Short: true, Run: warmDuplicates},
		{Name: "SIGTERM while deletes stall", Finding: "#5", Short: true, Run: sigtermDuringStall},

		// Transport faults.
		{Name: "5xx on 30 % of receives", Finding: "5xx", Short: true, Run: cellOf(drainCell{n: 200, faults: []faultproxy.Fault{{Op: faultproxy.OpReceive, Kind: faultproxy.Status5xx, Rate: 0.3}}})},
		{Name: "5xx on 30 % of deletes", Finding: "5xx", Short: true, Run: cellOf(drainCell{n: 200, faults: []faultproxy.Fault{{Op: faultproxy.OpDelete, Kind: faultproxy.Status5xx, Rate: 0.3}}})},
		{Name: "5xx on the first 2 token requests", Finding: "5xx", Short: true, Run: cellOf(drainCell{n: 50, faults: []faultproxy.Fault{{Op: faultproxy.OpToken, Kind: faultproxy.Status5xx, Times: 2}}})},
		{Name: "dropped connections on 30 % of receives", Finding: "drop", Short: true, Run: cellOf(drainCell{n: 200, faults: []faultproxy.Fault{{Op: faultproxy.OpReceive, Kind: faultproxy.Drop, Rate: 0.3}}})},
		{Name: "dropped connections on 30 % of deletes", Finding: "drop", Short: true, Run: cellOf(drainCell{n: 200, faults: []faultproxy.Fault{{Op: faultproxy.OpDelete, Kind: faultproxy.Drop, Rate: 0.3}}})},
		{Name: "dropped connections on the first 2 token requests", Finding: "drop", Short: true, Run: cellOf(drainCell{n: 50, faults: []faultproxy.Fault{{Op: faultproxy.OpToken, Kind: faultproxy.Drop, Times: 2}}})},
		{Name: "receive answers lost after the server acted", Finding: "lost answer", Short: true, Run: cellOf(drainCell{n: 100, faults: []faultproxy.Fault{{Op: faultproxy.OpReceive, Kind: faultproxy.LoseAnswer, Times: 2}}})},
		{Name: "token answers lost after the server acted", Finding: "lost answer", Short: true, Run: cellOf(drainCell{n: 50, faults: []faultproxy.Fault{{Op: faultproxy.OpToken, Kind: faultproxy.LoseAnswer, Times: 1}}})},
		{Name: "slow answers (2 s on 20 % of receives and deletes)", Finding: "slow", Short: true, Run: cellOf(drainCell{n: 200, faults: []faultproxy.Fault{
			{Op: faultproxy.OpReceive, Kind: faultproxy.Delay, Delay: 2 * time.Second, Rate: 0.2},
			{Op: faultproxy.OpDelete, Kind: faultproxy.Delay, Delay: 2 * time.Second, Rate: 0.2}}})},
		{Name: "latency spikes (5 ms RTT, 800 ms on 5 %)", Finding: "spikes", Short: true, Run: cellOf(drainCell{n: 300, latency: 5 * time.Millisecond, faults: []faultproxy.Fault{
			{Kind: faultproxy.Delay, Delay: 800 * time.Millisecond, Rate: 0.05}}})},

		// Processes.
		{Name: "kill -9 mid-batch, then redelivery", Finding: "kill", Short: true, Run: killMidBatch},
		{Name: "3 overlapping invocations", Finding: "overlap", Short: true, Run: overlapping},
		{Name: "stale receipt handles (handler 4 s, visibility 2 s)", Finding: "stale", Short: true, Run: cellOf(drainCell{n: 8, vis: 2 * time.Second, testfunc: true, maxRuns: 6,
			env: []string{"CHAOS_HANDLER=slow", "CHAOS_SLEEP=4s", "CHAOS_EVERY=2", "DRAIN_HANDLER_TIMEOUT=6s"}})},

		// Handlers.
		{Name: "failing handler (first 2 deliveries of 1 in 3)", Finding: "handler", Short: true, Run: cellOf(drainCell{n: 60, testfunc: true, env: []string{"CHAOS_HANDLER=fail", "CHAOS_EVERY=3"}})},
		{Name: "panicking handler (first delivery of 1 in 3)", Finding: "handler", Short: true, Run: cellOf(drainCell{n: 60, testfunc: true, env: []string{"CHAOS_HANDLER=panic", "CHAOS_EVERY=3"}})},
		{Name: "hanging handler (until its 2 s timeout)", Finding: "handler", Short: true, Run: cellOf(drainCell{n: 40, testfunc: true, env: []string{"CHAOS_HANDLER=hang", "CHAOS_EVERY=4", "DRAIN_HANDLER_TIMEOUT=2s"}})},

		// Bodies.
		{Name: "hostile bodies (7 kinds × 4)", Finding: "bodies", Short: true, Run: cellOf(drainCell{bodies: hostileBodies, maxRuns: 8})},
	}
}

// hostileBodies are what a broken or hostile sender could put in the queue: invalid base64,
// invalid UTF-8, a JSON array, 10,000-deep nesting, a 64 KiB body, NUL bytes and wrong field
// types, four of each.
func hostileBodies() []string {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	big := `{"phone_number":"13000000000","success":true,"biz_id":"big","err_msg":"` + strings.Repeat("x", 48*1024-100) + `"}`
	big64 := b64(big)
	if len(big64) > 65536 {
		big64 = big64[:65536-len(big64)%4]
	}
	var out []string
	for i := range 4 {
		out = append(out,
			fmt.Sprintf("not base64 %d %%%%", i),
			b64(fmt.Sprintf("{\"phone_number\":\"\xff\xfe%d\",\"success\":true,\"biz_id\":\"utf8-%d\"}", i, i)),
			b64(fmt.Sprintf(`[1,2,3,%d]`, i)),
			b64(deep),
			big64,
			b64(fmt.Sprintf("{\"phone_number\":\"130\x00%d\",\"success\":true,\"biz_id\":\"nul-%d\x00\"}", i, i)),
			b64(fmt.Sprintf(`{"phone_number":13000000000,"success":"maybe","biz_id":%d,"send_time":true,"sms_size":[1]}`, i)),
		)
	}
	return out
}

func stderrFull(ctx context.Context, b binaries) (outcome, error) {
	w, err := worldWithReports(b, visibility, "full", 50)
	if err != nil {
		return outcome{}, err
	}
	defer w.close()
	r, err := invoke(ctx, spec{bin: b.drain, env: w.baseEnv(), stderr: "/dev/full"})
	if err != nil {
		return outcome{}, err
	}
	l := w.account([]run{r})
	// No record can have been written, so every message must still be queued.
	return outcome{Ledger: l, Failed: judge(l, false)}, nil
}

func md5Mismatch(ctx context.Context, b binaries) (outcome, error) {
	d := drainCell{n: 32, faults: []faultproxy.Fault{{Op: faultproxy.OpReceive, Kind: faultproxy.CorruptBody, Times: 1}}}
	o, err := d.run(ctx, b)
	if o.Ledger.DeadLettered > 0 {
		o.Failed = append(o.Failed, fmt.Sprintf("%d intact originals dead-lettered and deleted for an alteration in transit", o.Ledger.DeadLettered))
	}
	return o, err
}

func ignoreCtx(ctx context.Context, b binaries) (outcome, error) {
	const deadline = 20 * time.Second
	w, err := worldWithReports(b, 30*time.Second, "ign", 32)
	if err != nil {
		return outcome{}, err
	}
	defer w.close()
	env := append(w.baseEnv(), "CHAOS_HANDLER=ignorectx", "CHAOS_SLEEP=40s", "CHAOS_EVERY=16")
	r, err := invoke(ctx, spec{bin: b.testfunc, env: env, timeout: deadline, bound: 90 * time.Second})
	if err != nil {
		return outcome{}, err
	}
	l := w.account([]run{r})
	o := outcome{Ledger: l, Failed: judge(l, false), Extra: fmt.Sprintf("wall %.1f s", r.Wall.Seconds())}
	if r.Wall > deadline+3*time.Second {
		o.Failed = append(o.Failed, fmt.Sprintf("returned after %.1f s against a %v deadline", r.Wall.Seconds(), deadline))
	}
	return o, nil
}

// stalledDeletes runs the drain once as first describes (its bin and env are filled in) while
// no delete is ever answered, then clears the stall and drains the queue: it returns that first
// run and the ledger of all of them.
func stalledDeletes(ctx context.Context, b binaries, tag string, first spec) (run, ledger, error) {
	w, err := worldWithReports(b, visibility, tag, 32)
	if err != nil {
		return run{}, ledger{}, err
	}
	defer w.close()
	w.proxy.Add(faultproxy.Fault{Op: faultproxy.OpDelete, Kind: faultproxy.Delay, Delay: 5 * time.Minute})
	first.bin, first.env = b.drain, w.baseEnv()
	r, err := invoke(ctx, first)
	if err != nil {
		return run{}, ledger{}, err
	}
	w.proxy.Clear()
	more, err := w.drainUntilEmpty(ctx, spec{bin: b.drain, env: w.baseEnv()}, 4, visibility+3*time.Second)
	if err != nil {
		return run{}, ledger{}, err
	}
	return r, w.account(append([]run{r}, more...)), nil
}

func deleteStall(ctx context.Context, b binaries) (outcome, error) {
	const deadline = 20 * time.Second
	r, l, err := stalledDeletes(ctx, b, "del", spec{timeout: deadline, bound: 90 * time.Second})
	if err != nil {
		return outcome{}, err
	}
	o := outcome{Ledger: l, Failed: judge(l, true), Extra: fmt.Sprintf("wall %.1f s", r.Wall.Seconds())}
	if r.Wall > deadline+3*time.Second {
		o.Failed = append(o.Failed, fmt.Sprintf("returned after %.1f s against a %v deadline", r.Wall.Seconds(), deadline))
	}
	return o, nil
}

func shortDeadline(ctx context.Context, b binaries) (outcome, error) {
	w, err := worldWithReports(b, visibility, "short", 20)
	if err != nil {
		return outcome{}, err
	}
	defer w.close()
	r, err := invoke(ctx, spec{bin: b.drain, env: w.baseEnv(), timeout: 10 * time.Second})
	if err != nil {
		return outcome{}, err
	}
	l := w.account([]run{r})
	o := outcome{Ledger: l, Failed: judge(l, false), Extra: fmt.Sprintf("exit %d, received %d", r.Exit, r.Report["received"])}
	if r.Exit == 0 && r.Report["received"] == 0 {
		o.Failed = append(o.Failed, "drained nothing and reported success")
	}
	return o, nil
}

func hugeAnswer(op faultproxy.Op) func(context.Context, binaries) (outcome, error) {
	return func(ctx context.Context, b binaries) (outcome, error) {
		w, err := worldWithReports(b, visibility, "huge", 20)
		if err != nil {
			return outcome{}, err
		}
		defer w.close()
		w.proxy.Add(faultproxy.Fault{Op: op, Kind: faultproxy.Huge, Size: 300 * mb, Times: 1})
		runs, err := w.drainUntilEmpty(ctx, spec{bin: b.drain, env: w.baseEnv(), rssLimit: rssGuard}, 3, visibility+3*time.Second)
		if err != nil {
			return outcome{}, err
		}
		l := w.account(runs)
		o := outcome{Ledger: l, Failed: judge(l, true)}
		for _, r := range runs {
			if r.Killed != "" {
				o.Failed = append(o.Failed, r.Killed)
			}
		}
		if l.PeakRSS > memoryBudget {
			o.Failed = append(o.Failed, fmt.Sprintf("peak RSS %d MB > %d MB", l.PeakRSS/mb, memoryBudget/mb))
		}
		return o, nil
	}
}

func lostDeleteAnswers(ctx context.Context, b binaries) (outcome, error) {
	w, err := worldWithReports(b, visibility, "lda", 64)
	if err != nil {
		return outcome{}, err
	}
	defer w.close()
	w.proxy.Add(faultproxy.Fault{Op: faultproxy.OpDelete, Kind: faultproxy.LoseAnswer, Times: 2})
	runs, err := w.drainUntilEmpty(ctx, spec{bin: b.drain, env: w.baseEnv()}, 4, visibility+3*time.Second)
	if err != nil {
		return outcome{}, err
	}
	l := w.account(runs)
	o := outcome{Ledger: l, Failed: judge(l, true)}
	if l.DeleteFailedLie > 0 {
		o.Failed = append(o.Failed, fmt.Sprintf("delete_failed counts %d messages the server had deleted", l.DeleteFailedLie))
	}
	return o, nil
}

func killMidBatch(ctx context.Context, b binaries) (outcome, error) {
	w, err := worldWithReports(b, visibility, "kill", 200)
	if err != nil {
		return outcome{}, err
	}
	defer w.close()
	env := append(w.baseEnv(), "CHAOS_HANDLER=slow", "CHAOS_SLEEP=30ms")
	first, err := invoke(ctx, spec{bin: b.testfunc, env: env, killWhen: func(n int) bool { return n >= 20 }})
	if err != nil {
		return outcome{}, err
	}
	runs, err := w.drainUntilEmpty(ctx, spec{bin: b.drain, env: w.baseEnv()}, 4, visibility+3*time.Second)
	if err != nil {
		return outcome{}, err
	}
	l := w.account(append([]run{first}, runs...))
	o := outcome{Ledger: l, Failed: judge(l, true), Extra: first.Killed}
	if first.Killed == "" {
		o.Failed = append(o.Failed, "the first invocation ended before it could be killed")
	}
	return o, nil
}

func overlapping(ctx context.Context, b binaries) (outcome, error) {
	w, err := worldWithReports(b, visibility, "ovl", 300)
	if err != nil {
		return outcome{}, err
	}
	defer w.close()
	w.srv.SetLatency(2*time.Millisecond, 0)
	const n = 3
	type res struct {
		r   run
		err error
	}
	ch := make(chan res, n)
	for range n {
		go func() {
			r, err := invoke(ctx, spec{bin: b.drain, env: w.baseEnv()})
			ch <- res{r, err}
		}()
	}
	var runs []run
	for range n {
		x := <-ch
		if x.err != nil {
			return outcome{}, x.err
		}
		runs = append(runs, x.r)
	}
	more, err := w.drainUntilEmpty(ctx, spec{bin: b.drain, env: w.baseEnv()}, 3, visibility+3*time.Second)
	if err != nil {
		return outcome{}, err
	}
	l := w.account(append(runs, more...))
	return outcome{Ledger: l, Failed: judge(l, true)}, nil
}

func requestIDs(ctx context.Context, b binaries) (outcome, error) {
	w, err := worldWithReports(b, visibility, "rid", 20)
	if err != nil {
		return outcome{}, err
	}
	defer w.close()
	runs, err := w.drainUntilEmpty(ctx, spec{bin: b.drain, env: w.baseEnv()}, 2, visibility+3*time.Second)
	if err != nil {
		return outcome{}, err
	}
	l := w.account(runs)
	o := outcome{Ledger: l, Failed: judge(l, true)}
	missing := 0
	for _, r := range runs {
		for _, ln := range r.Lines {
			if isRecord(ln) && ln.RequestID == "" {
				missing++
			}
		}
	}
	if missing > 0 {
		o.Failed = append(o.Failed, fmt.Sprintf("%d records without request_id", missing))
	}
	return o, nil
}

// sigtermDuringStall sends SIGTERM 3 s into an invocation whose deletes never answer: it must
// return within about a second plus the in-flight deletes' own bound (here: 10 s), and keep
// every message it could not delete.
func sigtermDuringStall(ctx context.Context, b binaries) (outcome, error) {
	const limit = 10 * time.Second
	r, l, err := stalledDeletes(ctx, b, "term", spec{timeout: 60 * time.Second, termAfter: 3 * time.Second, bound: 90 * time.Second})
	if err != nil {
		return outcome{}, err
	}
	o := outcome{Ledger: l, Failed: judge(l, true), Extra: fmt.Sprintf("exit %.1f s after SIGTERM", r.TermToExit.Seconds())}
	if r.TermToExit > limit {
		o.Failed = append(o.Failed, fmt.Sprintf("returned %.1f s after SIGTERM (bound %v)", r.TermToExit.Seconds(), limit))
	}
	return o, nil
}
