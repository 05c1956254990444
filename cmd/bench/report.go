package main

import (
	"fmt"
	"io"
	"math"
	goruntime "runtime"
	"slices"
	"strings"
	"time"
)

// Targets the output is judged against (issue 5).
const (
	targetReqPerMsg     = 0.13
	targetVsPythonDemo  = 50.0
	targetVsJava        = 4.0
	targetOfBound       = 0.80
	targetDispatchNs    = 5000.0
	targetDispatchAlloc = 20
	targetBinaryBytes   = 15 << 20
	targetColdStart     = 50 * time.Millisecond
)

// check is one target and how the run did against it.
type check struct {
	Target   string
	Measured string
	Status   string // ✓, ✗ or "not measured"
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

const notMeasured = "not measured"

// markBoth judges a target on the default configuration and on the best one found, and says
// which of them meets it when only one does.
func markBoth(defaultOK, bestOK bool) string {
	if defaultOK == bestOK {
		return mark(defaultOK)
	}
	return "default " + mark(defaultOK) + ", best " + mark(bestOK)
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

// checks judges the run against the targets.
func checks(res *results) []check {
	var out []check
	rtt := res.Settings.TargetRTT
	rows := res.at(rtt)
	best, okBest := find(rows, isBest)
	def, okDef := find(rows, isDefault)
	python, okPython := find(rows, isKind(kindPythonDemo))
	java, okJava := find(rows, isKind(kindJava))
	rttName := fmtRTT(rtt)

	c := check{Target: fmt.Sprintf("MNS requests per message, ours at a full backlog (%s): ≤ %.2f", rttName, targetReqPerMsg), Status: notMeasured}
	if okBest && okDef {
		c.Measured = fmt.Sprintf("%.4f default (C=%d), %.4f best (C=%d)", def.ReqPerMsg(), def.Conc, best.ReqPerMsg(), best.Conc)
		c.Status = markBoth(def.ReqPerMsg() <= targetReqPerMsg, best.ReqPerMsg() <= targetReqPerMsg)
	}
	out = append(out, c)

	c = check{Target: fmt.Sprintf("ours at %s ≥ %.0f × the official Python demo's loop", rttName, targetVsPythonDemo), Status: notMeasured}
	if okBest && okPython && python.Rate() > 0 {
		c.Measured = fmt.Sprintf("%.0f × (best), %.0f × (default)", best.Rate()/python.Rate(), def.Rate()/python.Rate())
		c.Status = markBoth(def.Rate()/python.Rate() >= targetVsPythonDemo, best.Rate()/python.Rate() >= targetVsPythonDemo)
	}
	out = append(out, c)

	c = check{Target: fmt.Sprintf("ours at %s ≥ %.0f × the Java puller", rttName, targetVsJava), Status: notMeasured}
	if okBest && okJava && java.Rate() > 0 {
		c.Measured = fmt.Sprintf("%.1f × (best, C=%d), %.1f × (default, C=%d)", best.Rate()/java.Rate(), best.Conc, def.Rate()/java.Rate(), def.Conc)
		c.Status = markBoth(def.Rate()/java.Rate() >= targetVsJava, best.Rate()/java.Rate() >= targetVsJava)
	}
	out = append(out, c)

	c = check{Target: fmt.Sprintf("ours at %s ≥ %.0f %% of C × 16 / RTT for its C", rttName, 100*targetOfBound), Status: notMeasured}
	if okBest && okDef {
		c.Measured = fmt.Sprintf("%.0f %% best (C=%d: %.0f of %.0f msg/s), %.0f %% default (C=%d)",
			100*best.Rate()/best.Bound(), best.Conc, best.Rate(), best.Bound(), 100*def.Rate()/def.Bound(), def.Conc)
		c.Status = markBoth(def.Rate() >= targetOfBound*def.Bound(), best.Rate() >= targetOfBound*best.Bound())
	}
	out = append(out, c)

	c = check{Target: "empty queue, warm: exactly 1 MNS request and 0 token requests", Status: notMeasured}
	var parts []string
	ok := true
	for _, e := range res.Empty {
		if !e.Warm {
			continue
		}
		parts = append(parts, fmt.Sprintf("%d MNS + %d token (wait %s)", e.MNSRequests, e.TokenRequests, fmtWait(e.Wait)))
		ok = ok && e.MNSRequests == 1 && e.TokenRequests == 0
	}
	if len(parts) > 0 {
		c.Measured, c.Status = strings.Join(parts, "; "), mark(ok)
	}
	out = append(out, c)

	c = check{Target: fmt.Sprintf("decode + dispatch of an SmsReport: ≤ %.0f µs and ≤ %d allocations", targetDispatchNs/1000, targetDispatchAlloc), Status: notMeasured}
	for _, b := range res.CPU {
		if strings.HasSuffix(b.Pkg, "/dispatch") && b.Name == "BenchmarkDispatch/SmsReport" {
			c.Measured = fmt.Sprintf("%.2f µs, %d allocs (%s)", b.NsPerOp/1000, b.AllocsPerOp, b.Name)
			c.Status = mark(b.NsPerOp <= targetDispatchNs && b.AllocsPerOp <= targetDispatchAlloc)
		}
	}
	if c.Status == notMeasured && !res.Settings.GoTest {
		c.Measured = "run with -gotest (make bench runs them after this program)"
	}
	out = append(out, c)

	c = check{Target: fmt.Sprintf("stripped binary ≤ %d MB", targetBinaryBytes>>20), Status: notMeasured}
	c2 := check{Target: fmt.Sprintf("cold start to ready ≤ %d ms (median)", targetColdStart.Milliseconds()), Status: notMeasured}
	parts, ok = nil, true
	var ready []string
	okReady, timed := true, false
	for _, b := range res.Binaries {
		parts = append(parts, fmt.Sprintf("%s %.1f MB", b.File, mb(b.Size)))
		ok = ok && b.Size <= targetBinaryBytes
		if b.Timed && len(b.Ready) > 0 {
			timed = true
			ready = append(ready, fmt.Sprintf("%s %.1f ms", b.Platform, ms(b.median())))
			okReady = okReady && b.median() <= targetColdStart
		}
	}
	if len(parts) > 0 {
		c.Measured, c.Status = strings.Join(parts, ", "), mark(ok)
	}
	if timed {
		c2.Measured, c2.Status = strings.Join(ready, ", "), mark(okReady)
	}
	return append(out, c, c2)
}

func us(d time.Duration) float64    { return float64(d) / float64(time.Microsecond) }
func mb(n int64) float64            { return float64(n) / (1 << 20) }
func ms(d time.Duration) float64    { return float64(d) / float64(time.Millisecond) }
func fmtRTT(d time.Duration) string { return strings.TrimSuffix(fmt.Sprintf("%g ms", ms(d)), ".0") }
func fmtWait(d time.Duration) string {
	if d == 0 {
		return "0 s"
	}
	return fmt.Sprintf("%g s", d.Seconds())
}

// ratio formats a / b as "N×".
func ratio(a, b float64) string {
	if b <= 0 {
		return "—"
	}
	x := a / b
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f×", x)
	case x >= 10:
		return fmt.Sprintf("%.1f×", x)
	default:
		return fmt.Sprintf("%.2f×", x)
	}
}

func rateStr(x float64) string {
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
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

func label(r row) string {
	if r.Kind != kindOurs {
		return r.Label
	}
	var tags []string
	if r.Default {
		tags = append(tags, "default")
	}
	if r.Best {
		tags = append(tags, "best")
	}
	if len(tags) == 0 {
		return "ours"
	}
	return "**ours, " + strings.Join(tags, " = ") + "**"
}

func runKind(r row) string {
	if r.Kind == kindOurs {
		if r.Runs > 1 {
			return fmt.Sprintf("whole backlog, median of %d", r.Runs)
		}
		return "whole backlog"
	}
	return fmt.Sprintf("%g s budget", r.Budget.Seconds())
}

// writeThroughput writes the comparison table.
func writeThroughput(w io.Writer, res *results) {
	fmt.Fprintln(w, "| RTT | variant | C | run | messages | time (s) | msg/s | MNS requests | req/msg | token req | ours (best) ÷ this | % of C×16/RTT | CPU µs/msg |")
	fmt.Fprintln(w, "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range res.mainRows() {
		best, _ := find(res.at(r.RTT), isBest)
		bound := "—"
		if r.Kind == kindOurs {
			bound = fmt.Sprintf("%.0f %%", 100*r.Rate()/r.Bound())
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %d | %.2f | %s | %d | %.3f | %d | %s | %s | %.0f |\n",
			fmtRTT(r.RTT), label(r), r.Conc, runKind(r), r.Messages, r.Own.steady.Seconds(), rateStr(r.Rate()),
			r.MNSRequests, r.ReqPerMsg(), r.TokenRequests, ratio(best.Rate(), r.Rate()), bound, us(r.CPUPerMsg()))
	}
}

// writeSweep writes every receiver count ours ran with.
func writeSweep(w io.Writer, res *results) {
	fmt.Fprintln(w, "| RTT | C | msg/s | C×16/RTT | % of bound | msg/s incl. final empty receive | MNS requests | req/msg | BatchReceive | BatchDelete | token req | CPU µs/msg |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range res.Rows {
		if r.Kind != kindOurs {
			continue
		}
		c := fmt.Sprintf("%d", r.Conc)
		if r.Best {
			c = "**" + c + "** (best)"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %.0f %% | %s | %d | %.4f | %d | %d | %d | %.0f |\n",
			fmtRTT(r.RTT), c, rateStr(r.Rate()), r.Bound(), 100*r.Rate()/r.Bound(), rateStr(r.WallRate()),
			r.MNSRequests, r.ReqPerMsg(), r.Ops["BatchReceiveMessage"], r.Ops["BatchDeleteMessage"], r.TokenRequests, us(r.CPUPerMsg()))
	}
}

func writeChecks(w io.Writer, res *results) {
	fmt.Fprintln(w, "| target | measured | |")
	fmt.Fprintln(w, "|---|---|:-:|")
	for _, c := range checks(res) {
		m := c.Measured
		if m == "" {
			m = "—"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", c.Target, m, c.Status)
	}
}

func writeEmpty(w io.Writer, res *results) {
	fmt.Fprintln(w, "| invocation | DRAIN_WAIT_SECONDS | MNS requests | token requests | wall time (ms) |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|")
	for _, e := range res.Empty {
		kind := "cold (first of the instance: token fetch + receive)"
		if e.Warm {
			kind = "warm (token cached)"
		}
		fmt.Fprintf(w, "| %s | %g | %d | %d | %.1f |\n", kind, e.Wait.Seconds(), e.MNSRequests, e.TokenRequests, ms(e.Wall))
	}
}

func writeBinaries(w io.Writer, res *results) {
	fmt.Fprintln(w, "| platform | file | stripped size | runs | ready, median | min | p90 | max |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|")
	for _, b := range res.Binaries {
		if !b.Timed || len(b.Ready) == 0 {
			fmt.Fprintf(w, "| %s | %s | %.2f MB (%d bytes) | 0 | not timed (host is %s/%s) | | | |\n", b.Platform, b.File, mb(b.Size), b.Size, goruntime.GOOS, goruntime.GOARCH)
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %.2f MB (%d bytes) | %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n",
			b.Platform, b.File, mb(b.Size), b.Size, len(b.Ready), ms(b.median()), ms(b.Ready[0]),
			ms(percentile(b.Ready, 0.9)), ms(b.Ready[len(b.Ready)-1]))
	}
}

func writeCPU(w io.Writer, res *results) {
	fmt.Fprintln(w, "| package | benchmark | ns/op | B/op | allocs/op |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|")
	for _, b := range res.CPU {
		pkg := b.Pkg[strings.LastIndexByte(b.Pkg, '/')+1:]
		fmt.Fprintf(w, "| %s | %s | %.0f | %d | %d |\n", pkg, b.Name, b.NsPerOp, b.BytesPerOp, b.AllocsPerOp)
	}
}

// writeResults writes the measured tables (Markdown) to stdout.
func writeResults(w io.Writer, res *results) {
	s := res.Settings
	fmt.Fprintf(w, "# alicom-drain bench\n\n%s\n\n", runLine(res))
	if s.Quick {
		fmt.Fprintf(w, "A smoke run: with %d messages the ramp-up and the final receives dominate, so the targets are not judged fairly here.\n\n", s.Backlog)
	}
	fmt.Fprintln(w, "## Targets")
	fmt.Fprintln(w)
	writeChecks(w, res)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "## Throughput (%d messages over %s; baselines on a %v budget each or until the queue is empty)\n\n",
		s.Backlog, strings.Join(s.Types, "+"), s.Budget)
	writeThroughput(w, res)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Ours by receivers per queue")
	fmt.Fprintln(w)
	writeSweep(w, res)
	fmt.Fprintln(w)
	if len(res.Micro) > 0 {
		fmt.Fprintln(w, "## Client-side CPU per message")
		fmt.Fprintln(w)
		writeMicro(w, res)
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "## Empty queue (RTT %s)\n\n", fmtRTT(s.TargetRTT))
	writeEmpty(w, res)
	if len(res.Binaries) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "## Binaries and cold start")
		fmt.Fprintln(w)
		writeBinaries(w, res)
	}
	if len(res.CPU) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "## Per-message CPU (go test -bench)")
		fmt.Fprintln(w)
		writeCPU(w, res)
	}
}

func runLine(res *results) string {
	s := res.Settings
	mode := ""
	if s.Quick {
		mode = " (-quick)"
	}
	return fmt.Sprintf("Run%s on %s/%s, %d CPUs, %s, %s; took %s.",
		mode, goruntime.GOOS, goruntime.GOARCH, goruntime.NumCPU(), goruntime.Version(),
		res.Started.UTC().Format("2006-01-02 15:04 MST"), res.Elapsed.Round(time.Second))
}

// series is one line of the chart.
type series struct {
	name   string
	color  string
	width  float64
	dash   string
	points [][2]float64 // RTT in ms, msg/s
}

// bestBoundName names the bound line of the best receiver counts, with C when it is the same
// at every round trip.
func bestBoundName(res *results) string {
	cs := map[int]bool{}
	for _, r := range res.Rows {
		if r.Best {
			cs[r.Conc] = true
		}
	}
	if len(cs) == 1 {
		for c := range cs {
			return fmt.Sprintf("bound C×16/RTT, C=%d (best)", c)
		}
	}
	return "bound C×16/RTT for the best C"
}

func chartSeries(res *results) []series {
	pick := func(name, color string, width float64, dash string, pred func(row) bool, value func(row) float64) series {
		s := series{name: name, color: color, width: width, dash: dash}
		for _, rtt := range res.Settings.RTTs {
			if r, ok := find(res.at(rtt), pred); ok {
				s.points = append(s.points, [2]float64{ms(rtt), value(r)})
			}
		}
		return s
	}
	rate := row.Rate
	def := defaultReceivers()
	out := []series{
		pick("ours, best receivers", "#d62728", 3, "", isBest, rate),
		pick(fmt.Sprintf("ours, default (C=%d)", def), "#ff7f0e", 2, "", isDefault, rate),
		pick("Java puller (16 threads)", "#1f77b4", 2, "", isKind(kindJava), rate),
		pick(".NET demo loop (the official .NET demo)", "#2ca02c", 2, "", isKind(kindDotnetDemo), rate),
		pick("Python demo loop (the official Python demo)", "#9467bd", 2, "", isKind(kindPythonDemo), rate),
		pick(fmt.Sprintf("bound C×16/RTT, C=%d", def), "#7f7f7f", 1.5, "6 4", isDefault, row.Bound),
		pick(bestBoundName(res), "#7f7f7f", 1.5, "2 3", isBest, row.Bound),
	}
	return slices.DeleteFunc(out, func(s series) bool { return len(s.points) == 0 })
}

// tick labels a decade on the rate axis: 1, 10, 100, 1k, 10k, 100k, 1M, ...
func tick(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	default:
		return fmt.Sprintf("%g", v)
	}
}

// writeSVG draws throughput against round trip, both axes logarithmic, by hand: no plotting
// module.
func writeSVG(w io.Writer, res *results) error {
	const (
		width, height          = 860.0, 480.0
		left, right, top, bott = 80.0, 270.0, 50.0, 60.0
	)
	ss := chartSeries(res)
	if len(ss) == 0 {
		return fmt.Errorf("no data to chart")
	}
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.points {
			xmin, xmax = math.Min(xmin, p[0]), math.Max(xmax, p[0])
			if p[1] > 0 {
				ymin, ymax = math.Min(ymin, p[1]), math.Max(ymax, p[1])
			}
		}
	}
	lx0, lx1 := math.Log10(xmin), math.Log10(xmax)
	if lx1-lx0 < 0.5 {
		lx0, lx1 = lx0-0.5, lx1+0.5
	} else {
		pad := 0.06 * (lx1 - lx0)
		lx0, lx1 = lx0-pad, lx1+pad
	}
	ly0, ly1 := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
	if ly1 == ly0 {
		ly1++
	}
	pw, ph := width-left-right, height-top-bott
	px := func(v float64) float64 { return left + (math.Log10(v)-lx0)/(lx1-lx0)*pw }
	py := func(v float64) float64 { return top + ph - (math.Log10(v)-ly0)/(ly1-ly0)*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="24" font-size="15" font-weight="bold">Drain throughput against MNS round trip (%d messages, log–log)</text>`+"\n", left, res.Settings.Backlog)
	// Grid: decades on y (with 2 and 5 as minor lines), measured round trips on x.
	for d := ly0; d <= ly1; d++ {
		v := math.Pow(10, d)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ccc"/>`+"\n", left, py(v), left+pw, py(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, py(v)+4, tick(v))
		for _, m := range []float64{2, 5} {
			if d < ly1 {
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", left, py(m*v), left+pw, py(m*v))
			}
		}
	}
	for _, rtt := range res.Settings.RTTs {
		x := px(ms(rtt))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, top, x, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, top+ph+18, fmtRTT(rtt))
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">round trip per MNS request (emulator-injected)</text>`+"\n", left+pw/2, height-16)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">messages per second (handled and deleted)</text>`+"\n", top+ph/2)
	for i, s := range ss {
		dash := ""
		if s.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
		}
		var pts []string
		for _, p := range s.points {
			if p[1] > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p[0]), py(p[1])))
			}
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%.1f"%s points="%s"/>`+"\n", s.color, s.width, dash, strings.Join(pts, " "))
		if s.dash == "" {
			for _, p := range s.points {
				if p[1] > 0 {
					fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s at %s: %s msg/s</title></circle>`+"\n",
						px(p[0]), py(p[1]), s.color, s.name, fmtRTT(time.Duration(p[0]*float64(time.Millisecond))), rateStr(p[1]))
				}
			}
		}
		ly := top + 10 + float64(i)*22
		lx := left + pw + 16
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n", lx, ly, lx+28, ly, s.color, s.width, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+34, ly+4, s.name)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
