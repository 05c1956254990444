package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// RunLocal runs one invocation the way a platform would: the event from -event (a file, or
// nothing for a manual invocation), a deadline -timeout from now, SIGINT/SIGTERM cancelling it.
// The result goes to stdout as JSON; logs belong on stderr. It returns the process exit status:
// 0 on success, 1 when the handler failed, 2 for bad arguments.
func RunLocal(ctx context.Context, args []string, stdout, stderr io.Writer, h Handler) int {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	eventPath := fs.String("event", "", "event file: an FC timer or Lambda scheduled event (events/*.json); empty for {}")
	timeout := fs.Duration("timeout", 60*time.Second, "the invocation's deadline, as the platform's function timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q: use -event FILE\n", fs.Arg(0))
		return 2
	}
	var raw []byte
	if *eventPath != "" {
		var err error
		if raw, err = os.ReadFile(*eventPath); err != nil {
			fmt.Fprintf(stderr, "-event: %v\n", err)
			return 2
		}
	}
	trig, err := ParseTrigger(raw)
	if err != nil {
		fmt.Fprintf(stderr, "-event %s: %v\n", *eventPath, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	deadline := time.Now().Add(*timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	inv := Invocation{Platform: Local, RequestID: newRequestID(), Deadline: deadline, Trigger: trig, Function: "local"}
	res, err := h(ctx, inv)
	if res != nil {
		if werr := writeJSON(stdout, res); werr != nil {
			fmt.Fprintf(stderr, "writing the result: %v\n", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "invocation failed: %v\n", err)
		return 1
	}
	return 0
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "local-" + hex.EncodeToString(b[:])
}
