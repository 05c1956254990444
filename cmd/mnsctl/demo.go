package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/mnspush"
	"github.com/alicom-drain/alicom-drain/internal/push"
	"github.com/alicom-drain/alicom-drain/internal/sink"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

const demoMessages = 3

func init() {
	commands["demo-push"] = command{"run the topic push guide's walk-through end to end on an in-process emulator", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		format := fs.String("format", "XML", "notification format of the subscription: XML, JSON or SIMPLIFIED")
		wait := fs.Duration("wait", 30*time.Second, "how long to wait for the pushes")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 0 {
				return usageError("demo-push takes no arguments")
			}
			f, err := mnspush.ParseFormat(*format)
			if err != nil || f == mnspush.FormatAuto {
				return usageError("-format %q: want XML, JSON or SIMPLIFIED", *format)
			}
			return demoPush(ctx, c.env, string(f), *wait)
		}
	}}
}

// demoPush is the topic push guide's walk-through in one process: an emulator (what MNS is in the guide), the push
// endpoint (simple_http_notify_endpoint.py), and this tool's own commands for
// createtopic.py, subscribe.py, publishmessage.py and deletetopic.py.
func demoPush(ctx context.Context, e env, format string, wait time.Duration) error {
	// The endpoint's goroutines and this one all write to out.
	out := &syncWriter{w: e.stdout}
	step := func(s string) { fmt.Fprintf(out, "\n== %s\n", s) }

	step("Start the emulator (MNS)")
	srv, err := mnslocal.Start(mnslocal.Config{Addr: "127.0.0.1:0", MessageTypes: []string{}})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "MNS emulator at %s; it signs pushes with the key of %s\n", srv.URL(), srv.CertURL())

	step("Start the HTTP endpoint")
	handled := make(chan string, demoMessages*3)
	ep, err := demoEndpoint(srv, out, e.stderr, handled)
	if err != nil {
		return err
	}
	base, stop, err := serveLocal(ep)
	if err != nil {
		return err
	}
	defer stop()
	endpointURL := base + "/notifications"
	fmt.Fprintf(out, "Start Endpoint! Address: %s (certificate allow-list: %s/_mnslocal/)\n", endpointURL, srv.URL())

	// The walk-through's commands run exactly as an operator would type them, against the
	// emulator with its default keys (whatever keys the environment holds are for real MNS).
	mnsctl := func(args ...string) error {
		var errs strings.Builder
		code := run(ctx, append([]string{"-endpoint", srv.URL()}, args...), env{
			stdin: strings.NewReader(""), stdout: out, stderr: &errs, getenv: func(string) string { return "" },
		})
		if code != 0 {
			return fmt.Errorf("mnsctl %s failed (exit %d): %s", args[0], code, strings.TrimSpace(errs.String()))
		}
		return nil
	}
	const topic, sub = "MyTopic1", "MyTopic1-Sub1"
	step("Create the topic (createtopic.py)")
	if err := mnsctl("create-topic", topic); err != nil {
		return err
	}
	step("Subscribe the endpoint (subscribe.py)")
	if err := mnsctl("subscribe", "-topic", topic, "-name", sub, "-format", format, endpointURL); err != nil {
		return err
	}
	step("Publish three messages (publishmessage.py): Alicom SmsReport receipts, base64 JSON as Alicom sends them")
	args := []string{"publish", "-topic", topic, "-tag", "SmsReport", "-base64"}
	for i := range demoMessages {
		args = append(args, fmt.Sprintf(`{"phone_number":"1300000000%d","success":true,"biz_id":"90061974693649844%d^0","out_id":"demo-%d","send_time":"2017-06-01 10:00:00","report_time":"2017-06-01 10:00:05","err_code":"DELIVERED","err_msg":"I am test message %d.","sms_size":"1"}`, i, i, i, i))
	}
	if err := mnsctl(args...); err != nil {
		return err
	}

	step("The endpoint verifies and handles each push (access log, then the handler's log)")
	var done []string
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for len(done) < demoMessages {
		select {
		case id := <-handled:
			done = append(done, id)
		case <-timeout.C:
			return fmt.Errorf("only %d of %d pushes were handled within %s (push stats %+v)", len(done), demoMessages, wait, srv.PushStats())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// The handler has run; the emulator counts a delivery once the 201 reached it.
	for srv.PushStats().Delivered < demoMessages {
		select {
		case <-timeout.C:
			return fmt.Errorf("the emulator saw %d of %d pushes acknowledged within %s", srv.PushStats().Delivered, demoMessages, wait)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	st := srv.PushStats()
	fmt.Fprintf(out, "\nAll %d messages verified and handled. Emulator push stats: %d attempts, %d delivered, %d failed; certificate fetched %d time(s).\n",
		len(done), st.Attempts, st.Delivered, st.Failed, st.CertFetches)

	step("Delete the topic (deletetopic.py)")
	return mnsctl("delete-topic", topic)
}

// demoEndpoint is the push endpoint of the demo: the push function's real handler and dispatch
// router, with a SmsReport handler that prints what it got like the topic push guide's endpoint log.
func demoEndpoint(srv *mnslocal.Server, stdout, stderr io.Writer, handled chan<- string) (http.Handler, error) {
	rule, err := mnspush.ParseCertURLRule(srv.URL() + "/_mnslocal/")
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	router, err := logRouter(logger)
	if err != nil {
		return nil, err
	}
	router.Handle("SmsReport", func(ctx context.Context, m *dispatch.Message) error {
		r, ok := m.Payload.(alicom.SmsReport)
		if !ok {
			return dispatch.Permanent(errors.New("not an SmsReport payload"))
		}
		decoded, _ := json.Marshal(r)
		fmt.Fprintf(stdout, "Notify Message Succeed!\n  MessageId   : %s\n  MessageTag  : %s\n  TopicName   : %s\n  MessageMD5  : %s\n  PublishTime : %d\n  Message     : %s\n  SmsReport   : %s\n",
			m.ID, m.Tag, m.Source, m.BodyMD5, m.EnqueueTime.UnixMilli(), m.Body, decoded)
		handled <- m.ID
		return nil
	})
	return push.New(push.Config{MNS: mnspush.Config{CertURLAllow: []mnspush.CertURLRule{rule}, AccessLog: stdout}}, router, logger)
}

// logRouter is the demos' Router: what no handler takes, and what is dead-lettered, goes to
// logger through the log sinks.
func logRouter(logger *slog.Logger) (*dispatch.Router, error) {
	return dispatch.NewRouter(dispatch.Options{Fallback: sink.Log(logger), DeadLetter: sink.DeadLetterLog(logger)})
}

// serveLocal serves h on a free port of 127.0.0.1 and returns its base URL ("http://host:port")
// and what stops it.
func serveLocal(h http.Handler) (base string, stop func() error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String(), hs.Close, nil
}

// syncWriter serialises writes, so that each Fprintf lands whole.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
