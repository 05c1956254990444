package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/alicom-drain/alicom-drain/events"
)

// measureFollow runs the function binary with DRAIN_MODE=follow on an empty SmsReport queue at
// rtt. It first counts the requests of an idle window, then enqueues n messages at uniformly
// random times over the active window and takes, for each, the time from its enqueue to the
// handler's record of it (the log sink's JSON line, stamped when the handler wrote it). A
// binary that does not follow (it returns before the idle window ends) is reported as not
// measured, with the reason.
func measureFollow(ctx context.Context, bin string, s settings, samples map[string][]events.Message, rtt time.Duration) (followRow, error) {
	row := followRow{RTT: rtt, Messages: s.FollowMessages, IdleWindow: s.FollowIdle, ActiveWindow: s.FollowActive}
	f, err := newFixture(rtt, 0, []string{"SmsReport"}, nil)
	if err != nil {
		return row, err
	}
	defer f.close()
	ctx, cancel := context.WithTimeout(ctx, s.FollowIdle+s.FollowActive+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-timeout", (s.FollowIdle + s.FollowActive + 90*time.Second).String())
	cmd.Env = functionEnv(f, "DRAIN_MODE=follow")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return row, err
	}
	if err := cmd.Start(); err != nil {
		return row, err
	}
	var (
		mu      sync.Mutex
		handled = map[string]time.Time{}
		last    string
	)
	allIn := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l struct {
				Time      time.Time `json:"time"`
				Msg       string    `json:"msg"`
				MessageID string    `json:"message_id"`
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			mu.Lock()
			last = sc.Text()
			if l.Msg == "alicom message" && l.MessageID != "" {
				if _, seen := handled[l.MessageID]; !seen {
					handled[l.MessageID] = l.Time
					if len(handled) == s.FollowMessages {
						close(allIn)
					}
				}
			}
			mu.Unlock()
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-readDone
		exited <- cmd.Wait()
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	started := time.Now()
	notFollowing := func(err error) (followRow, error) {
		mu.Lock()
		defer mu.Unlock()
		why := "its stop reason was \"" + stopReason(last) + "\""
		if err != nil {
			why = err.Error()
		}
		row.NotMeasured = fmt.Sprintf("this build does not follow: with DRAIN_MODE=follow it returned after %.1f s on an idle queue (%s)", time.Since(started).Seconds(), why)
		return row, nil
	}

	// Idle: the first receive is under way once the process has started; count from then.
	select {
	case err := <-exited:
		return notFollowing(err)
	case <-time.After(2 * time.Second):
	}
	f.srv.ResetStats()
	select {
	case err := <-exited:
		return notFollowing(err)
	case <-time.After(s.FollowIdle):
	}
	st := f.srv.Stats()
	row.IdleRequests = st.MNSRequests
	row.IdlePerMinute = float64(st.MNSRequests) / s.FollowIdle.Minutes()

	// Active: n messages at random times over the window.
	f.srv.ResetStats()
	rng := rand.New(rand.NewPCG(uint64(rtt), 42))
	offsets := make([]time.Duration, s.FollowMessages)
	for i := range offsets {
		offsets[i] = time.Duration(rng.Int64N(int64(s.FollowActive)))
	}
	slices.Sort(offsets)
	sent := make(map[string]time.Time, len(offsets))
	bodies := samples["SmsReport"]
	begin := time.Now()
	for i, off := range offsets {
		time.Sleep(time.Until(begin.Add(off)))
		at := time.Now()
		id, err := f.srv.SendMessage(f.queueName("SmsReport"), bodies[i%len(bodies)].Body)
		if err != nil {
			stop()
			return row, err
		}
		mu.Lock()
		sent[id] = at
		mu.Unlock()
	}
	select {
	case <-allIn:
	case err := <-exited:
		return notFollowing(err)
	case <-time.After(30 * time.Second):
	}
	st = f.srv.Stats()
	row.ActiveRequests = st.MNSRequests
	stop()
	mu.Lock()
	defer mu.Unlock()
	for id, at := range sent {
		if h, ok := handled[id]; ok {
			row.Latencies = append(row.Latencies, h.Sub(at))
		}
	}
	slices.Sort(row.Latencies)
	if len(row.Latencies) < s.FollowMessages {
		row.NotMeasured = fmt.Sprintf("only %d of %d messages were handled within 30 s of the last enqueue", len(row.Latencies), s.FollowMessages)
	}
	return row, nil
}

// stopReason is the stop_reason of a log line, or "unknown".
func stopReason(line string) string {
	var l struct {
		StopReason string `json:"stop_reason"`
	}
	if json.Unmarshal([]byte(line), &l) != nil || l.StopReason == "" {
		return "unknown"
	}
	return l.StopReason
}
