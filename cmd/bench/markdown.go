package main

import (
	"embed"
	"fmt"
	"io"
	goruntime "runtime"
	"strings"
	"text/template"
	"time"
)

// The Markdown renderer: the page (docs/performance.md) and the run's tables on stdout, both
// from templates under templates/, fed a view of the report model. The chart is svg.go's.

//go:embed templates/*.tmpl
var templateFiles embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"rtt":       fmtRTT,
	"rate":      rateStr,
	"ratio":     ratio,
	"us":        us,
	"ms":        ms,
	"mb":        mb,
	"wait":      fmtWait,
	"pct":       func(x float64) string { return fmt.Sprintf("%.0f %%", 100*x) },
	"label":     label,
	"run":       runKind,
	"join":      strings.Join,
	"cell":      func(s string) string { return strings.ReplaceAll(s, "|", "\\|") },
	"labelPy":   func() string { return upperFirst(labelPythonDemo) },
	"labelNet":  func() string { return upperFirst(labelDotnetDemo) },
	"labelJava": func() string { return upperFirst(labelJava) },
}).ParseFS(templateFiles, "templates/*.tmpl"))

// view is what the templates read: the results and the figures derived for the page.
type view struct {
	*results
	Chart string // the chart's path relative to the page, "" for none
}

// writeDoc writes docs/performance.md.
func writeDoc(w io.Writer, res *results, chart string) error {
	return templates.ExecuteTemplate(w, "performance.md.tmpl", view{results: res, Chart: chart})
}

// writeResults writes the run's tables (Markdown) for the terminal.
func writeResults(w io.Writer, res *results) error {
	return templates.ExecuteTemplate(w, "results.md.tmpl", view{results: res})
}

// Checks judges the run against the targets.
func (v view) Checks() []check { return checks(v.results) }

// MainRows are the rows of the comparison table.
func (v view) MainRows() []row { return v.mainRows() }

// OursRows are ours at every receiver count.
func (v view) OursRows() []row { return v.oursRows() }

// BestAt is ours at its best receiver count at rtt.
func (v view) BestAt(rtt time.Duration) row { r, _ := find(v.at(rtt), isBest); return r }

// Costs is the monthly cost table.
func (v view) Costs() []costRow { return v.costs() }

// Target is the row of kind k at the target round trip, and whether there is one.
func (v view) Target(k variantKind) *row {
	pred := isKind(k)
	if k == kindOurs {
		pred = isDefault
	}
	if r, ok := find(v.at(v.Settings.TargetRTT), pred); ok {
		return &r
	}
	return nil
}

// TargetBest is ours at its best receiver count at the target round trip.
func (v view) TargetBest() *row {
	if r, ok := find(v.at(v.Settings.TargetRTT), isBest); ok {
		return &r
	}
	return nil
}

// WarmIdle is the warm empty-queue invocation at the default settings.
func (v view) WarmIdle() *emptyRow {
	if e, ok := v.warmEmpty(true, 0); ok {
		return &e
	}
	return nil
}

// WarmIdleWith is the warm empty-queue invocation with an explicit wait.
func (v view) WarmIdleWith(wait time.Duration) *emptyRow {
	if e, ok := v.warmEmpty(false, wait); ok {
		return &e
	}
	return nil
}

// TargetProcess is the process run at the target round trip.
func (v view) TargetProcess() *processRow {
	if p, ok := v.processAt(v.Settings.TargetRTT); ok {
		return &p
	}
	return nil
}

// TargetProcessNoop is the process run with the no-op handler at the target round trip.
func (v view) TargetProcessNoop() *processRow {
	if p, ok := v.processWith(handlerNoop, v.Settings.TargetRTT); ok {
		return &p
	}
	return nil
}

// TargetWarmNoop is the warm instance with the no-op handler at the target round trip.
func (v view) TargetWarmNoop() *warmRow {
	if w, ok := v.warmWith(handlerNoop, v.Settings.TargetRTT); ok {
		return &w
	}
	return nil
}

// TargetFloor is the network floor at the target round trip.
func (v view) TargetFloor() *warmRow {
	if w, ok := v.warmWith(handlerFloor, v.Settings.TargetRTT); ok {
		return &w
	}
	return nil
}

// RunLine says where and when the run happened.
func (v view) RunLine() string {
	s := v.Settings
	mode := ""
	if s.Quick {
		mode = " (-quick)"
	}
	return fmt.Sprintf("Run%s on %s/%s, %d CPUs, %s, %s; took %s.",
		mode, goruntime.GOOS, goruntime.GOARCH, goruntime.NumCPU(), goruntime.Version(),
		v.Started.UTC().Format("2006-01-02 15:04 MST"), v.Elapsed.Round(time.Second))
}

// CmdLine is the bench's command line that reproduces the run's settings.
func (v view) CmdLine() string {
	s := v.Settings
	if s.Quick {
		return "-quick"
	}
	parts := []string{fmt.Sprintf("-backlog %d", s.Backlog), "-rtts " + joinDurations(s.RTTs),
		fmt.Sprintf("-duration %v", s.Budget), "-receivers " + joinInts(s.Receivers), "-types " + strings.Join(s.Types, ",")}
	if s.Repeat > 1 {
		parts = append(parts, fmt.Sprintf("-repeat %d", s.Repeat))
	}
	if s.GoTest {
		parts = append(parts, "-gotest")
	}
	return strings.Join(parts, " ")
}

// CPUPackages are the packages of the go test benchmarks.
func (v view) CPUPackages() string { return strings.Join(cpuPackages, " ") }

// DecodeShare says what the SDK's decoder costs per 16-message receive, in ms of CPU, and the
// share of C × 16 / RTT it takes at a 10 ms round trip; "" when the steps were not timed.
func (v view) DecodeShare() string {
	if len(v.Micro) < 3 {
		return ""
	}
	sdk, dispatch := v.Micro[0], v.Micro[2]
	return fmt.Sprintf("Decoding a receive answer with the SDK's decoder costs %s the decode and dispatch of the message itself: "+
		"%.2f ms of CPU per 16-message receive on the receiver's critical path, %.0f %% off C × 16 / RTT at a 10 ms round trip.",
		ratio(float64(sdk.PerMsg), float64(dispatch.PerMsg)), 16*ms(sdk.PerMsg), 100*(1-10/(10+16*ms(sdk.PerMsg))))
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

func joinDurations(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.String())
	}
	return strings.Join(out, ",")
}

func joinInts(ns []int) string {
	var out []string
	for _, n := range ns {
		out = append(out, fmt.Sprint(n))
	}
	return strings.Join(out, ",")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
