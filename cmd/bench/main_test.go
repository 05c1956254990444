package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run the bench's core on a small backlog to keep the harness honest: every variant
// must delete everything it received, and its own request counts must agree with the
// emulator's. They assert nothing about speed.

// TestMain lets the test binary serve as the warm measurement's emulator when the bench, run
// by the tests, starts it again as its child (see runEmulatorChild).
func TestMain(m *testing.M) {
	runEmulatorChild()
	os.Exit(m.Run())
}

var (
	smallOnce sync.Once
	smallRes  *results
	smallErr  error
)

// smallSettings is the quick mode shrunk further, with budgets long enough that every baseline
// drains its queues to empty, so the counts are exact.
func smallSettings(t *testing.T) settings {
	t.Helper()
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := quickSettings(settings{Root: root, Variants: allVariants, BenchTime: "10ms"})
	s.Backlog = 70 // 35 per queue: two full batches and a partial one
	s.RTTs = []time.Duration{time.Millisecond}
	s.TargetRTT = time.Millisecond
	s.Budget = 2 * time.Minute
	s.Receivers = []int{2, 4}
	s.Types = []string{"SmsReport", "SmsUp"}
	s.ColdRuns = 0
	s.ProcessBacklog = 70
	s.WarmInvocations, s.WarmBacklog = 3, 70
	s.Prices = defaultPrices
	return s
}

func smallRun(t *testing.T) *results {
	t.Helper()
	smallOnce.Do(func() {
		s := smallSettings(t)
		if err := s.validate(); err != nil {
			smallErr = err
			return
		}
		smallRes, smallErr = run(context.Background(), s, io.Discard)
	})
	if smallErr != nil {
		t.Fatal(smallErr)
	}
	return smallRes
}

func TestEveryVariantDeletesEveryMessageItReceivedAndTheEmulatorAgreesWithItsCounts(t *testing.T) {
	res := smallRun(t)
	s := res.Settings
	nTypes := int64(len(s.Types))
	seen := map[variantKind]int{}
	for _, r := range res.Rows {
		seen[r.Kind]++
		t.Run(string(r.Kind)+"/C="+strconv.Itoa(r.Conc), func(t *testing.T) {
			own := r.Own
			if r.Messages != int64(s.Backlog) || r.Left != 0 {
				t.Errorf("the emulator deleted %d of %d messages and holds %d: want all deleted (budgets are long enough)", r.Messages, s.Backlog, r.Left)
			}
			if own.deleted != r.Messages || own.received != own.deleted || own.failed != 0 || own.deadLettered != 0 || own.deleteFailed != 0 {
				t.Errorf("own counts: received %d, deleted %d, failed %d, dead-lettered %d, delete failed %d; emulator deleted %d",
					own.received, own.deleted, own.failed, own.deadLettered, own.deleteFailed, r.Messages)
			}
			if r.MNSRequests != own.requests {
				t.Errorf("the emulator counted %d MNS requests, the loop made %d", r.MNSRequests, own.requests)
			}
			if r.TokenRequests != own.tokens {
				t.Errorf("the emulator counted %d token requests, the loop made %d", r.TokenRequests, own.tokens)
			}
			var byOp int64
			for op, n := range r.Ops {
				if op != "QueryTokenForMnsQueue" {
					byOp += n
				}
			}
			if byOp != r.MNSRequests {
				t.Errorf("requests by operation %v add up to %d, not %d", r.Ops, byOp, r.MNSRequests)
			}
			if r.Rate() <= 0 || r.ReqPerMsg() <= 0 {
				t.Errorf("rate %v, requests per message %v: want both positive", r.Rate(), r.ReqPerMsg())
			}
			switch r.Kind {
			case kindOurs:
				// Batch receives and batch deletes only; one token per queue's message type.
				want := r.Ops["BatchReceiveMessage"] + r.Ops["BatchDeleteMessage"]
				if want != r.MNSRequests || r.TokenRequests != nTypes {
					t.Errorf("ops %v, %d token requests: want only batch receives and deletes and one token per type", r.Ops, r.TokenRequests)
				}
			case kindPythonDemo:
				// One receive per message plus the empty one that ends each queue, one delete per message.
				if r.Ops["ReceiveMessage"] != own.receives || own.receives != r.Messages+nTypes || r.Ops["DeleteMessage"] != r.Messages {
					t.Errorf("ops %v, own receives %d: want %d receives and %d deletes", r.Ops, own.receives, r.Messages+nTypes, r.Messages)
				}
			case kindDotnetDemo, kindJava:
				if r.Ops["BatchReceiveMessage"] != own.receives || r.Ops["DeleteMessage"] != r.Messages || own.deletes != r.Messages {
					t.Errorf("ops %v, own receives %d, deletes %d: want one delete per message", r.Ops, own.receives, own.deletes)
				}
				wantTokens := nTypes
				if r.Kind == kindDotnetDemo {
					wantTokens = 2 * nTypes // each of the two threads fetches its own
				}
				if r.TokenRequests != wantTokens {
					t.Errorf("%d token requests, want %d", r.TokenRequests, wantTokens)
				}
			}
		})
	}
	want := map[variantKind]int{kindOurs: len(s.Receivers), kindPythonDemo: 1, kindDotnetDemo: 1, kindJava: 1}
	for k, n := range want {
		if seen[k] != n {
			t.Errorf("%d rows of %s, want %d", seen[k], k, n)
		}
	}
	var best, def int
	for _, r := range res.Rows {
		if r.Best {
			best++
		}
		if r.Default {
			def++
		}
	}
	if best != 1 || def != 1 {
		t.Errorf("%d rows marked best and %d default, want one each", best, def)
	}
}

func TestAWarmInvocationOnAnEmptyQueueIsOneReceiveAndNoTokenRequest(t *testing.T) {
	res := smallRun(t)
	if len(res.Empty) != 2 || !res.Empty[0].Default {
		t.Fatalf("%d empty-queue rows, want a cold and a warm one", len(res.Empty))
	}
	cold, warm := res.Empty[0], res.Empty[1]
	if cold.Warm || !warm.Warm {
		t.Fatalf("rows %+v: want cold first", res.Empty)
	}
	if cold.MNSRequests != 1 || cold.TokenRequests != 1 || cold.Ops["ReceiveMessage"]+cold.Ops["BatchReceiveMessage"] != 1 {
		t.Errorf("cold: %d MNS, %d token requests (%v), want 1 and 1", cold.MNSRequests, cold.TokenRequests, cold.Ops)
	}
	if warm.MNSRequests != 1 || warm.TokenRequests != 0 {
		t.Errorf("warm: %d MNS, %d token requests, want 1 and 0", warm.MNSRequests, warm.TokenRequests)
	}
}

func TestTheClientStepsAreTimedPerMessage(t *testing.T) {
	res := smallRun(t)
	if len(res.Micro) != 3 {
		t.Fatalf("%d client-side steps, want 3", len(res.Micro))
	}
	for _, m := range res.Micro {
		if m.PerMsg <= 0 || m.AllocsPerOp <= 0 {
			t.Errorf("%s: %v, %d allocs per message: want both positive", m.Step, m.PerMsg, m.AllocsPerOp)
		}
	}
}

func TestTheOutputsRenderEveryVariant(t *testing.T) {
	res := smallRun(t)
	var md bytes.Buffer
	if err := writeResults(&md, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Targets", "**ours, ", labelPythonDemo, labelDotnetDemo, labelJava, "## Empty queue",
		"| warm (token cached) | ", " (default) | 1 | 0 |", "## One invocation of the function binary", "## A warm instance", "| 1 ms | no-op | 4 | 70 | 2 + 1 |", "## DRAIN_MODE=follow", "## What it costs a month"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the Markdown output lacks %q:\n%s", want, md.String())
		}
	}

	var svg bytes.Buffer
	if err := writeSVG(&svg, res); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg.Bytes()))
	lines := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, svg.String())
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if want := len(chartSeries(res)); lines != want || want < 5 {
		t.Errorf("%d lines in the chart, want one per series (%d, at least the five variants)", lines, want)
	}

	var doc bytes.Buffer
	if err := writeDoc(&doc, res, "throughput.svg"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Performance", "](throughput.svg)", "## What it costs a month", "## Method", "0.125 requests per message",
		"msg/s, whole wall", "### A warm instance", "a warm instance with the no-op handler spends", "## DRAIN_MODE=follow", "## Client-side CPU per message", "| 10000 | the default drain", "| 1000000 | " + labelPythonDemo} {
		if !strings.Contains(doc.String(), want) {
			t.Errorf("the document lacks %q", want)
		}
	}
	if strings.Contains(doc.String(), "<no value>") || strings.Contains(doc.String(), "%!") {
		t.Errorf("the document holds a template or format slip:\n%s", doc.String())
	}
}

func TestTheFunctionBinaryDrainsTheBacklogAsAProcessOfItsOwn(t *testing.T) {
	res := smallRun(t)
	if len(res.Process) != 2 {
		t.Fatalf("%d process rows, want two per round trip (the log sink, a no-op handler)", len(res.Process))
	}
	for i, handler := range []string{handlerLogSink, handlerNoop} {
		p := res.Process[i]
		if p.Handler != handler || p.Messages != 70 || p.Left != 0 || p.CPU <= 0 || p.Wall <= 0 || p.TokenRequests != 2 {
			t.Errorf("process row %+v: want the %s handler, 70 messages deleted, none left, positive CPU and wall, a token per type", p, handler)
		}
	}
}

func TestAWarmInstanceDrainsEveryBacklogAndFetchesTokensOnlyTheFirstTime(t *testing.T) {
	res := smallRun(t)
	if len(res.Warm) != 3 {
		t.Fatalf("%d warm-instance rows, want three per round trip (the log sink, a no-op handler, the network floor)", len(res.Warm))
	}
	if f := res.Warm[2]; f.Handler != handlerFloor || len(f.Invocations) != 3 || f.CPUPerMsg() <= 0 || f.ReqPerMsg() <= 0 {
		t.Errorf("floor row %+v: want the network floor, 3 times, positive CPU and requests", f)
	}
	for i, handler := range []string{handlerLogSink, handlerNoop} {
		w := res.Warm[i]
		if w.Handler != handler || w.RTT != time.Millisecond || len(w.Invocations) != 3 || w.Measured() != 2 {
			t.Fatalf("warm row %+v: want the %s handler at 1 ms, 3 invocations of which 2 measured", w, handler)
		}
		for j, inv := range w.Invocations {
			wantTokens := int64(0)
			if j == 0 {
				wantTokens = 2 // one per message type, then cached
			}
			if inv.Messages != 70 || inv.Left != 0 || inv.CPU <= 0 || inv.Wall <= 0 || inv.MNSRequests <= 0 || inv.TokenRequests != wantTokens {
				t.Errorf("%s, invocation %d: %+v, want 70 messages deleted, none left, positive CPU, wall and requests, %d token requests", handler, j+1, inv, wantTokens)
			}
		}
		if w.CPUPerMsg() <= 0 || w.MinCPUPerMsg() > w.CPUPerMsg() || w.MaxCPUPerMsg() < w.CPUPerMsg() || w.TokenRequests() != 0 {
			t.Errorf("%s: median %v, least %v, most %v, %d token requests measured: want least ≤ median ≤ most and no token request",
				handler, w.CPUPerMsg(), w.MinCPUPerMsg(), w.MaxCPUPerMsg(), w.TokenRequests())
		}
	}
}

func TestFollowModeIsMeasuredOrSaysWhyNot(t *testing.T) {
	res := smallRun(t)
	if len(res.Follow) != 1 {
		t.Fatalf("%d follow rows, want 1", len(res.Follow))
	}
	f := res.Follow[0]
	if f.NotMeasured == "" && (len(f.Latencies) != f.Messages || f.P50() <= 0 || f.P99() < f.P50()) {
		t.Errorf("follow row %+v: measured, but not every message has a latency", f)
	}
}

func TestTheCostTableHasEveryDeploymentForBothCustomers(t *testing.T) {
	res := smallRun(t)
	costs := res.costs()
	if len(costs) != 2*4 {
		t.Fatalf("%d cost rows, want 4 deployments × 2 customers", len(costs))
	}
	for _, c := range costs {
		if c.NotMeasured != "" {
			continue
		}
		if c.USD <= 0 || c.Seconds <= 0 || c.MNSRequests <= 0 {
			t.Errorf("%s at %.0f a day: %+v, want positive cost, seconds and requests", c.Variant, c.PerDay, c)
		}
	}
	if costs[0].NotMeasured != "" || costs[2].NotMeasured != "" {
		t.Errorf("the default drain and the Python demo's loop must be priced: %+v", costs)
	}
	if costs[4].MNSRequests <= costs[0].MNSRequests {
		t.Errorf("a million receipts a day must cost more requests than ten thousand: %v vs %v", costs[4].MNSRequests, costs[0].MNSRequests)
	}
}

func TestPricesTurnSecondsAndInvocationsIntoDollars(t *testing.T) {
	p := defaultPrices
	// 43,200 invocations: 324 CU; 1,000 s at 0.05 vCPU and 0.125 GB: 50 + 18.75 CU.
	got := p.usd(43200, 1000)
	want := (324 + 50 + 18.75) * 0.000020
	if d := got - want; d > 1e-12 || d < -1e-12 {
		t.Errorf("usd = %v, want %v", got, want)
	}
}

func TestChecksMarkMetAndMissedTargets(t *testing.T) {
	rtt := 10 * time.Millisecond
	res := &results{Settings: settings{TargetRTT: rtt, RTTs: []time.Duration{rtt}}}
	mk := func(kind variantKind, conc int, msgs, reqs int64, steady time.Duration) row {
		return row{RTT: rtt, Kind: kind, Conc: conc, Messages: msgs, MNSRequests: reqs, Own: loopResult{steady: steady}}
	}
	ours := mk(kindOurs, 4, 10000, 1260, 2*time.Second) // 5000 msg/s, 78 % of 6400
	ours.Default, ours.Best = true, true
	res.Rows = []row{ours, mk(kindPythonDemo, 1, 250, 500, 5*time.Second), mk(kindJava, 16, 8000, 8500, 5*time.Second)}
	res.Empty = []emptyRow{{Warm: true, MNSRequests: 1}}
	got := map[string]string{}
	for _, c := range checks(res) {
		got[c.Target] = c.Status
	}
	want := map[string]string{
		"MNS requests per message, ours at a full backlog (10 ms): ≤ 0.13": "✓",
		"ours at 10 ms ≥ 50 × the official Python demo's loop":             "✓", // 5000 / 50
		"ours at 10 ms ≥ 4 × the Java receive SDK's puller":                "✗", // 5000 / 1600
		"ours at 10 ms ≥ 80 % of C × 16 / RTT for its C":                   "✗",
		"empty queue, warm: exactly 1 MNS request and 0 token requests":    "✓",
		"stripped binary ≤ 15 MB":                                          notMeasured,
	}
	for target, status := range want {
		if got[target] != status {
			t.Errorf("%q: %q, want %q", target, got[target], status)
		}
	}
}

func TestTheClientCPUTargetQuotesTheWarmInstanceButIsJudgedFromProcessStartToExit(t *testing.T) {
	rtt := 10 * time.Millisecond
	warm := func(handler string, cpu time.Duration) warmRow {
		inv := warmInvocation{CPU: cpu, Wall: time.Second, Messages: 1000, MNSRequests: 126}
		return warmRow{Handler: handler, RTT: rtt, Receivers: 4, Backlog: 1000, Invocations: []warmInvocation{inv, inv, inv}}
	}
	clientCPU := func(res *results) check {
		for _, c := range checks(res) {
			if strings.HasPrefix(c.Target, "client CPU per message") {
				return c
			}
		}
		t.Fatal("no client CPU target among the checks")
		return check{}
	}
	res := &results{Settings: settings{TargetRTT: rtt, RTTs: []time.Duration{rtt}}}
	// 5 µs a message in a warm instance, 50 µs from process start to exit without start-up.
	res.Warm = []warmRow{warm(handlerLogSink, 20*time.Millisecond), warm(handlerNoop, 5*time.Millisecond)}
	if c := clientCPU(res); c.Status != notMeasured || !strings.Contains(c.Measured, "warm instance 5.0 µs (median of 2 invocations") {
		t.Errorf("warm instance only: %+v, want it quoted and the target not measured", c)
	}
	res.Process = []processRow{{Handler: handlerNoop, RTT: rtt, Messages: 1000, CPU: 60 * time.Millisecond, IdleCPU: 10 * time.Millisecond}}
	c := clientCPU(res)
	if c.Status != "✗" {
		t.Errorf("status %q: a warm instance under the target must not mark a start-to-exit run over it met", c.Status)
	}
	for _, want := range []string{"start to exit 50.0 µs", "warm instance 5.0 µs", "with the log sink 20.0 µs"} {
		if !strings.Contains(c.Measured, want) {
			t.Errorf("measured %q lacks %q", c.Measured, want)
		}
	}
}

func TestGoBenchOutputIsParsedWithItsPackage(t *testing.T) {
	out := `goos: linux
pkg: github.com/alicom-drain/alicom-drain/shared/dispatch
cpu: AMD EPYC
BenchmarkDispatch/SmsReport-2   	  512344	      2345 ns/op	     416 B/op	       7 allocs/op
BenchmarkDispatch/SmsUp-emoji-2 	  100	      12.5 ns/op	     0 B/op	       0 allocs/op
PASS
ok  	github.com/alicom-drain/alicom-drain/shared/dispatch	3.1s
`
	got, err := parseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d benchmarks, want 2: %+v", len(got), got)
	}
	want := cpuBench{Pkg: "github.com/alicom-drain/alicom-drain/shared/dispatch", Name: "BenchmarkDispatch/SmsReport", NsPerOp: 2345, BytesPerOp: 416, AllocsPerOp: 7}
	if got[0] != want {
		t.Errorf("got %+v, want %+v", got[0], want)
	}
	if got[1].Name != "BenchmarkDispatch/SmsUp-emoji" || got[1].NsPerOp != 12.5 {
		t.Errorf("a hyphen inside the name must survive: %+v", got[1])
	}
	if _, err := parseGoBench(strings.NewReader("BenchmarkX-2 10 abc ns/op\n")); err == nil {
		t.Error("a malformed number parsed without error")
	}
}

func TestSettingsNameTheFlagThatIsWrong(t *testing.T) {
	good := settings{Backlog: 1, RTTs: []time.Duration{time.Millisecond}, Budget: time.Second, Receivers: []int{4}, Types: []string{"SmsReport"}, Variants: allVariants, Repeat: 1, Prices: defaultPrices}
	if err := good.validate(); err != nil {
		t.Fatalf("valid settings refused: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*settings)
		flag string
	}{
		{"an empty backlog", func(s *settings) { s.Backlog = 0 }, "-backlog"},
		{"a zero round trip", func(s *settings) { s.RTTs = []time.Duration{0} }, "-rtts"},
		{"no round trip", func(s *settings) { s.RTTs = nil }, "-rtts"},
		{"a zero budget", func(s *settings) { s.Budget = 0 }, "-duration"},
		{"65 receivers", func(s *settings) { s.Receivers = []int{65} }, "-receivers"},
		{"no message type", func(s *settings) { s.Types = nil }, "-types"},
		{"an unknown variant", func(s *settings) { s.Variants = []variantKind{"php"} }, "-variants"},
		{"no run of ours", func(s *settings) { s.Repeat = 0 }, "-repeat"},
		{"negative cold starts", func(s *settings) { s.ColdRuns = -1 }, "-coldstart-runs"},
		{"a negative process backlog", func(s *settings) { s.ProcessBacklog = -1 }, "-process-backlog"},
		{"one warm invocation, which is dropped", func(s *settings) { s.WarmInvocations = 1 }, "-warm-invocations"},
		{"warm invocations on an empty backlog", func(s *settings) { s.WarmInvocations, s.WarmBacklog = 2, 0 }, "-warm-backlog"},
		{"follow mode without messages", func(s *settings) { s.FollowRTTs = []time.Duration{time.Millisecond} }, "-follow-messages"},
		{"an instance without vCPUs", func(s *settings) { s.Prices.VCPU = 0 }, "-fc-vcpu"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := good
			c.edit(&s)
			if err := s.validate(); err == nil || !strings.Contains(err.Error(), c.flag) {
				t.Errorf("error %v: want one naming %s", err, c.flag)
			}
		})
	}
}

func TestAMessageTypeWithoutSampleBodiesIsRefused(t *testing.T) {
	_, err := loadSamples([]string{"SmsReport", "NoSuchType"})
	if err == nil || !strings.Contains(err.Error(), "NoSuchType") {
		t.Fatalf("error %v: want one naming the type", err)
	}
}

func TestTheDeploymentBinariesAreBuiltStrippedAndStartAgainstTheStandIn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := newFixture(time.Millisecond, 0, []string{"SmsReport"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	rows, err := measureBinaries(root, 1, f.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].File != "main" || rows[1].File != "bootstrap" {
		t.Fatalf("rows %+v: want main (FC) and bootstrap (Lambda)", rows)
	}
	for _, r := range rows {
		if r.Size < 1<<20 {
			t.Errorf("%s is %d bytes: too small to be the function", r.File, r.Size)
		}
		if r.Timed && (len(r.Ready) != 1 || r.Ready[0] <= 0) {
			t.Errorf("%s: ready times %v, want one positive", r.File, r.Ready)
		}
	}
}

func TestFindRootFindsTheModuleFromASubdirectory(t *testing.T) {
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "functions", "alicom-drain")); err != nil {
		t.Errorf("root %s has no functions/alicom-drain: %v", root, err)
	}
}

func TestAnEmulatorProcessThatCannotStartSaysWhy(t *testing.T) {
	_, err := startEmulatorProcess(context.Background(), emulatorSpec{RTT: time.Millisecond, Types: []string{"NoSuchType"}})
	if err == nil || !strings.Contains(err.Error(), "no sample body") {
		t.Fatalf("error %v: want the child's own reason (no sample body)", err)
	}
}
