// Command chaos runs the fault matrix: the real drain function binary (and, for misbehaving
// handlers, cmd/chaos/testfunc) against the emulator behind a fault-injecting proxy
// (internal/faultproxy), one cell per fault. Each cell enqueues a known set of receipts, runs
// invocations until the queue is empty or a bound is hit, and holds a ledger of what the server
// really did against the function's records and report: nothing lost, nothing deleted without a
// record, duplicates reported, counters that add up, and peak memory where the load is hostile.
//
//	go run ./cmd/chaos                       # every cell, the table on stdout (make chaos)
//	go run ./cmd/chaos -short                # the cells make test runs
//	go run ./cmd/chaos -out docs/chaos.md    # and the page
//
// A broken promise marks its cell ✗ and the run goes on; the exit status is 1 when any cell
// failed, 2 when the matrix could not run.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"text/template"
	"time"
)

func main() {
	short := flag.Bool("short", false, "run only the cells make test runs")
	match := flag.String("run", "", "run only the cells whose name matches this regular expression")
	out := flag.String("out", "", "also write the Markdown page here (docs/chaos.md), relative to the module root")
	flag.Parse()
	code, err := mainErr(*short, *match, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func mainErr(short bool, match, out string) (int, error) {
	re, err := regexp.Compile(match)
	if err != nil {
		return 0, fmt.Errorf("-run: %w", err)
	}
	root, err := findRoot()
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "alicom-chaos-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	bins, err := build(root, dir)
	if err != nil {
		return 0, err
	}
	var selected []cell
	for _, c := range cells() {
		if (!short || c.Short) && re.MatchString(c.Name) {
			selected = append(selected, c)
		}
	}
	start := time.Now()
	rows := runCells(context.Background(), bins, selected, os.Stderr)
	page := pageData{Rows: rows, Short: short, Took: time.Since(start).Round(time.Second),
		When: start.UTC().Format("2006-01-02 15:04 MST"), Host: fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())}
	var buf bytes.Buffer
	if err := render(&buf, page); err != nil {
		return 0, err
	}
	os.Stdout.Write(buf.Bytes())
	if out != "" {
		if !filepath.IsAbs(out) {
			out = filepath.Join(root, out)
		}
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			return 0, err
		}
		fmt.Fprintln(os.Stderr, "chaos: wrote", out)
	}
	for _, r := range rows {
		if r.Status == "✗" {
			return 1, nil
		}
	}
	return 0, nil
}

// row is one cell's line in the table.
type row struct {
	Cell    cell
	Outcome outcome
	Err     error
	Status  string // ✓, ✗ or "skipped"
	Took    time.Duration
}

// Notes is what the result column says after the mark.
func (r row) Notes() string {
	var parts []string
	if r.Err != nil {
		parts = append(parts, "could not run: "+r.Err.Error())
	}
	if r.Outcome.Skipped != "" {
		parts = append(parts, r.Outcome.Skipped)
	}
	parts = append(parts, r.Outcome.Failed...)
	if r.Outcome.Extra != "" && len(r.Outcome.Failed) == 0 {
		parts = append(parts, r.Outcome.Extra)
	}
	return strings.ReplaceAll(strings.Join(parts, "; "), "|", "\\|")
}

// PeakMB is the peak RSS in MB, or "" when not measured.
func (r row) PeakMB() string {
	if r.Outcome.Ledger.PeakRSS == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f MB", float64(r.Outcome.Ledger.PeakRSS)/float64(mb))
}

// runCells runs every cell, one after the other, logging each result to log.
func runCells(ctx context.Context, bins binaries, cs []cell, log io.Writer) []row {
	var rows []row
	for _, c := range cs {
		start := time.Now()
		o, err := c.Run(ctx, bins)
		r := row{Cell: c, Outcome: o, Err: err, Took: time.Since(start)}
		switch {
		case err == nil && o.Skipped != "":
			r.Status = "skipped"
		case err == nil && len(o.Failed) == 0:
			r.Status = "✓"
		default:
			r.Status = "✗"
		}
		fmt.Fprintf(log, "chaos: %-60s %s (%.1f s) %s\n", c.Name, r.Status, r.Took.Seconds(), r.Notes())
		rows = append(rows, r)
	}
	return rows
}

// build compiles the drain function, the chaos handlers' function and, when the tree has one,
// the push function into dir.
func build(root, dir string) (binaries, error) {
	b := binaries{drain: filepath.Join(dir, "alicom-drain"), testfunc: filepath.Join(dir, "testfunc")}
	targets := [][2]string{{b.drain, "./functions/alicom-drain"}, {b.testfunc, "./cmd/chaos/testfunc"}}
	for _, p := range []string{"functions/alicom-push", "functions/mns-notify"} {
		if _, err := os.Stat(filepath.Join(root, p, "main.go")); err == nil {
			b.push = filepath.Join(dir, "push")
			targets = append(targets, [2]string{b.push, "./" + p})
			break
		}
	}
	for _, t := range targets {
		cmd := exec.Command("go", "build", "-o", t[0], t[1])
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go build %s: %v\n%s", t[1], err, out)
		}
	}
	return b, nil
}

// findRoot walks up from the working directory to the module root.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/alicom-drain/alicom-drain\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run chaos inside the alicom-drain module")
		}
		dir = parent
	}
}

// pageData is what the page template renders.
type pageData struct {
	Rows  []row
	Short bool
	Took  time.Duration
	When  string
	Host  string
}

// Failing lists the cells marked ✗.
func (p pageData) Failing() []row {
	var out []row
	for _, r := range p.Rows {
		if r.Status == "✗" {
			out = append(out, r)
		}
	}
	return out
}

//go:embed chaos.md.tmpl
var pageTemplate string

var page = template.Must(template.New("chaos.md").Parse(pageTemplate))

func render(w io.Writer, p pageData) error { return page.Execute(w, p) }
