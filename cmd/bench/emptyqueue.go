package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/platform/platformtest"
)

// defaultWait is DRAIN_WAIT_SECONDS' documented default, from the one list of variables.
func defaultWait() time.Duration {
	for _, v := range config.Vars {
		if v.Name == "DRAIN_WAIT_SECONDS" {
			if n, err := strconv.Atoi(v.Default); err == nil {
				return time.Duration(n) * time.Second
			}
		}
	}
	return -1
}

// measureEmpty starts the function binary as a Function Compute instance (the stand-in runtime
// API) on an empty SmsReport queue, once per long-poll wait (a negative wait means the default:
// DRAIN_WAIT_SECONDS unset), and invokes it twice: the first invocation of an instance (cold:
// the token is fetched) and the second (warm: the token is cached). Requests come from the
// emulator's counters; wall time is from the invocation's hand-over to its answer.
func measureEmpty(root, bin string, rtt time.Duration, waits []time.Duration) ([]emptyRow, error) {
	event, err := os.ReadFile(filepath.Join(root, "events", "fc-timer.json"))
	if err != nil {
		return nil, err
	}
	var rows []emptyRow
	for _, wait := range waits {
		rs, err := invokeEmpty(bin, event, rtt, wait)
		if err != nil {
			return nil, fmt.Errorf("empty queue, wait %v: %w", wait, err)
		}
		rows = append(rows, rs...)
	}
	return rows, nil
}

func invokeEmpty(bin string, event []byte, rtt, wait time.Duration) ([]emptyRow, error) {
	f, err := newFixture(rtt, 0, []string{"SmsReport"}, nil)
	if err != nil {
		return nil, err
	}
	defer f.close()
	rt := platformtest.New(platformtest.FC)
	defer rt.Close()
	var extra []string
	isDefault := wait < 0
	if isDefault {
		wait = defaultWait()
	} else {
		extra = append(extra, "DRAIN_WAIT_SECONDS="+strconv.Itoa(int(wait/time.Second)))
	}
	cmd := exec.Command(bin)
	cmd.Env = append(functionEnv(f, extra...), rt.EnvVar())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	select {
	case <-rt.Ready():
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("the function did not ask for an invocation within 30 s: %s", stderr.String())
	}
	var rows []emptyRow
	for i, warm := range []bool{false, true} {
		f.srv.ResetStats()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		start := time.Now()
		res, err := rt.Invoke(ctx, event, platformtest.Invocation{
			RequestID: "bench-empty-" + strconv.Itoa(i), Deadline: time.Now().Add(time.Minute), AccountID: benchUID,
		})
		wall := time.Since(start)
		cancel()
		if err != nil {
			return nil, err
		}
		var rep struct {
			Queues []struct {
				Received int64 `json:"received"`
			} `json:"queues"`
		}
		if res.Failed || json.Unmarshal(res.Body, &rep) != nil || len(rep.Queues) != 1 || rep.Queues[0].Received != 0 {
			return nil, fmt.Errorf("unexpected answer %s", res.Body)
		}
		st := f.srv.Stats()
		rows = append(rows, emptyRow{
			Wait: wait, Default: isDefault, Warm: warm, MNSRequests: st.MNSRequests, TokenRequests: st.TokenRequests,
			Ops: st.Requests, Wall: wall,
		})
	}
	return rows, nil
}
