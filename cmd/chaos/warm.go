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
)

// rejectedToken runs a warm Function Compute instance (the function binary under the stand-in
// runtime API): a first invocation caches the token; then MNS starts answering
// InvalidAccessKeyId to that token, as it does after the issuer forgot it, and a second
// invocation must fetch a new one and drain.
func rejectedToken(ctx context.Context, b binaries) (outcome, error) {
	w, err := newWorld(b, visibility, 1)
	if err != nil {
		return outcome{}, err
	}
	defer w.close()
	rt := platformtest.New(platformtest.FC)
	defer rt.Close()
	cmd := exec.Command(b.drain)
	cmd.Env = append(w.baseEnv(), rt.EnvVar())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return outcome{}, err
	}
	if err := cmd.Start(); err != nil {
		return outcome{}, err
	}
	var (
		mu    sync.Mutex
		lines []logLine
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
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
			mu.Lock()
			lines = append(lines, ll)
			mu.Unlock()
		}
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
	}()
	invokeWarm := func(id string) (run, error) {
		mu.Lock()
		from := len(lines)
		mu.Unlock()
		start := time.Now()
		ictx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		res, err := rt.Invoke(ictx, []byte(`{"triggerTime":"2026-12-01T00:00:00Z","triggerName":"chaos","payload":""}`),
			platformtest.Invocation{RequestID: id, Deadline: time.Now().Add(30 * time.Second), AccountID: "1234567890123456"})
		if err != nil {
			return run{}, err
		}
		time.Sleep(200 * time.Millisecond) // let the last log lines arrive
		r := run{Wall: time.Since(start), PeakRSS: vmHWM(cmd.Process.Pid)}
		r.Report, r.Stop = parseReport(res.Body)
		if res.Failed {
			r.Exit = 1
			r.Failures = append(r.Failures, strings.TrimSpace(string(res.Body)))
		}
		mu.Lock()
		r.Lines = append(r.Lines, lines[from:]...)
		mu.Unlock()
		return r, nil
	}
	if err := w.sendReports("warm1", 20); err != nil {
		return outcome{}, err
	}
	first, err := invokeWarm("chaos-warm-1")
	if err != nil {
		return outcome{}, err
	}
	w.proxy.RejectSeenKeys()
	w.proxy.Add(faultproxy.Fault{Kind: faultproxy.RejectKey})
	if err := w.sendReports("warm2", 20); err != nil {
		return outcome{}, err
	}
	second, err := invokeWarm("chaos-warm-2")
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
				if h := vmHWM(cmd.Process.Pid); h > peak.Load() {
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
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := []string{"/", "/alicom/SmsReport"}[i%2]
			resp, err := client.Post("http://"+addr+path, "text/plain", bytes.NewReader(body))
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
	if h := vmHWM(cmd.Process.Pid); h > peak.Load() {
		peak.Store(h)
	}
	var codes []string
	status.Range(func(k, _ any) bool { codes = append(codes, fmt.Sprint(k)); return true })
	o := outcome{Ledger: ledger{PeakRSS: peak.Load()}, Extra: "answers: " + strings.Join(codes, ", ")}
	if peak.Load() > memoryBudget {
		o.Failed = append(o.Failed, fmt.Sprintf("peak RSS %d MB > %d MB", peak.Load()/mb, memoryBudget/mb))
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
