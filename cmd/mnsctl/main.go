// Command mnsctl is the operator's tool for MNS topics and queues: it does what the topic push guide's
// scripts do (create a topic, subscribe an HTTP endpoint, publish, unsubscribe, delete the
// topic), sends and inspects queue messages, plays Alicom's HTTP batch push (alicom-push), and
// runs the topic push walk-through (demo-push) and Alicom's push (demo-alicom-push) end to end
// in process. It talks to real MNS with the AccessKey in the
// environment, or to the emulator (cmd/mnslocal) with its default keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

const usageText = `mnsctl: MNS topics and queues from the command line (real MNS or the mnslocal emulator).

Usage:
  mnsctl [-endpoint URL] [-timeout D] <command> [flags] [args]

Topics (the topic push guide's scripts):
  create-topic  NAME                      create a topic
  delete-topic  NAME                      delete a topic and its subscriptions
  get-topic     NAME                      show a topic's attributes
  subscribe     -topic T [-name S] [-format XML|JSON|SIMPLIFIED]
                [-strategy BACKOFF_RETRY|EXPONENTIAL_DECAY_RETRY] [-filter-tag TAG] URL
                                          subscribe an HTTP endpoint to a topic
  get-subscription -topic T -name S       show a subscription
  unsubscribe   -topic T -name S          delete a subscription
  publish       -topic T [-tag TAG] [-base64] [MESSAGE...]
                                          publish messages (default: the topic push guide's three test messages)

Queues:
  create-queue  NAME                      create a queue
  delete-queue  NAME                      delete a queue
  send          -queue Q [-base64] [-priority N] [-delay S] BODY...   ("-" reads the body from stdin)
  peek          -queue Q [-n N]           show messages without receiving them
  receive       -queue Q [-n N] [-wait S] receive messages (they become invisible; prints receipt handles)
  delete        -queue Q HANDLE...        delete received messages by receipt handle

Alicom's HTTP batch push:
  alicom-push   [-schedule 1m,5m,10m] [-answer-timeout 700ms] URL [FILE]
                                          post a JSON array of messages as Alicom does, with its retries

Demo:
  demo-push                               run the topic push guide's walk-through on an in-process emulator
  demo-alicom-push                        play Alicom's HTTP batch push against the push function's handler

Endpoint and keys:
  -endpoint, else $ALICOM_MNS_ENDPOINT, else ` + defaultEndpoint + ` (the emulator).
  Keys come from $ALIBABA_CLOUD_ACCESS_KEY_ID and $ALIBABA_CLOUD_ACCESS_KEY_SECRET (plus
  $ALIBABA_CLOUD_SECURITY_TOKEN for STS credentials). When none are set and the endpoint is a
  loopback address, the emulator's default keys mnslocal / mnslocal-secret are used.
  -base64 encodes bodies the way Alicom does: standard base64 of the text as given.

Run "mnsctl <command> -h" for a command's flags.
`

// env is what a command needs from the process, so tests can run commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// command is one subcommand: it declares its flags on fs, then runs with the parsed args.
type command struct {
	summary string
	flags   func(fs *flag.FlagSet) func(ctx context.Context, c *cli, args []string) error
}

var commands = map[string]command{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// run parses the command line and runs one command; the result is the exit status.
func run(ctx context.Context, args []string, e env) int {
	global := flag.NewFlagSet("mnsctl", flag.ContinueOnError)
	global.SetOutput(e.stderr)
	global.Usage = func() { fmt.Fprint(e.stderr, usageText) }
	endpoint := global.String("endpoint", "", "MNS endpoint URL (default $ALICOM_MNS_ENDPOINT, else "+defaultEndpoint+")")
	timeout := global.Duration("timeout", 40*time.Second, "timeout of one MNS request")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if global.NArg() == 0 {
		fmt.Fprint(e.stderr, usageText)
		return 2
	}
	name := global.Arg(0)
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "mnsctl: unknown command %q; known: %s\n", name, strings.Join(commandNames(), ", "))
		return 2
	}
	fs := flag.NewFlagSet("mnsctl "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	// The common flags are accepted after the command name too.
	fs.StringVar(endpoint, "endpoint", *endpoint, "MNS endpoint URL (default $ALICOM_MNS_ENDPOINT, else "+defaultEndpoint+")")
	fs.DurationVar(timeout, "timeout", *timeout, "timeout of one MNS request")
	runCmd := cmd.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "mnsctl %s: %s\n\nFlags:\n", name, cmd.summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(global.Args()[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	c := &cli{env: e, endpoint: *endpoint, timeout: *timeout}
	if err := runCmd(ctx, c, fs.Args()); err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintf(e.stderr, "mnsctl %s: %v\n", name, err)
			fs.Usage()
			return 2
		}
		fmt.Fprintf(e.stderr, "mnsctl %s: %v\n", name, err)
		return 1
	}
	return 0
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}
