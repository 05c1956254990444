package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/platform"
	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/app"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

// The warm-instance measurement. A Function Compute or Lambda instance lives on between
// invocations and keeps its token cache and queue clients (app.Drain), so it pays a fresh
// process's warm-up (heap growth and page faults, token fetch, first connections, stack growth)
// once, not per invocation as the start-to-exit process run does. Here the bench process plays
// the instance: it builds the drain exactly as the function's main does and invokes it again and
// again, each time on a freshly preloaded backlog. Its own CPU time is then the client's only if
// the emulator is elsewhere, so the emulator runs in a child process: the bench binary itself,
// started again with emulatorChildEnv set.

// emulatorChildEnv, set in the environment, makes the bench binary serve as the warm
// measurement's emulator (see serveEmulator) instead of running the bench. It is an environment
// variable rather than a flag because the test binary, which re-executes itself the same way
// when the tests run the bench, parses flags of its own; its TestMain checks it too.
const emulatorChildEnv = "ALICOM_BENCH_EMULATOR"

// warmInvocationTimeout is each warm invocation's deadline, the same the start-to-exit run gives
// the binary (-timeout 120s): far longer than a backlog of the default size takes.
const warmInvocationTimeout = 120 * time.Second

// emulatorSpec is what the child emulator is told, as JSON in emulatorChildEnv.
type emulatorSpec struct {
	RTT    time.Duration `json:"rtt"`
	Types  []string      `json:"types"`
	Canned bool          `json:"canned"` // serve the network floor's canned answers instead (see serveCanned)
}

// runEmulatorChild serves as the warm measurement's emulator and exits when emulatorChildEnv
// is set; otherwise it returns at once. main and TestMain call it first thing.
func runEmulatorChild() {
	raw, ok := os.LookupEnv(emulatorChildEnv)
	if !ok {
		return
	}
	if err := serveEmulator(raw, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench emulator:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveEmulator starts the emulator rawSpec describes with the fixture's keys and queues and
// writes its URL as the first line of out. Then, for every line "N" read from in, it writes
// one line of JSON, the emulator's Stats since the line before (so the requests of the
// invocation in between, the messages it deleted and those it left), after preloading N
// messages for the next invocation: with the round trip off while preloading (it is not the
// client's time) and the counters zeroed afterwards. It returns when in ends.
func serveEmulator(rawSpec string, in io.Reader, out io.Writer) error {
	var spec emulatorSpec
	if err := json.Unmarshal([]byte(rawSpec), &spec); err != nil {
		return fmt.Errorf("%s: %w", emulatorChildEnv, err)
	}
	if spec.Canned {
		return serveCanned(spec.RTT, in, out)
	}
	samples, err := loadSamples(spec.Types)
	if err != nil {
		return err
	}
	srv, err := mnslocal.Start(mnslocal.Config{
		Addr: "127.0.0.1:0", AccessKeyID: benchKeyID, AccessKeySecret: benchKeySecret,
		AlicomUID: benchUID, MessageTypes: spec.Types,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	f := &fixture{srv: srv, types: spec.Types, backlog: make(map[string]int)}
	srv.SetLatency(spec.RTT, 0)
	if _, err := fmt.Fprintln(out, srv.URL()); err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		n, err := strconv.Atoi(strings.TrimSpace(lines.Text()))
		if err != nil || n < 0 {
			return fmt.Errorf("want a message count to preload, got %q", lines.Text())
		}
		st := emulatorStats{Stats: srv.Stats(), QueueByType: make(map[string]string)}
		for _, t := range spec.Types {
			st.QueueByType[t] = srv.AlicomQueueName(t)
		}
		srv.SetLatency(0, 0)
		if err := f.preload(n, samples); err != nil {
			return err
		}
		srv.SetLatency(spec.RTT, 0)
		srv.ResetStats()
		if err := enc.Encode(st); err != nil {
			return err
		}
	}
	return lines.Err()
}

// emulatorStats is the child emulator's answer to a preload: its Stats, and the names of the
// queues in them by message type, so that the bench process need not know how it names them.
type emulatorStats struct {
	mnslocal.Stats
	QueueByType map[string]string `json:"queue_by_type"`
}

// emulatorProcess is the child emulator as the bench process drives it.
type emulatorProcess struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer // read only after the child has exited
	url    string
	ended  error // how the child ended, once it has (see end)
	done   bool
}

// startEmulatorProcess starts the bench binary again as the emulator spec describes and
// waits for its URL.
func startEmulatorProcess(ctx context.Context, spec emulatorSpec) (*emulatorProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	e := &emulatorProcess{cmd: exec.CommandContext(ctx, self)}
	e.cmd.Env = append(os.Environ(), emulatorChildEnv+"="+string(raw))
	e.cmd.Stderr = &e.stderr
	if e.in, err = e.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := e.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := e.cmd.Start(); err != nil {
		return nil, err
	}
	e.out = bufio.NewReader(stdout)
	line, err := e.out.ReadString('\n')
	if err != nil {
		return nil, e.failed(fmt.Errorf("reading its URL: %w", err))
	}
	e.url = strings.TrimSpace(line)
	return e, nil
}

// preload has the emulator preload n messages for the next invocation, and returns its Stats
// of the time since the previous call: what the invocation in between did.
func (e *emulatorProcess) preload(n int) (emulatorStats, error) {
	var st emulatorStats
	if _, err := fmt.Fprintf(e.in, "%d\n", n); err != nil {
		return st, e.failed(err)
	}
	line, err := e.out.ReadBytes('\n')
	if err != nil {
		return st, e.failed(err)
	}
	if err := json.Unmarshal(line, &st); err != nil {
		return st, e.failed(fmt.Errorf("its stats %q: %w", line, err))
	}
	return st, nil
}

// close ends the child (it exits when its input ends) and reports how it ended; nil after
// failed, which has reported it already.
func (e *emulatorProcess) close() error {
	if e.done {
		return nil
	}
	if err := e.end(); err != nil {
		return fmt.Errorf("the emulator process: %w: %s", err, strings.TrimSpace(e.stderr.String()))
	}
	return nil
}

// failed stops the child after err and adds what the child said on the way out.
func (e *emulatorProcess) failed(err error) error {
	_ = e.cmd.Process.Kill()
	_ = e.end()
	return fmt.Errorf("the emulator process: %w: %s", err, strings.TrimSpace(e.stderr.String()))
}

// end closes the child's input and waits for it, once.
func (e *emulatorProcess) end() error {
	if !e.done {
		e.done = true
		e.in.Close()
		e.ended = e.cmd.Wait()
	}
	return e.ended
}

// warmRTTs are the round trips of the warm-instance rows: the target round trip and every one
// of -rtts, ascending.
func warmRTTs(s settings) []time.Duration {
	out := append(slices.Clone(s.RTTs), s.TargetRTT)
	slices.Sort(out)
	return slices.Compact(out)
}

// measureWarm runs a warm instance with handler (handlerLogSink or handlerNoop) at rtt:
// s.WarmInvocations invocations in a row, each on a fresh backlog of s.WarmBacklog messages, the
// CPU time of the bench process taken around each invocation only.
func measureWarm(ctx context.Context, s settings, handler string, rtt time.Duration) (warmRow, error) {
	em, err := startEmulatorProcess(ctx, emulatorSpec{RTT: rtt, Types: s.Types})
	if err != nil {
		return warmRow{}, err
	}
	w, err := runWarm(ctx, s, handler, rtt, em)
	if err != nil {
		return w, errors.Join(err, em.close())
	}
	return w, em.close()
}

func runWarm(ctx context.Context, s settings, handler string, rtt time.Duration, em *emulatorProcess) (warmRow, error) {
	w := warmRow{Handler: handler, RTT: rtt, Receivers: defaultReceivers(), Backlog: int64(s.WarmBacklog)}
	d, closeLog, err := newWarmDrain(em.url, s.Types, handler)
	if err != nil {
		return w, err
	}
	defer closeLog()
	// The bench's garbage so far is not the instance's.
	settle()
	for i := range s.WarmInvocations {
		st, err := em.preload(s.WarmBacklog)
		if err != nil {
			return w, err
		}
		if i > 0 {
			w.Invocations[i-1].count(st)
		}
		inv, err := invokeWarm(ctx, d, i)
		w.Invocations = append(w.Invocations, inv)
		if err != nil {
			return w, fmt.Errorf("invocation %d: %w", i+1, err)
		}
	}
	st, err := em.preload(0)
	if err != nil {
		return w, err
	}
	w.Invocations[len(w.Invocations)-1].count(st)
	for i, inv := range w.Invocations {
		if inv.Messages != w.Backlog || inv.Left != 0 {
			return w, fmt.Errorf("invocation %d deleted %d of %d messages and left %d", i+1, inv.Messages, w.Backlog, inv.Left)
		}
	}
	return w, nil
}

// newWarmDrain wires the drain as the function's main (app.Main) does, on the environment the
// function binary gets from functionEnv: the configuration, the router with the configured
// sink (the log sink, its records written to /dev/null, where a deployment's logs go: written,
// then forgotten) or with the no-op handler cmd/bench/noophandler registers, and the drain with
// the default credential chain. It leaves out what app.Main adds per invocation and not per
// message: the metric lines.
func newWarmDrain(url string, types []string, handler string) (d *app.Drain, closeLog func(), err error) {
	env := map[string]string{}
	for _, kv := range functionEnvAt(url, types) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := config.Load(getenv)
	if err == nil {
		err = cfg.CheckOutsideFC()
	}
	if err != nil {
		return nil, nil, err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	closeLog = func() { devnull.Close() }
	logger := app.NewLogger(devnull, cfg.LogLevel)
	router, err := app.NewRouter(cfg, logger)
	if err == nil && handler == handlerNoop {
		for _, t := range alicom.KnownTypes() {
			router.Handle(t, func(context.Context, *dispatch.Message) error { return nil })
		}
	}
	if err == nil {
		d, err = app.New(cfg, router, logger, token.DefaultChain(getenv))
	}
	if err != nil {
		closeLog()
		return nil, nil, err
	}
	return d, closeLog, nil
}

// invokeWarm runs the i-th invocation of the warm instance d as the platform layer does
// locally, and times it: wall time and the bench process's CPU time, which, with the emulator
// in another process, is the instance's.
func invokeWarm(ctx context.Context, d *app.Drain, i int) (warmInvocation, error) {
	deadline := time.Now().Add(warmInvocationTimeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	inv := platform.Invocation{Platform: platform.Local, RequestID: fmt.Sprintf("bench-warm-%d", i+1), Deadline: deadline, Function: "alicom-drain"}
	start, cpu := time.Now(), processCPU()
	_, err := d.Invoke(ctx, inv)
	return warmInvocation{CPU: processCPU() - cpu, Wall: time.Since(start)}, err
}

// count fills an invocation's counts from the emulator's Stats over it.
func (inv *warmInvocation) count(st emulatorStats) {
	inv.MNSRequests, inv.TokenRequests = st.MNSRequests, st.TokenRequests
	for _, name := range st.QueueByType {
		q := st.Queues[name]
		inv.Messages += q.Deleted
		inv.Left += q.Active + q.Inactive + q.Delayed
	}
}
