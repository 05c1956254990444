// Command demo is what `make demo` runs: it starts the MNS + Dybaseapi emulator in-process,
// enqueues every sample body under events/messages the way Alicom does (base64 of the JSON,
// through the MNS SDK over HTTP), adds one body that cannot be decoded, runs one local
// invocation of the real drain function binary against the emulator, and shows what the
// function logged, its report, and what is left in the queues.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"

	"github.com/alicom-drain/alicom-drain/events"
	"github.com/alicom-drain/alicom-drain/internal/demokit"
	"github.com/alicom-drain/alicom-drain/internal/queue/mnsqueue"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

func main() {
	function := flag.String("function", "bin/alicom-drain", "the drain function binary (make demo builds it)")
	samples := flag.String("samples", "", "directory of sample bodies, <Type>[-variant].json (default: the repository's events/messages, built in)")
	event := flag.String("event", "events/fc-timer.json", "the platform event of the invocation")
	flag.Parse()
	if err := run(os.Stdout, *function, *samples, *event); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, function, samplesDir, event string) error {
	bodies, types, err := demokit.Samples(samplesDir)
	if err != nil {
		return err
	}

	srv, err := mnslocal.Start(mnslocal.Config{Addr: "127.0.0.1:0", MessageTypes: types})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "== emulator on %s: Alicom account %s, keys %s / %s\n", srv.URL(), mnslocal.DefaultAlicomUID,
		mnslocal.DefaultAccessKeyID, mnslocal.DefaultAccessKeySecret)

	client, err := mnsqueue.NewSDKClient(mnsqueue.SDKClientConfig{
		Endpoint: srv.URL(), AccessKeyID: mnslocal.DefaultAccessKeyID, AccessKeySecret: mnslocal.DefaultAccessKeySecret,
		RequestTimeout: 10 * time.Second,
	})
	if err != nil {
		return err
	}
	defer client.Conns.CloseIdleConnections()
	total := 0
	for _, t := range types {
		list := bodies[t]
		if t == "SmsReport" {
			list = append(list, events.Message{Name: "(broken: not base64)", Body: "this body is not base64 %%"})
		}
		q := ali_mns.NewMNSQueue(srv.AlicomQueueName(t), client)
		names := make([]string, 0, len(list))
		for _, s := range list {
			if _, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: s.Body, Priority: 8}); err != nil {
				return fmt.Errorf("sending %s to %s: %w", s.Name, q.Name(), err)
			}
			names = append(names, s.Name)
			total++
		}
		fmt.Fprintf(out, "   sent to %s: %s\n", q.Name(), strings.Join(names, ", "))
	}

	fmt.Fprintf(out, "\n== %s -event %s   (%d messages waiting; logs below are the function's stderr)\n\n", function, event, total)
	cmd := exec.CommandContext(context.Background(), function, "-event", event)
	cmd.Env = demokit.DrainEnv(srv, types)
	var report bytes.Buffer
	cmd.Stdout, cmd.Stderr = &report, out
	runErr := cmd.Run()
	fmt.Fprintf(out, "\n== the invocation's result (stdout)\n%s", report.String())
	if runErr != nil {
		return fmt.Errorf("the function failed: %w", runErr)
	}

	fmt.Fprintln(out, "\n== the queues afterwards")
	stats := srv.Stats()
	left := int64(0)
	for _, t := range types {
		st := stats.Queues[srv.AlicomQueueName(t)]
		left += demokit.Left(st)
		fmt.Fprintf(out, "   %-52s deleted %d, left %d\n", srv.AlicomQueueName(t), st.Deleted, demokit.Left(st))
	}
	fmt.Fprintf(out, "   MNS requests %d, token requests %d\n", stats.MNSRequests, stats.TokenRequests)
	if left != 0 {
		return fmt.Errorf("%d messages were left in the queues", left)
	}
	fmt.Fprintln(out, "\nEvery message was handled and deleted; the undecodable one was dead-lettered (see the \"dead-lettered\" line) before its delete.")
	return nil
}
