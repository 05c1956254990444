package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/faultproxy"
	"github.com/alicom-drain/alicom-drain/internal/procmem"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

// binaries are the function processes the cells run: the shipped drain function and the
// chaos-only one with misbehaving handlers (cmd/chaos/testfunc).
type binaries struct {
	drain, testfunc, push string // push is "" when no push function exists in this tree
}

// world is one cell's emulator, the fault proxy in front of it, and what was sent.
type world struct {
	srv   *mnslocal.Server
	proxy *faultproxy.Proxy
	url   string // the proxy's base URL: both the MNS and the Dybaseapi endpoint
	stop  func()
	queue string
	bins  binaries

	mu   sync.Mutex
	sent []string // message ids in the order sent
}

const messageType = "SmsReport"

// newWorld starts an emulator whose SmsReport queue has the given visibility timeout, with the
// proxy in front of it.
func newWorld(bins binaries, visibility time.Duration, seed uint64) (*world, error) {
	srv, err := mnslocal.Start(mnslocal.Config{
		Addr: "127.0.0.1:0", MessageTypes: []string{messageType}, VisibilityTimeout: visibility,
		Seed: int64(seed),
	})
	if err != nil {
		return nil, err
	}
	p := faultproxy.New(srv.Handler(), seed)
	url, stop, err := faultproxy.Serve(p)
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &world{srv: srv, proxy: p, url: url, queue: srv.AlicomQueueName(messageType), bins: bins,
		stop: func() { stop(); srv.Close() }}, nil
}

func (w *world) close() { w.stop() }

// worldWithReports is a world (seed 1) with n SmsReport receipts tagged tag already waiting:
// how most cells start.
func worldWithReports(b binaries, visibility time.Duration, tag string, n int) (*world, error) {
	w, err := newWorld(b, visibility, 1)
	if err != nil {
		return nil, err
	}
	if err := w.sendReports(tag, n); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// send enqueues raw MNS bodies (what Alicom would put in the queue) and remembers their ids.
func (w *world) send(bodies ...string) error {
	for _, b := range bodies {
		id, err := w.srv.SendMessage(w.queue, b)
		if err != nil {
			return fmt.Errorf("enqueueing: %w", err)
		}
		w.mu.Lock()
		w.sent = append(w.sent, id)
		w.mu.Unlock()
	}
	return nil
}

// sendReports enqueues n distinct SmsReport receipts, base64 of JSON as Alicom sends them.
func (w *world) sendReports(tag string, n int) error {
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = reportBody(fmt.Sprintf("%s-%d", tag, i))
	}
	return w.send(bodies...)
}

func reportBody(bizID string) string {
	j := fmt.Sprintf(`{"phone_number":"13000000000","success":true,"biz_id":%q,"send_time":"2026-12-01 10:00:00","report_time":"2026-12-01 10:00:05","err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1","out_id":"chaos"}`, bizID)
	return base64.StdEncoding.EncodeToString([]byte(j))
}

// left is how many messages the queue still holds, visible or not.
func (w *world) left() (total, visible int64) {
	q := w.srv.Stats().Queues[w.queue]
	return q.Active + q.Inactive + q.Delayed, q.Active
}

// run is one function process: what it was given and what it did.
type run struct {
	Exit     int
	Wall     time.Duration
	Report   map[string]int64 // the report's per-queue counters summed over queues
	Stop     []string         // stop reasons
	Lines    []logLine
	PeakRSS  int64 // bytes: VmHWM sampled while it ran (maxrss when /proc is not there)
	Killed   string
	Stderr   string // the last lines, for notes
	Failures []string
	// TermToExit is the time from SIGTERM to exit, when the spec sent one.
	TermToExit time.Duration
}

// logLine is one JSON line the function wrote on stderr.
type logLine struct {
	Msg, Level, MessageID, ReasonCode, RequestID string
}

// spec says how to start one function process.
type spec struct {
	bin      string
	env      []string
	timeout  time.Duration // -timeout, the invocation's deadline
	stderr   string        // a file path to send stderr to instead of reading it ("/dev/full")
	killWhen func(records int) bool
	rssLimit int64 // kill the process when its RSS passes this (protects the machine)
	bound    time.Duration
	// termAfter, when set, sends SIGTERM this long after the start.
	termAfter time.Duration
}

// baseEnv is the configuration every cell's function gets: the emulator behind the proxy,
// the emulator's customer keys.
func (w *world) baseEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"ALICOM_MESSAGE_TYPES=" + messageType,
		"ALICOM_ACCOUNT_UID=" + mnslocal.DefaultAlicomUID,
		"ALICOM_MNS_ENDPOINT=" + w.url,
		"ALICOM_DYBASEAPI_ENDPOINT=" + w.url,
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + mnslocal.DefaultAccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + mnslocal.DefaultAccessKeySecret,
	}
}

// invoke runs one local invocation of a function binary and collects what it did.
func invoke(ctx context.Context, s spec) (run, error) {
	var r run
	if s.timeout == 0 {
		s.timeout = 30 * time.Second
	}
	if s.bound == 0 {
		s.bound = s.timeout + 30*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, s.bound)
	defer cancel()
	cmd := exec.Command(s.bin, "-timeout", s.timeout.String())
	cmd.Env = s.env
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	var stderrPipe io.ReadCloser
	if s.stderr != "" {
		f, err := os.OpenFile(s.stderr, os.O_WRONLY, 0)
		if err != nil {
			return r, err
		}
		defer f.Close()
		cmd.Stderr = f
	} else {
		var err error
		if stderrPipe, err = cmd.StderrPipe(); err != nil {
			return r, err
		}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	pid := cmd.Process.Pid
	var (
		mu      sync.Mutex
		killed  string
		records int
		tail    []string
	)
	kill := func(why string) {
		mu.Lock()
		if killed == "" {
			killed = why
			_ = cmd.Process.Kill()
		}
		mu.Unlock()
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		if stderrPipe == nil {
			return
		}
		sc := bufio.NewScanner(stderrPipe)
		sc.Buffer(make([]byte, 256<<10), 4<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var m map[string]any
			ll := logLine{}
			if json.Unmarshal(line, &m) == nil {
				ll.Msg, _ = m["msg"].(string)
				ll.Level, _ = m["level"].(string)
				ll.MessageID, _ = m["message_id"].(string)
				ll.ReasonCode, _ = m["reason_code"].(string)
				ll.RequestID, _ = m["request_id"].(string)
			}
			mu.Lock()
			r.Lines = append(r.Lines, ll)
			if isRecord(ll) {
				records++
			}
			n := records
			if len(tail) < 400 {
				tail = append(tail, string(line))
			}
			mu.Unlock()
			if s.killWhen != nil && s.killWhen(n) {
				kill("SIGKILL after " + strconv.Itoa(n) + " records")
			}
		}
		_, _ = io.Copy(io.Discard, stderrPipe)
	}()
	var peak int64
	waitDone := make(chan error, 1)
	go func() {
		<-readDone
		waitDone <- cmd.Wait()
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var term <-chan time.Time
	var termAt time.Time
	if s.termAfter > 0 {
		t := time.NewTimer(s.termAfter)
		defer t.Stop()
		term = t.C
	}
	var waitErr error
loop:
	for {
		select {
		case waitErr = <-waitDone:
			break loop
		case <-term:
			termAt = time.Now()
			_ = cmd.Process.Signal(syscall.SIGTERM)
		case <-tick.C:
			if hwm := procmem.PeakRSS(pid); hwm > peak {
				peak = hwm
			}
			if s.rssLimit > 0 && peak > s.rssLimit {
				kill(fmt.Sprintf("killed at %d MB RSS", peak>>20))
			}
		case <-ctx.Done():
			kill("killed: still running after " + s.bound.String())
			waitErr = <-waitDone
			break loop
		}
	}
	r.Wall = time.Since(start)
	if !termAt.IsZero() {
		r.TermToExit = time.Since(termAt)
	}
	// getrusage's maxrss is only a fallback: Linux carries the parent's resident set at the
	// spawn into the child's maxrss (exec keeps the old memory's high-water mark), so it
	// over-states a small child of a large parent.
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && peak == 0 {
		peak = ru.Maxrss * 1024
	}
	r.PeakRSS = peak
	r.Exit = cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		return r, waitErr
	}
	r.Killed = killed
	r.Report, r.Stop = parseReport(stdout.Bytes())
	if len(tail) > 0 {
		r.Stderr = strings.Join(tail[max(0, len(tail)-5):], "\n")
	}
	return r, nil
}

// isRecord says whether a log line is a record of a message: the log sink's handled line, a
// chaos handler's, or a dead-letter line.
func isRecord(l logLine) bool {
	return l.MessageID != "" && (l.Msg == "alicom message" || l.Msg == "dead-lettered")
}

// parseReport sums the counters of every queue in the invocation's result; unknown fields are
// kept, so counters added later are summed too.
func parseReport(b []byte) (map[string]int64, []string) {
	var doc struct {
		Queues []map[string]any `json:"queues"`
	}
	out := map[string]int64{}
	var stops []string
	if json.Unmarshal(bytes.TrimSpace(b), &doc) != nil {
		return out, nil
	}
	for _, q := range doc.Queues {
		for k, v := range q {
			switch x := v.(type) {
			case float64:
				out[k] += int64(x)
			case string:
				if k == "stop_reason" {
					stops = append(stops, x)
				}
			}
		}
	}
	return out, stops
}

// ledger holds a cell's runs against what the server did.
type ledger struct {
	Sent            int
	Recorded        int // distinct messages with a handled or dead-letter record
	DeadLettered    int
	Deleted         int // distinct messages the server deleted
	Left            int64
	DeletedNoRecord int // deleted, and no record of it anywhere
	Lost            int // neither in the queue nor recorded
	Rehandled       int // handled records beyond the first, per message
	ReportedDup     int64
	ReportFailed    []string // invocations whose counters do not add up to received
	DeleteFailedLie int64    // delete_failed reported for messages the server had deleted
	PeakRSS         int64
	Invocations     int
	MaxWall         time.Duration
}

// account builds the ledger from every run of a cell.
func (w *world) account(runs []run) ledger {
	w.mu.Lock()
	sent := append([]string(nil), w.sent...)
	w.mu.Unlock()
	left, _ := w.left()
	return tally(sent, runs, w.proxy.Deleted(), left)
}

// tally holds what was sent, what the runs recorded and reported, what the server deleted
// (message id -> confirmed deletes) and how many messages are still queued against each other.
func tally(sent []string, runs []run, deleted map[string]int, left int64) ledger {
	var l ledger
	l.Sent = len(sent)
	handled := map[string]int{}
	dl := map[string]bool{}
	var deleteFailed int64
	for i, r := range runs {
		l.Invocations++
		l.PeakRSS = max(l.PeakRSS, r.PeakRSS)
		l.MaxWall = max(l.MaxWall, r.Wall)
		for _, ln := range r.Lines {
			switch {
			case ln.MessageID == "":
			case ln.Msg == "alicom message":
				handled[ln.MessageID]++
			case ln.Msg == "dead-lettered":
				dl[ln.MessageID] = true
			}
		}
		rep := r.Report
		l.ReportedDup += rep["duplicates"]
		deleteFailed += rep["delete_failed"]
		if len(rep) > 0 && r.Killed == "" {
			sum := rep["handled"] + rep["dead_lettered"] + rep["duplicates"] + rep["failed"]
			if sum != rep["received"] {
				l.ReportFailed = append(l.ReportFailed, fmt.Sprintf("run %d: handled %d + dead-lettered %d + duplicates %d + failed %d ≠ received %d",
					i+1, rep["handled"], rep["dead_lettered"], rep["duplicates"], rep["failed"], rep["received"]))
			}
		}
	}
	l.Deleted = len(deleted)
	l.Left = left
	for _, id := range sent {
		rec := handled[id] > 0 || dl[id]
		if rec {
			l.Recorded++
		}
		if dl[id] {
			l.DeadLettered++
		}
		if handled[id] > 1 {
			l.Rehandled += handled[id] - 1
		}
		if deleted[id] > 0 && !rec {
			l.DeletedNoRecord++
		}
	}
	// Whatever left the queue without a delete the proxy saw, or was deleted unrecorded.
	unseen := int64(l.Sent-l.Deleted) - l.Left
	l.Lost = l.DeletedNoRecord + int(max(unseen, 0))
	// delete_failed may only count messages that can still be in the queue.
	if deleteFailed > l.Left {
		l.DeleteFailedLie = deleteFailed - l.Left
	}
	return l
}

// drainUntilEmpty runs invocations until the queue is empty or maxRuns is reached, waiting for
// invisible messages to come back between runs.
func (w *world) drainUntilEmpty(ctx context.Context, s spec, maxRuns int, wait time.Duration) ([]run, error) {
	var runs []run
	for len(runs) < maxRuns {
		total, visible := w.left()
		if total == 0 {
			break
		}
		if visible == 0 {
			deadline := time.Now().Add(wait)
			for visible == 0 && total > 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				total, visible = w.left()
			}
			if total == 0 {
				break
			}
		}
		r, err := invoke(ctx, s)
		if err != nil {
			return runs, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}
