package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/alicom-drain/alicom-drain/events"
)

// profileClient runs ours once at C receivers and rtt under the CPU profiler and returns the
// top of the client's share of the profile: every goroutine of the client carries the label
// side=client, the emulator's side=emulator (see newFixture), so -tagfocus keeps the client.
func profileClient(ctx context.Context, s settings, samples map[string][]events.Message, rtt time.Duration, receivers int) (clientProfile, error) {
	p := clientProfile{RTT: rtt, Receivers: receivers}
	dir, err := os.MkdirTemp("", "alicom-bench-prof-")
	if err != nil {
		return p, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "cpu.prof")
	pf, err := os.Create(path)
	if err != nil {
		return p, err
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		pf.Close()
		return p, err
	}
	var r row
	pprof.Do(ctx, pprof.Labels("side", "client"), func(ctx context.Context) {
		r, err = measureOurs(ctx, s, samples, rtt, receivers)
	})
	pprof.StopCPUProfile()
	pf.Close()
	if err != nil {
		return p, err
	}
	p.Messages = r.Messages
	cmd := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=25", "-tagfocus=side=client", path)
	cmd.Dir = s.Root
	out, err := cmd.Output()
	if err != nil {
		return p, fmt.Errorf("go tool pprof: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimRight(line, " "); line == "" || strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Type:") ||
			strings.HasPrefix(line, "Time:") || strings.HasPrefix(line, "Build ID:") {
			continue
		}
		p.Top = append(p.Top, line)
	}
	return p, nil
}
