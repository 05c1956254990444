package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/faultproxy"
	"github.com/alicom-drain/alicom-drain/internal/platform/platformtest"
	"github.com/alicom-drain/alicom-drain/internal/procmem"
)

// warmInstance is the function binary running as a Function Compute instance under the
// stand-in runtime API: invocations after the first find the instance warm (token cached,
// queue clients and deduplication memory kept).
type warmInstance struct {
	rt   *platformtest.Server
	cmd  *exec.Cmd
	done chan struct{}

	mu    sync.Mutex
	lines []logLine
}

func startWarm(w *world) (*warmInstance, error) {
	wi := &warmInstance{rt: platformtest.New(platformtest.FC), done: make(chan struct{})}
	wi.cmd = exec.Command(w.bins.drain)
	wi.cmd.Env = append(w.baseEnv(), wi.rt.EnvVar())
	stderr, err := wi.cmd.StderrPipe()
	if err != nil {
		wi.rt.Close()
		return nil, err
	}
	if err := wi.cmd.Start(); err != nil {
		wi.rt.Close()
		return nil, err
	}
	go func() {
		defer close(wi.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 256<<10), 4<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			ll := logLine{}
			ll.Msg, _ = m["msg"].(string)
			ll.MessageID, _ = m["message_id"].(string)
			ll.RequestID, _ = m["request_id"].(string)
			wi.mu.Lock()
			wi.lines = append(wi.lines, ll)
			wi.mu.Unlock()
		}
	}()
	return wi, nil
}

func (wi *warmInstance) close() {
	_ = wi.cmd.Process.Kill()
	<-wi.done
	_ = wi.cmd.Wait()
	wi.rt.Close()
}

// invoke runs one invocation on the instance and returns what it did.
func (wi *warmInstance) invoke(ctx context.Context, id string) (run, error) {
	wi.mu.Lock()
	from := len(wi.lines)
	wi.mu.Unlock()
	start := time.Now()
	ictx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	res, err := wi.rt.Invoke(ictx, []byte(`{"triggerTime":"2026-12-01T00:00:00Z","triggerName":"chaos","payload":""}`),
		platformtest.Invocation{RequestID: id, Deadline: time.Now().Add(30 * time.Second), AccountID: "1234567890123456"})
	if err != nil {
		return run{}, err
	}
	time.Sleep(200 * time.Millisecond) // let the last log lines arrive
	r := run{Wall: time.Since(start), PeakRSS: procmem.PeakRSS(wi.cmd.Process.Pid)}
	r.Report, r.Stop = parseReport(res.Body)
	if res.Failed {
		r.Exit = 1
		r.Failures = append(r.Failures, strings.TrimSpace(string(res.Body)))
	}
	wi.mu.Lock()
	r.Lines = append(r.Lines, wi.lines[from:]...)
	wi.mu.Unlock()
	return r, nil
}

// rejectedToken: a first invocation caches the token; then MNS starts answering
// InvalidAccessKeyId to that token, as it does after the issuer forgot it, and a second
// invocation must fetch a new one and drain.
func rejectedToken(ctx context.Context, b binaries) (outcome, error) {
	w, err := worldWithReports(b, visibility, "warm1", 20)
	if err != nil {
		return outcome{}, err
	}
	defer w.close()
	wi, err := startWarm(w)
	if err != nil {
		return outcome{}, err
	}
	defer wi.close()
	first, err := wi.invoke(ctx, "chaos-warm-1")
	if err != nil {
		return outcome{}, err
	}
	w.proxy.RejectSeenKeys()
	w.proxy.Add(faultproxy.Fault{Kind: faultproxy.RejectKey})
	if err := w.sendReports("warm2", 20); err != nil {
		return outcome{}, err
	}
	second, err := wi.invoke(ctx, "chaos-warm-2")
	if err != nil {
		return outcome{}, err
	}
	l := w.account([]run{first, second})
	o := outcome{Ledger: l, Failed: judge(l, true)}
	if first.Exit != 0 {
		o.Failed = append(o.Failed, "the first invocation failed: "+strings.Join(first.Failures, "; "))
	}
	if second.Exit != 0 {
		o.Failed = append(o.Failed, "the warm invocation failed instead of fetching a new token")
	}
	return o, nil
}

// warmDuplicates: on a warm instance every delete of a first invocation fails, so its handled
// messages come back to the second; each one must be either handled again or reported as a
// duplicate: the report's duplicates count exactly the redeliveries it did not re-handle.
func warmDuplicates(ctx context.Context, b binaries) (outcome, error) {
	w, err := worldWithReports(b, visibility, "dup", 48)
	if err != nil {
		return outcome{}, err
	}
	defer w.close()
	wi, err := startWarm(w)
	if err != nil {
		return outcome{}, err
	}
	defer wi.close()
	w.proxy.Add(faultproxy.Fault{Op: faultproxy.OpDelete, Kind: faultproxy.Status5xx})
	first, err := wi.invoke(ctx, "chaos-dup-1")
	if err != nil {
		return outcome{}, err
	}
	w.proxy.Clear()
	runs := []run{first}
	for i := 2; i <= 4; i++ {
		if total, _ := w.left(); total == 0 {
			break
		}
		time.Sleep(visibility + time.Second)
		r, err := wi.invoke(ctx, fmt.Sprintf("chaos-dup-%d", i))
		if err != nil {
			return outcome{}, err
		}
		runs = append(runs, r)
	}
	l := w.account(runs)
	o := outcome{Ledger: l, Failed: judge(l, true)}
	handledFirst := map[string]bool{}
	for _, ln := range first.Lines {
		if ln.Msg == "alicom message" {
			handledFirst[ln.MessageID] = true
		}
	}
	var redelivered, rehandled, reported int64
	for _, r := range runs[1:] {
		reported += r.Report["duplicates"]
		redelivered += r.Report["received"]
		for _, ln := range r.Lines {
			if ln.Msg == "alicom message" && handledFirst[ln.MessageID] {
				rehandled++
			}
		}
	}
	if suppressed := redelivered - rehandled; suppressed != reported {
		o.Failed = append(o.Failed, fmt.Sprintf("%d redeliveries of handled messages: %d handled again, %d reported as duplicates (want the other %d)",
			redelivered, rehandled, reported, suppressed))
	}
	return o, nil
}

// pushFlood starts the push function locally and sends it 300 unauthenticated 1 MiB bodies at
// once; its peak memory must stay within the 128 MB the function is deployed with.
func pushFlood(ctx context.Context, b binaries) (outcome, error) {
	if b.push == "" {
		return outcome{Skipped: "no push function in this tree"}, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return outcome{}, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(b.push, "-listen", addr)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MNS_CERT_URL_ALLOW=http://127.0.0.1:1/_mnslocal/",
		"ALICOM_PUSH_TOKEN=chaos-token-0123456789abcdef", "ALICOM_MESSAGE_TYPES=SmsReport"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return outcome{}, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	up := false
	for i := 0; i < 100 && !up; i++ {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			up = true
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !up {
		return outcome{Skipped: "the push function did not start: " + lastLine(stderr.String())}, nil
	}
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				if h := procmem.PeakRSS(cmd.Process.Pid); h > peak.Load() {
					peak.Store(h)
				}
				if peak.Load() > rssGuard {
					_ = cmd.Process.Kill()
				}
			}
		}
	}()
	body := bytes.Repeat([]byte("x"), 1<<20)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 300}}
	var wg sync.WaitGroup
	var status sync.Map
	// Every client sends all but the last byte of its body, then waits for the others: all
	// 300 requests are in flight at once, whatever the machine's speed.
	gate := make(chan struct{})
	time.AfterFunc(3*time.Second, func() { close(gate) })
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := []string{"/", "/alicom/SmsReport"}[i%2]
			r := io.MultiReader(bytes.NewReader(body[:len(body)-1]), gatedReader{gate: gate, last: body[len(body)-1:]})
			resp, err := client.Post("http://"+addr+path, "text/plain", r)
			if err != nil {
				status.Store("error", true)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status.Store(resp.StatusCode, true)
		}()
	}
	wg.Wait()
	close(stop)
	if h := procmem.PeakRSS(cmd.Process.Pid); h > peak.Load() {
		peak.Store(h)
	}
	var codes []string
	status.Range(func(k, _ any) bool { codes = append(codes, fmt.Sprint(k)); return true })
	o := outcome{Ledger: ledger{PeakRSS: peak.Load()}, Extra: "answers: " + strings.Join(codes, ", ")}
	if peak.Load() > memoryBudget {
		o.Failed = append(o.Failed, fmt.Sprintf("peak RSS %d MB > %d MB", peak.Load()/mb, memoryBudget/mb))
	}
	if peak.Load() > rssGuard {
		o.Failed = append(o.Failed, fmt.Sprintf("killed at the %d MB guard", rssGuard/mb))
	}
	return o, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// gatedReader yields its last byte once the gate is closed.
type gatedReader struct {
	gate <-chan struct{}
	last []byte
}

func (g gatedReader) Read(p []byte) (int, error) {
	<-g.gate
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = g.last[0]
	return 1, io.EOF
}
