package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

func init() {
	commands["create-queue"] = command{"create a queue", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		visibility := fs.Duration("visibility", 30*time.Second, "visibility timeout of received messages (whole seconds)")
		return func(ctx context.Context, c *cli, args []string) error {
			name, err := oneName(args, "queue")
			if err != nil {
				return err
			}
			if *visibility < time.Second || *visibility%time.Second != 0 {
				return usageError("-visibility %s: want whole seconds, at least 1s", *visibility)
			}
			err = c.do(ctx, func(client ali_mns.MNSClient) error {
				return ali_mns.NewMNSQueueManager(client).CreateQueueWithOptions(name, ali_mns.WithVisibilityTimeout(int32(*visibility/time.Second)))
			})
			if errorCode(err) == "QueueAlreadyExist" || ali_mns.ERR_MNS_QUEUE_ALREADY_EXIST_AND_HAVE_SAME_ATTR.IsEqual(err) {
				fmt.Fprintf(c.stdout, "Queue already exists. QueueName:%s\n", name)
				return nil
			}
			if err != nil {
				return fmt.Errorf("create queue %s: %w", name, err)
			}
			fmt.Fprintf(c.stdout, "Create Queue Succeed! QueueName:%s\n", name)
			return nil
		}
	}}

	commands["delete-queue"] = command{"delete a queue", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		return func(ctx context.Context, c *cli, args []string) error {
			name, err := oneName(args, "queue")
			if err != nil {
				return err
			}
			if err := c.do(ctx, func(client ali_mns.MNSClient) error { return ali_mns.NewMNSQueueManager(client).DeleteQueue(name) }); err != nil {
				return fmt.Errorf("delete queue %s: %w", name, err)
			}
			fmt.Fprintf(c.stdout, "Delete Queue Succeed! QueueName:%s\n", name)
			return nil
		}
	}}

	commands["send"] = command{"send messages to a queue", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		queue := fs.String("queue", "", "queue name (required)")
		b64 := fs.Bool("base64", false, "send base64 of each body, the way Alicom encodes message bodies")
		priority := fs.Int64("priority", 8, "priority 1 (highest) to 16")
		delay := fs.Int64("delay", 0, "delay in seconds before the message becomes visible (0..604800)")
		return func(ctx context.Context, c *cli, args []string) error {
			if *queue == "" || len(args) == 0 {
				return usageError("want -queue and at least one body (\"-\" reads stdin)")
			}
			if *priority < 1 || *priority > 16 {
				return usageError("-priority %d: want 1..16", *priority)
			}
			if *delay < 0 || *delay > 604800 {
				return usageError("-delay %d: want 0..604800", *delay)
			}
			bodies, err := bodiesFrom(args, c)
			if err != nil {
				return err
			}
			client, err := c.mns()
			if err != nil {
				return err
			}
			q := ali_mns.NewMNSQueue(*queue, client)
			for _, body := range bodies {
				sent := body
				if *b64 {
					sent = base64.StdEncoding.EncodeToString([]byte(body))
				}
				var resp ali_mns.MessageSendResponse
				if err := call(ctx, func() (err error) {
					resp, err = q.SendMessage(ali_mns.MessageSendRequest{MessageBody: sent, Priority: *priority, DelaySeconds: *delay})
					return err
				}); err != nil {
					return fmt.Errorf("send to %s: %w", *queue, err)
				}
				fmt.Fprintf(c.stdout, "Send Message Succeed. MessageID:%s MessageBodyMD5:%s\n", resp.MessageId, resp.MessageBodyMD5)
			}
			return nil
		}
	}}

	commands["peek"] = command{"show queue messages without receiving them", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		queue := fs.String("queue", "", "queue name (required)")
		n := fs.Int("n", 16, "how many messages, 1..16")
		decode := fs.Bool("decode", false, "also show bodies that are base64 text decoded")
		return func(ctx context.Context, c *cli, args []string) error {
			if *queue == "" || len(args) != 0 {
				return usageError("want -queue")
			}
			if *n < 1 || *n > 16 {
				return usageError("-n %d: want 1..16", *n)
			}
			client, err := c.mns()
			if err != nil {
				return err
			}
			q := ali_mns.NewMNSQueue(*queue, client)
			msgs, err := batch(ctx, func(rc chan ali_mns.BatchMessageReceiveResponse, ec chan error) {
				q.BatchPeekMessage(rc, ec, int32(*n))
			})
			if err != nil {
				return fmt.Errorf("peek %s: %w", *queue, err)
			}
			printMessages(c, msgs, false, *decode)
			return nil
		}
	}}

	commands["receive"] = command{"receive queue messages (they become invisible until deleted or timed out)", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		queue := fs.String("queue", "", "queue name (required)")
		n := fs.Int("n", 1, "how many messages, 1..16")
		wait := fs.Int64("wait", 0, "long-poll seconds, 0..30")
		decode := fs.Bool("decode", false, "also show bodies that are base64 text decoded")
		return func(ctx context.Context, c *cli, args []string) error {
			if *queue == "" || len(args) != 0 {
				return usageError("want -queue")
			}
			if *n < 1 || *n > 16 {
				return usageError("-n %d: want 1..16", *n)
			}
			if *wait < 0 || *wait > 30 {
				return usageError("-wait %d: want 0..30", *wait)
			}
			client, err := c.mns()
			if err != nil {
				return err
			}
			q := ali_mns.NewMNSQueue(*queue, client)
			msgs, err := batch(ctx, func(rc chan ali_mns.BatchMessageReceiveResponse, ec chan error) {
				if *wait > 0 {
					q.BatchReceiveMessage(rc, ec, int32(*n), *wait)
				} else {
					q.BatchReceiveMessage(rc, ec, int32(*n))
				}
			})
			if err != nil {
				return fmt.Errorf("receive from %s: %w", *queue, err)
			}
			printMessages(c, msgs, true, *decode)
			return nil
		}
	}}

	commands["delete"] = command{"delete received messages by receipt handle", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		queue := fs.String("queue", "", "queue name (required)")
		return func(ctx context.Context, c *cli, args []string) error {
			if *queue == "" || len(args) == 0 || len(args) > 16 {
				return usageError("want -queue and 1..16 receipt handles")
			}
			client, err := c.mns()
			if err != nil {
				return err
			}
			q := ali_mns.NewMNSQueue(*queue, client)
			var resp ali_mns.BatchMessageDeleteErrorResponse
			err = call(ctx, func() (err error) {
				if len(args) == 1 {
					return q.DeleteMessage(args[0])
				}
				resp, err = q.BatchDeleteMessage(args...)
				return err
			})
			for _, f := range resp.FailedMessages {
				fmt.Fprintf(c.stderr, "not deleted: %s: %s %s\n", f.ReceiptHandle, f.ErrorCode, f.ErrorMessage)
			}
			if err != nil {
				return fmt.Errorf("delete from %s: %w", *queue, err)
			}
			fmt.Fprintf(c.stdout, "Delete Message Succeed. Count:%d\n", len(args))
			return nil
		}
	}}
}

// batch runs a channel-reporting SDK receive or peek and returns its messages; an empty queue
// is no messages, not an error.
func batch(ctx context.Context, f func(chan ali_mns.BatchMessageReceiveResponse, chan error)) ([]ali_mns.MessageReceiveResponse, error) {
	rc := make(chan ali_mns.BatchMessageReceiveResponse, 1)
	ec := make(chan error, 1)
	if err := call(ctx, func() error { f(rc, ec); return nil }); err != nil {
		return nil, err
	}
	select {
	case resp := <-rc:
		return resp.Messages, nil
	case err := <-ec:
		if errorCode(err) == "MessageNotExist" || ali_mns.ERR_MNS_MESSAGE_NOT_EXIST.IsEqual(err) {
			return nil, nil
		}
		return nil, err
	default:
		return nil, nil
	}
}

func printMessages(c *cli, msgs []ali_mns.MessageReceiveResponse, received, decode bool) {
	if len(msgs) == 0 {
		fmt.Fprintln(c.stdout, "No message.")
		return
	}
	for _, m := range msgs {
		fmt.Fprintf(c.stdout, "MessageId:%s DequeueCount:%d Priority:%d EnqueueTime:%s MessageBodyMD5:%s\n",
			m.MessageId, m.DequeueCount, m.Priority, millis(m.EnqueueTime), m.MessageBodyMD5)
		if received {
			fmt.Fprintf(c.stdout, "  ReceiptHandle:%s NextVisibleTime:%s\n", m.ReceiptHandle, millis(m.NextVisibleTime))
		}
		fmt.Fprintf(c.stdout, "  Body:%s\n", m.MessageBody)
		if decode {
			if d, err := base64.StdEncoding.DecodeString(m.MessageBody); err == nil && utf8.Valid(d) {
				fmt.Fprintf(c.stdout, "  Decoded:%s\n", d)
			}
		}
	}
}

func millis(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

// bodiesFrom returns the message bodies given as arguments; "-" stands for standard input,
// read whole.
func bodiesFrom(args []string, c *cli) ([]string, error) {
	var out []string
	for _, a := range args {
		if a != "-" {
			out = append(out, a)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(c.stdin, 64<<10+1))
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
		if len(b) > 64<<10 {
			return nil, fmt.Errorf("stdin holds more than 64 KB, the MNS message size limit")
		}
		out = append(out, strings.TrimSuffix(string(b), "\n"))
	}
	return out, nil
}
