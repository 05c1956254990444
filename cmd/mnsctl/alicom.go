package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/alicompush"
	"github.com/alicom-drain/alicom-drain/internal/push"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

// maxAlicomPushInput bounds the JSON array alicom-push reads: far more than a batch of Alicom's.
const maxAlicomPushInput = 16 << 20

func init() {
	commands["alicom-push"] = command{"post a JSON array of messages to a callback URL the way Alicom's HTTP batch push does, with its retries", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		schedule := fs.String("schedule", "1m,5m,10m", "pauses before each retry (Alicom's documented schedule; shorten it to try things out)")
		answer := fs.Duration("answer-timeout", mnslocal.AlicomAnswerTimeout, "how long Alicom waits for the answer")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError("want URL [FILE], e.g. 'http://127.0.0.1:8080/alicom/SmsReport?token=...' items.json (a JSON array; stdin when FILE is absent or -)")
			}
			sched, err := parseSchedule(*schedule)
			if err != nil {
				return usageError("-schedule: %v", err)
			}
			var in io.Reader = c.stdin
			if len(args) == 2 && args[1] != "-" {
				f, err := os.Open(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			body, err := io.ReadAll(io.LimitReader(in, maxAlicomPushInput+1))
			if err != nil {
				return err
			}
			if len(body) > maxAlicomPushInput {
				return fmt.Errorf("the input is larger than %d bytes", maxAlicomPushInput)
			}
			var items []json.RawMessage
			if err := json.Unmarshal(body, &items); err != nil {
				return fmt.Errorf("the input is not a JSON array: %v", err)
			}
			p := mnslocal.NewAlicomPusher(mnslocal.AlicomPushConfig{Schedule: sched, Timeout: *answer})
			d, err := p.Push(ctx, args[0], rawItems(items)...)
			printAttempts(c.stdout, d)
			if err != nil {
				return err
			}
			if !d.Acknowledged {
				return fmt.Errorf("not acknowledged after %d attempts", len(d.Attempts))
			}
			return nil
		}
	}}
	commands["demo-alicom-push"] = command{"run Alicom's HTTP batch push end to end against the push function's handler, in process", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		answer := fs.Duration("answer-timeout", mnslocal.AlicomAnswerTimeout, "how long Alicom waits for the answer")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 0 {
				return usageError("demo-alicom-push takes no arguments")
			}
			return demoAlicomPush(ctx, c.env, *answer)
		}
	}}
}

func parseSchedule(s string) ([]time.Duration, error) {
	out := []time.Duration{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%q is not a duration such as 1m", part)
		}
		out = append(out, d)
	}
	return out, nil
}

func rawItems(items []json.RawMessage) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out
}

func printAttempts(w io.Writer, d mnslocal.AlicomDelivery) {
	for i, a := range d.Attempts {
		if a.Status == 0 {
			fmt.Fprintf(w, "  attempt %d: no answer after %s: %v\n", i+1, a.Duration.Round(time.Millisecond), a.Err)
			continue
		}
		fmt.Fprintf(w, "  attempt %d: %d %s in %s\n", i+1, a.Status, strings.TrimSpace(a.Answer), a.Duration.Round(100*time.Microsecond))
	}
}

// demoAlicomPush plays Alicom against the push function's real handler and Router: typed
// handlers, the log sink, a failing sink and Alicom's retry, duplicates, and a request
// without the token.
func demoAlicomPush(ctx context.Context, e env, answerTimeout time.Duration) error {
	out := &syncWriter{w: e.stdout}
	step := func(s string) { fmt.Fprintf(out, "\n== %s\n", s) }

	step("Start the push function's handler (internal/push), Alicom route on")
	secret := make([]byte, 16)
	rand.Read(secret)
	token := hex.EncodeToString(secret)
	logger := slog.New(slog.NewJSONHandler(out, nil))
	router, err := logRouter(logger)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	calls := map[string]int{}
	sinkDown := true
	dispatch.On(router, alicom.TypeSmsReport, func(ctx context.Context, m *dispatch.Message, r alicom.SmsReport) error {
		mu.Lock()
		defer mu.Unlock()
		key := r.PhoneNumber
		if r.IntlSmsReport != nil {
			key = r.To
		}
		calls[key]++
		if key == "13000000002" && sinkDown {
			sinkDown = false
			return errors.New("the order database is down (once, for the demo)")
		}
		fmt.Fprintf(out, "SmsReport handled: id=%s phone=%s delivered=%v (call %d for this receipt)\n", m.ID, key, r.Delivered(), calls[key])
		return nil
	})
	h, err := push.New(push.Config{Alicom: alicompush.Config{Token: token}}, router, logger)
	if err != nil {
		return err
	}
	base, stop, err := serveLocal(h)
	if err != nil {
		return err
	}
	defer stop()
	callback := func(t string) string { return base + "/alicom/" + t + "?token=" + token }
	fmt.Fprintf(out, "Callback URLs for the console: %s/alicom/<MessageType>?token=<ALICOM_PUSH_TOKEN>\n", base)

	// Alicom's schedule (1, 5 and 10 minutes) scaled down to milliseconds.
	p := mnslocal.NewAlicomPusher(mnslocal.AlicomPushConfig{Schedule: []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second}, Timeout: answerTimeout})
	send := func(t string, items ...string) (mnslocal.AlicomDelivery, error) {
		raw := make([]any, len(items))
		for i, it := range items {
			raw[i] = json.RawMessage(it)
		}
		d, err := p.Push(ctx, callback(t), raw...)
		printAttempts(out, d)
		return d, err
	}
	reports := []string{
		`{"phone_number":"13000000001","send_time":"2017-01-01 11:12:13","report_time":"2017-01-01 11:12:14","success":true,"err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1","biz_id":"12345^0","out_id":"demo-1"}`,
		`{"phone_number":"13000000002","send_time":"2017-01-01 11:12:13","report_time":"2017-01-01 11:12:15","success":false,"err_code":"MK:0001","err_msg":"failed","sms_size":"1","biz_id":"12345^0","out_id":"demo-1"}`,
		`{"To":"6591234567","Status":"1","MessageId":"1008030300305001","SmsSize":"1","TaskId":"10080303","SendDate":"Thu, 25 Nov 2021 10:27:00 +0800","ReceiveDate":"Thu, 25 Nov 2021 10:27:03 +0800","ErrorCode":"DELIVERED","ErrorDescription":"success"}`,
	}

	step("Alicom pushes a SmsReport batch (two domestic receipts, one international); one handler call fails")
	d, err := send(alicom.TypeSmsReport, reports...)
	if err != nil {
		return err
	}
	if !d.Acknowledged || len(d.Attempts) != 2 {
		return fmt.Errorf("the SmsReport batch: %d attempts, acknowledged %v; want a 5xx, then the retry acknowledged", len(d.Attempts), d.Acknowledged)
	}
	fmt.Fprintln(out, "The retry handed only the failed receipt to the handler again: the others were remembered as handled.")

	step("Alicom pushes the same batch once more (receipts can arrive twice)")
	if d, err = send(alicom.TypeSmsReport, reports...); err != nil || !d.Acknowledged {
		return fmt.Errorf("the duplicate batch was not acknowledged: %v", err)
	}
	mu.Lock()
	fmt.Fprintf(out, "Handler calls per receipt: %v (no receipt handled twice)\n", calls)
	mu.Unlock()

	step("Alicom pushes an SmsUp batch: no handler registered, so the log sink records it")
	if d, err = send(alicom.TypeSmsUp, `{"phone_number":"13000000001","send_time":"2017-01-01 11:12:13","content":"TD","sign_name":"阿里云","dest_code":"1234","sequence_id":1234567}`); err != nil || !d.Acknowledged {
		return fmt.Errorf("the SmsUp batch was not acknowledged: %v", err)
	}

	step("Someone without the token")
	resp, err := http.Post(base+"/alicom/SmsReport?token=guess", "application/json", strings.NewReader("[]"))
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Fprintf(out, "  answer: %d (the body was not read)\n", resp.StatusCode)
	if resp.StatusCode != http.StatusForbidden {
		return fmt.Errorf("a wrong token was answered %d, want 403", resp.StatusCode)
	}
	fmt.Fprintf(out, "\nAll Alicom pushes acknowledged: %d batches, %d POSTs.\n", len(p.Deliveries()), countAttempts(p.Deliveries()))
	return nil
}

func countAttempts(ds []mnslocal.AlicomDelivery) int {
	n := 0
	for _, d := range ds {
		n += len(d.Attempts)
	}
	return n
}
