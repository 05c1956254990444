package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Options configures a function's platform edge.
type Options struct {
	// Logger receives the failure lines; default a JSON logger on stderr.
	Logger *slog.Logger
	// Name is the command's name in the local usage; default the executable's name.
	Name string
	// About is printed under the local usage line: what the function does and where its
	// settings come from.
	About string
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if o.Name == "" {
		o.Name = filepath.Base(os.Args[0])
	}
	return o
}

// RunLocal runs one invocation the way a platform would: the event from -event (a file, or
// nothing for a manual invocation), a deadline -timeout from now, SIGINT/SIGTERM cancelling it.
// The result goes to stdout as JSON, and nothing else does, so it can be piped to jq; logs go to
// stderr, a failure as one JSON line. It returns the process exit status: 0 on success or -h,
// 1 when the handler failed, 2 for bad arguments.
func RunLocal(ctx context.Context, args []string, stdout, stderr io.Writer, h Handler, o Options) int {
	o = o.withDefaults()
	fs := newFlagSet(stderr, o, "[-event FILE] [-timeout DURATION]")
	eventPath := fs.String("event", "", "event file: an FC timer or Lambda scheduled event (events/*.json); empty for {}")
	timeout := fs.Duration("timeout", 60*time.Second, "the invocation's deadline, as the platform's function timeout")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	var raw []byte
	if *eventPath != "" {
		var err error
		if raw, err = os.ReadFile(*eventPath); err != nil {
			logFailure(ctx, o.Logger, "cannot start", Fail(EventError, fmt.Errorf("-event: %w", err)), nil)
			return 2
		}
	}
	trig, err := ParseTrigger(raw)
	if err != nil {
		logFailure(ctx, o.Logger, "cannot start", fmt.Errorf("-event %s: %w", *eventPath, err), nil)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	deadline := time.Now().Add(*timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	inv := Invocation{Platform: Local, RequestID: newRequestID(), Deadline: deadline, Trigger: trig, Function: o.Name}
	ctx = WithRequestID(ctx, inv.RequestID)
	res, err := h(ctx, inv)
	if res != nil {
		if werr := writeJSON(stdout, res); werr != nil {
			logFailure(ctx, o.Logger, "invocation failed", Fail(InternalError, fmt.Errorf("writing the result: %w", werr)), nil)
			return 1
		}
	}
	if err != nil {
		// The result, if any, is on stdout already.
		logFailure(ctx, o.Logger, "invocation failed", err, nil)
		return 1
	}
	return 0
}

// StartFailed reports an error found at start, before any invocation (a configuration
// problem), the way the platform expects, as one JSON line with the error's type, and does not
// return. Locally the process exits with status 2. On Lambda the error goes to the runtime
// API's init error endpoint, so the invocation answers with it. Function Compute's go1 runtime
// has no such endpoint: the process stays up and fails every invocation with the error.
func StartFailed(err error, o Options) {
	o = o.withDefaults()
	logFailure(context.Background(), o.Logger, "cannot start", err, nil)
	switch Detect(os.Getenv) {
	case FunctionCompute:
		routeSDKLog(o.Logger)
		failFC(err, o.Logger)
	case Lambda:
		failLambda(err, o.Logger, os.Exit)
	}
	os.Exit(2)
}

func newFlagSet(stderr io.Writer, o Options, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(o.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s %s\n", o.Name, synopsis)
		if o.About != "" {
			fmt.Fprintf(fs.Output(), "\n%s\n", o.About)
		}
		fmt.Fprintln(fs.Output(), "\nflags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; when it returns false the caller exits with the code: 0 after -h,
// 2 for anything wrong.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2, false
	}
	return 0, true
}

// HelpRequested reports whether args ask for the usage (-h, -help), which a function answers
// before it reads its configuration, so that help works whatever the environment holds.
func HelpRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--h", "--help":
			return true
		case "--":
			return false
		}
	}
	return false
}

func listenTCP(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "local-" + hex.EncodeToString(b[:])
}
