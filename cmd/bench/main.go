// Command bench measures what a user of the Alicom drain pays for — MNS requests per message
// and run time per message — against faithful Go re-implementations of the official demos'
// consuming loops, all on the local emulator with an injected round trip:
//
//	go run ./cmd/bench                     # the full run (a few minutes), tables on stdout
//	go run ./cmd/bench -quick              # a smoke run (under a minute)
//	go run ./cmd/bench -gotest -out docs/performance.md -svg docs/throughput.svg
//
// Beside the drain core in this process it runs the deployed function binary as a process of
// its own: an idle invocation at the default settings, one invocation on a backlog from
// process start to exit (its own CPU time per message, apart from the emulator's), and
// DRAIN_MODE=follow with messages arriving at random times (enqueue-to-handler latency, idle
// requests per minute). It also plays a warm instance, which does not pay a fresh process's
// warm-up per invocation: the function's wiring invoked again and again in this process, the
// emulator in a child process (this binary started again), its CPU time per message taken
// around each invocation. And it profiles the client, prices a month on Function Compute for two
// typical customers, sizes the stripped deployment binaries and times their cold start, and
// (with -gotest) runs the per-message CPU benchmarks of shared/alicom and shared/dispatch.
//
// The files are split by role: measurement (main.go, ours.go, baselines.go, fixture.go,
// process.go, warm.go, follow.go, emptyqueue.go, profile.go, coldstart.go, microbench.go, gotest.go),
// the report model (model.go, checks.go, cost.go) and rendering (markdown.go with
// templates/*.tmpl, svg.go). Misses against the project's targets are flagged in the output;
// the exit status is non-zero only when something failed.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alicom-drain/alicom-drain/events"
	"github.com/alicom-drain/alicom-drain/internal/drain"
)

// settings are the knobs of one bench run.
type settings struct {
	Root       string          // repository root (events/, functions/)
	Backlog    int             // messages preloaded for every run
	RTTs       []time.Duration // injected round trips, one set of rows each
	TargetRTT  time.Duration   // the round trip the targets are judged at
	Budget     time.Duration   // time budget of each baseline run
	Receivers  []int           // receiver counts swept for ours
	Types      []string        // message types; the backlog is split over their queues
	Repeat     int             // runs of ours per setting; the median by throughput is kept
	ColdRuns   int             // cold-start runs per binary; 0 skips building
	GoTest     bool            // run the go test CPU benchmarks
	BenchTime  string          // -benchtime for them
	EmptyWaits []time.Duration // long-poll waits of the empty-queue invocations
	Variants   []variantKind   // which variants to run
	Quick      bool

	ProcessBacklog  int             // messages for the function binary's start-to-exit run (0 skips it)
	WarmInvocations int             // invocations of the warm instance per handler and round trip, the first dropped (0 skips it)
	WarmBacklog     int             // messages preloaded before each of them
	FollowRTTs      []time.Duration // round trips of the follow-mode runs (none skips them)
	FollowMessages  int             // messages arriving at random times in each
	FollowIdle      time.Duration   // the idle window whose requests are counted
	FollowActive    time.Duration   // the window the messages arrive over
	Profile         bool            // profile the client at the default receivers and the target RTT
	Prices          prices
}

func main() {
	runEmulatorChild()
	var (
		s          settings
		rtts, recv string
		types      string
		variants   string
		svgPath    string
		outPath    string
		cpuProfile string
		followRTTs string
	)
	flag.IntVar(&s.Backlog, "backlog", 10000, "messages preloaded for each run (split evenly over the -types queues)")
	flag.StringVar(&rtts, "rtts", "1ms,10ms,50ms", "round trips injected by the emulator, comma-separated")
	flag.DurationVar(&s.TargetRTT, "target-rtt", 10*time.Millisecond, "round trip at which the throughput targets are judged")
	flag.DurationVar(&s.Budget, "duration", 5*time.Second, "time budget of each baseline run (split over the queues); a baseline also stops at its first empty receive")
	flag.StringVar(&recv, "receivers", "4,8,16,32", "receivers per queue to sweep for ours (the default, 4, is always included)")
	flag.StringVar(&variants, "variants", "ours,python-demo,dotnet-demo,java", "variants to run")
	flag.StringVar(&types, "types", "SmsReport,SmsUp", "message types: one Alicom queue each, drained one after the other")
	flag.IntVar(&s.Repeat, "repeat", 1, "runs of ours per receiver count and RTT; the median by throughput is reported (its runs are short and noisy)")
	flag.IntVar(&s.ColdRuns, "coldstart-runs", 15, "cold starts per binary (median reported); 0 skips building the binaries")
	flag.BoolVar(&s.GoTest, "gotest", false, "also run the per-message CPU benchmarks (go test -bench) of shared/alicom and shared/dispatch")
	flag.StringVar(&s.BenchTime, "benchtime", "300ms", "-benchtime for -gotest")
	flag.StringVar(&svgPath, "svg", "docs/throughput.svg", "write the throughput chart here, relative to the module root (\"\" for none; -quick writes none unless given)")
	flag.StringVar(&outPath, "out", "", "write docs/performance.md content here, relative to the module root")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run here")
	flag.BoolVar(&s.Quick, "quick", false, "a smoke run: 400 messages, one round trip (10ms), 1s budgets, 3 cold starts, 4 warm invocations on 800 messages")
	flag.IntVar(&s.ProcessBacklog, "process-backlog", 3200, "messages for one invocation of the function binary, timed from process start to exit (0 skips it)")
	flag.IntVar(&s.WarmInvocations, "warm-invocations", 8, "invocations of a warm instance (the drain's wiring in the bench process, the emulator in a child) per handler and round trip; the first is dropped, the median of the others reported (0 skips it)")
	flag.IntVar(&s.WarmBacklog, "warm-backlog", 3200, "messages preloaded before each warm invocation")
	flag.StringVar(&followRTTs, "follow-rtts", "1ms,10ms,50ms", "round trips of the DRAIN_MODE=follow latency runs (\"\" skips them)")
	flag.IntVar(&s.FollowMessages, "follow-messages", 60, "messages arriving at random times in each follow-mode run")
	flag.DurationVar(&s.FollowIdle, "follow-idle", time.Minute, "idle window of each follow-mode run, whose requests are counted (at least two of follow mode's 30 s long polls, or the rate reads 0)")
	flag.DurationVar(&s.FollowActive, "follow-active", 20*time.Second, "window the follow-mode messages arrive over")
	flag.BoolVar(&s.Profile, "profile", true, "profile the client (pprof labels) at the default receivers and the target round trip; off when -cpuprofile is given")
	s.Prices = defaultPrices
	flag.Float64Var(&s.Prices.USDPerCU, "price-cu", defaultPrices.USDPerCU, "Function Compute: USD per compute unit (CU)")
	flag.Float64Var(&s.Prices.VCPU, "fc-vcpu", defaultPrices.VCPU, "Function Compute: vCPUs of the instance the cost table assumes")
	flag.Float64Var(&s.Prices.MemoryGB, "fc-memory-gb", defaultPrices.MemoryGB, "Function Compute: memory (GB) of the instance the cost table assumes")
	flag.Parse()

	err := func() error {
		var err error
		if s.RTTs, err = parseDurations(rtts); err != nil {
			return fmt.Errorf("-rtts: %w", err)
		}
		if s.Receivers, err = parseInts(recv); err != nil {
			return fmt.Errorf("-receivers: %w", err)
		}
		if s.FollowRTTs, err = parseDurations(followRTTs); err != nil {
			return fmt.Errorf("-follow-rtts: %w", err)
		}
		if cpuProfile != "" {
			s.Profile = false
		}
		s.Types = splitList(types)
		for _, v := range splitList(variants) {
			s.Variants = append(s.Variants, variantKind(v))
		}
		// A negative wait is the default: DRAIN_WAIT_SECONDS unset.
		s.EmptyWaits = []time.Duration{-1, time.Second, 0}
		if s.Quick {
			s = quickSettings(s)
			// A smoke run must not overwrite the committed chart.
			svgGiven := false
			flag.Visit(func(f *flag.Flag) { svgGiven = svgGiven || f.Name == "svg" })
			if !svgGiven {
				svgPath = ""
			}
		}
		if s.Root, err = findRoot(); err != nil {
			return err
		}
		svgPath, outPath = underRoot(s.Root, svgPath), underRoot(s.Root, outPath)
		if err := s.validate(); err != nil {
			return err
		}
		if cpuProfile != "" {
			pf, err := os.Create(cpuProfile)
			if err != nil {
				return err
			}
			defer pf.Close()
			if err := pprof.StartCPUProfile(pf); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		var res *results
		pprof.Do(context.Background(), pprof.Labels("side", "client"), func(ctx context.Context) {
			res, err = run(ctx, s, os.Stderr)
		})
		if err != nil {
			return err
		}
		if err := writeResults(os.Stdout, res); err != nil {
			return err
		}
		if svgPath != "" {
			if err := writeFile(svgPath, func(w io.Writer) error { return writeSVG(w, res) }); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "bench: wrote %s\n", svgPath)
		}
		if outPath != "" {
			chart := ""
			if svgPath != "" {
				chart = relPath(filepath.Dir(outPath), svgPath)
			}
			if err := writeFile(outPath, func(w io.Writer) error { return writeDoc(w, res, chart) }); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "bench: wrote %s\n", outPath)
		}
		return nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// quickSettings shrinks a run to a smoke test that still runs every part.
func quickSettings(s settings) settings {
	s.Backlog = 400
	s.RTTs = []time.Duration{10 * time.Millisecond}
	s.TargetRTT = 10 * time.Millisecond
	s.Budget = time.Second
	s.Receivers = []int{4, 8}
	s.Repeat = 1
	s.ColdRuns = min(s.ColdRuns, 3)
	s.EmptyWaits = []time.Duration{-1}
	s.ProcessBacklog = min(s.ProcessBacklog, 800)
	s.WarmInvocations, s.WarmBacklog = min(s.WarmInvocations, 4), min(s.WarmBacklog, 800)
	s.FollowRTTs = []time.Duration{10 * time.Millisecond}
	s.FollowMessages = 20
	s.FollowIdle, s.FollowActive = 5*time.Second, 5*time.Second
	s.Profile = false
	return s
}

func (s settings) validate() error {
	var errs []error
	if s.Backlog < 1 {
		errs = append(errs, fmt.Errorf("-backlog %d: want at least 1", s.Backlog))
	}
	if len(s.RTTs) == 0 {
		errs = append(errs, errors.New("-rtts: want at least one round trip"))
	}
	for _, r := range s.RTTs {
		if r <= 0 {
			errs = append(errs, fmt.Errorf("-rtts %v: want positive round trips", r))
		}
	}
	if s.Budget <= 0 {
		errs = append(errs, fmt.Errorf("-duration %v: want a positive duration", s.Budget))
	}
	if len(s.Receivers) == 0 {
		errs = append(errs, errors.New("-receivers: want at least one count"))
	}
	for _, c := range s.Receivers {
		if c < 1 || c > 64 {
			errs = append(errs, fmt.Errorf("-receivers %d: want 1..64 (DRAIN_RECEIVERS' range)", c))
		}
	}
	if len(s.Types) == 0 {
		errs = append(errs, errors.New("-types: want at least one message type"))
	}
	for _, v := range s.Variants {
		if !slices.Contains(allVariants, v) {
			errs = append(errs, fmt.Errorf("-variants %q: want some of %v", v, allVariants))
		}
	}
	if s.Repeat < 1 {
		errs = append(errs, fmt.Errorf("-repeat %d: want at least 1", s.Repeat))
	}
	if s.ColdRuns < 0 {
		errs = append(errs, fmt.Errorf("-coldstart-runs %d: want 0 or more", s.ColdRuns))
	}
	if s.ProcessBacklog < 0 {
		errs = append(errs, fmt.Errorf("-process-backlog %d: want 0 or more", s.ProcessBacklog))
	}
	if s.WarmInvocations < 0 || s.WarmInvocations == 1 {
		errs = append(errs, fmt.Errorf("-warm-invocations %d: want 0 (skip) or at least 2 (the first is dropped)", s.WarmInvocations))
	}
	if s.WarmInvocations > 0 && s.WarmBacklog < 1 {
		errs = append(errs, fmt.Errorf("-warm-backlog %d: want at least 1", s.WarmBacklog))
	}
	if len(s.FollowRTTs) > 0 && (s.FollowMessages < 1 || s.FollowIdle <= 0 || s.FollowActive <= 0) {
		errs = append(errs, fmt.Errorf("-follow-messages %d, -follow-idle %v, -follow-active %v: want all positive", s.FollowMessages, s.FollowIdle, s.FollowActive))
	}
	if s.Prices.USDPerCU < 0 || s.Prices.VCPU <= 0 || s.Prices.MemoryGB <= 0 {
		errs = append(errs, fmt.Errorf("-price-cu %v, -fc-vcpu %v, -fc-memory-gb %v: want a price ≥ 0 and a positive instance", s.Prices.USDPerCU, s.Prices.VCPU, s.Prices.MemoryGB))
	}
	return errors.Join(errs...)
}

// run measures everything settings ask for, logging progress to log.
func run(ctx context.Context, s settings, log io.Writer) (*results, error) {
	res := &results{Settings: s, Started: time.Now(), NotMeasured: map[string]string{}}
	samples, err := loadSamples(s.Types)
	if err != nil {
		return nil, err
	}
	receivers := sweep(s.Receivers)
	for _, rtt := range s.RTTs {
		var ours []row
		for _, c := range receivers {
			if !slices.Contains(s.Variants, kindOurs) {
				break
			}
			var runs []row
			for range s.Repeat {
				r, err := measureOurs(ctx, s, samples, rtt, c)
				if err != nil {
					return nil, fmt.Errorf("ours, C=%d, RTT %v: %w", c, rtt, err)
				}
				logRow(log, r)
				runs = append(runs, r)
			}
			slices.SortFunc(runs, func(a, b row) int { return cmp.Compare(a.Rate(), b.Rate()) })
			r := runs[len(runs)/2]
			r.Runs = len(runs)
			ours = append(ours, r)
		}
		if len(ours) > 0 {
			markDefaultAndBest(ours)
		}
		res.Rows = append(res.Rows, ours...)
		for _, b := range baselines {
			if !slices.Contains(s.Variants, b.kind) {
				continue
			}
			r, err := measureBaseline(s, samples, rtt, b.kind, b.label, b.conc, b.fn)
			if err != nil {
				return nil, fmt.Errorf("%s, RTT %v: %w", b.label, rtt, err)
			}
			logRow(log, r)
			res.Rows = append(res.Rows, r)
		}
	}

	fmt.Fprintln(log, "bench: client-side CPU per message")
	if res.Micro, err = measureMicro(samples, s.Types); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "alicom-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(log, "bench: building functions/alicom-drain")
	bin, err := buildFunction(s.Root, dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "bench: empty queue at RTT %v\n", s.TargetRTT)
	// An explicit wait equal to the default would measure the same thing twice.
	waits := slices.DeleteFunc(slices.Clone(s.EmptyWaits), func(w time.Duration) bool { return w >= 0 && w == defaultWait() })
	if res.Empty, err = measureEmpty(s.Root, bin, s.TargetRTT, waits); err != nil {
		return nil, err
	}
	if s.ProcessBacklog > 0 {
		fmt.Fprintln(log, "bench: building cmd/bench/noophandler")
		noop, err := buildNoop(s.Root, dir)
		if err != nil {
			return nil, err
		}
		for _, rtt := range s.RTTs {
			for _, h := range []struct{ name, bin string }{{handlerLogSink, bin}, {handlerNoop, noop}} {
				fmt.Fprintf(log, "bench: the function binary (%s) on %d messages at RTT %v, process start to exit\n", h.name, s.ProcessBacklog, rtt)
				p, err := measureProcess(ctx, h.bin, h.name, s, samples, rtt)
				if err != nil {
					return nil, fmt.Errorf("process run (%s) at RTT %v: %w", h.name, rtt, err)
				}
				fmt.Fprintf(log, "bench:   %d msgs in %.2fs = %.0f msg/s, %.3f req/msg, %.1f µs CPU/msg, %.1f without start-up and end (function process only)\n",
					p.Messages, p.Wall.Seconds(), p.Rate(), p.ReqPerMsg(), us(p.CPUPerMsg()), us(p.NetCPUPerMsg()))
				res.Process = append(res.Process, p)
			}
		}
	} else {
		res.NotMeasured["process"] = "-process-backlog 0"
	}
	if s.WarmInvocations > 0 {
		for _, rtt := range warmRTTs(s) {
			for _, h := range []string{handlerLogSink, handlerNoop} {
				fmt.Fprintf(log, "bench: a warm instance (%s) at RTT %v: %d invocations on %d messages each, the first dropped\n", h, rtt, s.WarmInvocations, s.WarmBacklog)
				w, err := measureWarm(ctx, s, h, rtt)
				if err != nil {
					return nil, fmt.Errorf("warm instance (%s) at RTT %v: %w", h, rtt, err)
				}
				fmt.Fprintf(log, "bench:   %.1f µs CPU/msg median (%.1f to %.1f) over %d invocations, the first %.1f; %.3f req/msg, %d token requests\n",
					us(w.CPUPerMsg()), us(w.MinCPUPerMsg()), us(w.MaxCPUPerMsg()), w.Measured(), us(w.FirstCPUPerMsg()), w.ReqPerMsg(), w.TokenRequests())
				res.Warm = append(res.Warm, w)
			}
			fmt.Fprintf(log, "bench: the network floor at RTT %v: the drain's requests for %d messages, %d times, nothing in between\n", rtt, s.WarmBacklog, s.WarmInvocations)
			w, err := measureFloor(ctx, s, rtt)
			if err != nil {
				return nil, fmt.Errorf("network floor at RTT %v: %w", rtt, err)
			}
			fmt.Fprintf(log, "bench:   %.1f µs CPU/msg median (%.1f to %.1f)\n", us(w.CPUPerMsg()), us(w.MinCPUPerMsg()), us(w.MaxCPUPerMsg()))
			res.Warm = append(res.Warm, w)
		}
	} else {
		res.NotMeasured["warm"] = "-warm-invocations 0"
	}
	for _, rtt := range s.FollowRTTs {
		fmt.Fprintf(log, "bench: DRAIN_MODE=follow at RTT %v: %v idle, then %d messages over %v\n", rtt, s.FollowIdle, s.FollowMessages, s.FollowActive)
		f, err := measureFollow(ctx, bin, s, samples, rtt)
		if err != nil {
			return nil, fmt.Errorf("follow mode at RTT %v: %w", rtt, err)
		}
		if f.NotMeasured != "" {
			fmt.Fprintf(log, "bench:   not measured: %s\n", f.NotMeasured)
		} else {
			fmt.Fprintf(log, "bench:   p50 %v, p99 %v, idle %.1f requests/min\n", f.P50(), f.P99(), f.IdlePerMinute)
		}
		res.Follow = append(res.Follow, f)
		if f.NotMeasured != "" {
			break // the same binary will not follow at another round trip either
		}
	}
	if s.Profile && slices.Contains(s.Variants, kindOurs) {
		fmt.Fprintf(log, "bench: profiling the client at C=%d, RTT %v\n", defaultReceivers(), s.TargetRTT)
		p, err := profileClient(ctx, s, samples, s.TargetRTT, defaultReceivers())
		if err != nil {
			return nil, err
		}
		res.Profile = &p
	}
	if s.ColdRuns > 0 {
		fmt.Fprintf(log, "bench: building the deployment binaries, %d cold starts each\n", s.ColdRuns)
		f, err := newFixture(s.TargetRTT, 0, s.Types, nil)
		if err != nil {
			return nil, err
		}
		res.Binaries, err = measureBinaries(s.Root, s.ColdRuns, f.srv.URL())
		f.close()
		if err != nil {
			return nil, err
		}
	}
	if s.GoTest {
		fmt.Fprintf(log, "bench: go test -bench %s\n", strings.Join(cpuPackages, " "))
		if res.CPU, err = runGoBench(s.Root, s.BenchTime); err != nil {
			return nil, err
		}
	}
	res.Elapsed = time.Since(res.Started)
	return res, nil
}

// sweep is the receiver counts to run, the default always among them, ascending.
func sweep(counts []int) []int {
	out := append([]int(nil), counts...)
	if def := drain.DefaultOptions().Receivers; !slices.Contains(out, def) {
		out = append(out, def)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func markDefaultAndBest(ours []row) {
	best := 0
	for i := range ours {
		ours[i].Default = ours[i].Conc == drain.DefaultOptions().Receivers
		if ours[i].Rate() > ours[best].Rate() {
			best = i
		}
	}
	ours[best].Best = true
}

func measureOurs(ctx context.Context, s settings, samples map[string][]events.Message, rtt time.Duration, receivers int) (row, error) {
	f, err := newFixture(rtt, s.Backlog, s.Types, samples)
	if err != nil {
		return row{}, err
	}
	defer f.close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	settle()
	cpu := processCPU()
	lr, err := runOurs(ctx, f, receivers)
	cpu = processCPU() - cpu
	if err != nil {
		return row{}, err
	}
	r := fromStats(f, row{RTT: rtt, Kind: kindOurs, Label: "ours", Conc: receivers, Own: lr, CPU: cpu})
	if r.Left != 0 || r.Messages != int64(s.Backlog) {
		return r, fmt.Errorf("deleted %d of %d messages, %d left in the queues", r.Messages, s.Backlog, r.Left)
	}
	return r, nil
}

func measureBaseline(s settings, samples map[string][]events.Message, rtt time.Duration, kind variantKind, label string, conc int, fn baselineFunc) (row, error) {
	f, err := newFixture(rtt, s.Backlog, s.Types, samples)
	if err != nil {
		return row{}, err
	}
	defer f.close()
	settle()
	cpu := processCPU()
	lr, err := runBaseline(f, fn, s.Budget)
	cpu = processCPU() - cpu
	if err != nil {
		return row{}, err
	}
	return fromStats(f, row{RTT: rtt, Kind: kind, Label: label, Conc: conc, Budget: s.Budget, Own: lr, CPU: cpu}), nil
}

// settle collects the garbage of earlier runs and of preloading, so that its collection is not
// charged to the next run's CPU time.
func settle() { goruntime.GC() }

// fromStats fills a row's counts from the emulator.
func fromStats(f *fixture, r row) row {
	st := f.srv.Stats()
	r.MNSRequests, r.TokenRequests, r.Ops = st.MNSRequests, st.TokenRequests, st.Requests
	for _, t := range f.types {
		q := st.Queues[f.queueName(t)]
		r.Messages += q.Deleted
		r.Left += q.Active + q.Inactive + q.Delayed
	}
	return r
}

func logRow(w io.Writer, r row) {
	fmt.Fprintf(w, "bench: RTT %-5v %-36s C=%-2d %6d msgs in %6.2fs = %8.0f msg/s (whole wall %8.0f), %.3f req/msg, %d token req, %4.0f µs CPU/msg\n",
		r.RTT, r.Label, r.Conc, r.Messages, r.Own.steady.Seconds(), r.Rate(), r.WallRate(), r.ReqPerMsg(), r.TokenRequests, float64(r.CPUPerMsg())/1e3)
}

// findRoot walks up from the working directory to the module root.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/alicom-drain/alicom-drain\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run bench inside the alicom-drain module (no go.mod of github.com/alicom-drain/alicom-drain above the working directory)")
		}
		dir = parent
	}
}

func writeFile(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// underRoot resolves a relative output path against the module root.
func underRoot(root, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(root, path)
}

// relPath is target relative to dir when possible (for a Markdown link), target otherwise.
func relPath(dir, target string) string {
	if r, err := filepath.Rel(dir, target); err == nil {
		return filepath.ToSlash(r)
	}
	return filepath.ToSlash(target)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, p := range splitList(s) {
		d, err := time.ParseDuration(p)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// defaultReceivers is the receiver count the function uses unless configured.
func defaultReceivers() int { return drain.DefaultOptions().Receivers }
