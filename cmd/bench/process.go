package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alicom-drain/alicom-drain/events"
	"github.com/alicom-drain/alicom-drain/internal/procmem"
)

// buildFunction compiles the drain function as it is deployed (functions/alicom-drain) into
// dir, for the measurements that run it as a process of its own.
func buildFunction(root, dir string) (string, error) {
	return buildMain(root, dir, "./functions/alicom-drain")
}

// buildNoop compiles the same function with a no-op handler in place of the log sink
// (cmd/bench/noophandler): the client's CPU without the sink's.
func buildNoop(root, dir string) (string, error) {
	return buildMain(root, dir, "./cmd/bench/noophandler")
}

func buildMain(root, dir, pkg string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// The handlers a process run is measured with.
const (
	handlerLogSink = "log sink"
	handlerNoop    = "no-op"
)

// functionEnv is the configuration the bench gives the function binary: the fixture's emulator
// for both endpoints and the bench's customer keys, plus extra.
func functionEnv(f *fixture, extra ...string) []string {
	return functionEnvAt(f.srv.URL(), f.types, extra...)
}

// functionEnvAt is functionEnv for an emulator at url with one queue per message type in
// types: the warm-instance measurement's emulator runs in a child process, not in a fixture,
// and the drain it runs in the bench process must be configured exactly as the binary is.
func functionEnvAt(url string, types []string, extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"ALICOM_MESSAGE_TYPES=" + strings.Join(types, ","),
		"ALICOM_ACCOUNT_UID=" + benchUID,
		"ALICOM_MNS_ENDPOINT=" + url,
		"ALICOM_DYBASEAPI_ENDPOINT=" + url,
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + benchKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + benchKeySecret,
	}, extra...)
}

// measureProcess runs one local invocation of the function binary bin (whose handler is
// named by handler) on a preloaded backlog at rtt, from process start to exit, at the default
// settings: the whole-wall rate a user gets
// from one invocation, and the CPU time of the function process alone (getrusage of the child:
// the emulator runs in the bench process and is not counted).
func measureProcess(ctx context.Context, bin, handler string, s settings, samples map[string][]events.Message, rtt time.Duration) (processRow, error) {
	// The same invocation on empty queues first: its CPU is the start-up and the end, which
	// the per-message figure leaves out.
	idle, err := newFixture(rtt, 0, s.Types, samples)
	if err != nil {
		return processRow{}, err
	}
	_, idleCPU, _, idleErr := runProcess(ctx, bin, idle)
	idle.close()
	if idleErr != nil {
		return processRow{}, fmt.Errorf("the function failed on empty queues: %w", idleErr)
	}
	f, err := newFixture(rtt, s.ProcessBacklog, s.Types, samples)
	if err != nil {
		return processRow{}, err
	}
	defer f.close()
	settle()
	wall, cpu, rss, runErr := runProcess(ctx, bin, f)
	p := processRow{Handler: handler, RTT: rtt, Receivers: defaultReceivers(), Wall: wall, Backlog: int64(s.ProcessBacklog), CPU: cpu, IdleCPU: idleCPU, MaxRSS: rss}
	st := f.srv.Stats()
	p.MNSRequests, p.TokenRequests = st.MNSRequests, st.TokenRequests
	for _, t := range f.types {
		q := st.Queues[f.queueName(t)]
		p.Messages += q.Deleted
		p.Left += q.Active + q.Inactive + q.Delayed
	}
	if runErr != nil {
		return p, fmt.Errorf("the function failed: %w", runErr)
	}
	if p.Left != 0 {
		return p, fmt.Errorf("the function left %d of %d messages", p.Left, s.ProcessBacklog)
	}
	return p, nil
}

// runProcess runs one local invocation of the function against f and returns its wall time
// from process start to exit, its own CPU time and its peak RSS.
func runProcess(ctx context.Context, bin string, f *fixture) (wall, cpu time.Duration, maxRSS int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-timeout", "120s")
	cmd.Env = functionEnv(f)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, 0, 0, err
	}
	defer devnull.Close()
	// The records go where a deployment's logs go: written, then forgotten.
	cmd.Stdout, cmd.Stderr = devnull, devnull
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	// The peak resident set is sampled from /proc: getrusage's maxrss of a child holds the
	// parent's resident set at the spawn, and the bench process is the larger one.
	done := make(chan struct{})
	var peak atomic.Int64
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if h := procmem.PeakRSS(cmd.Process.Pid); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	wall = time.Since(start)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return wall, cpu, peak.Load(), err
}
