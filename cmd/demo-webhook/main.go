// Command demo-webhook shows the drain function delivering Alicom messages to a webhook
// (`make demo-webhook`). It starts the MNS + Dybaseapi emulator and a local receiver on
// 127.0.0.1 that verifies every request with the Standard Webhooks library (as a receiver in
// any language would), enqueues every sample body under events/messages, and runs the real
// function binary: with the receiver down (every message kept, none
// dead-lettered; twice), after it recovers (every message delivered, in signed batches), and once
// more on the empty queues.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/alicom-drain/alicom-drain/internal/demokit"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

func main() {
	function := flag.String("function", "bin/alicom-drain", "the drain function binary (make demo-webhook builds it)")
	samples := flag.String("samples", "", "directory of sample bodies, <Type>[-variant].json (default: the repository's events/messages, built in)")
	event := flag.String("event", "events/fc-timer.json", "the platform event of each invocation")
	batch := flag.Int("batch", 16, "WEBHOOK_BATCH_SIZE, 1..16")
	flag.Parse()
	if err := run(os.Stdout, *function, *samples, *event, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "demo-webhook:", err)
		os.Exit(1)
	}
}

// receiver is the user's backend: it verifies, then answers as its state says.
type receiver struct {
	wh       *standardwebhooks.Webhook
	down     atomic.Bool
	out      io.Writer
	mu       sync.Mutex
	verified int
	refused  int
	seen     map[string]bool
	example  []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := rc.wh.Verify(body, r.Header); err != nil {
		rc.mu.Lock()
		rc.refused++
		rc.mu.Unlock()
		fmt.Fprintf(rc.out, "   receiver: REFUSED a request: %v\n", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var events []json.RawMessage
	var batch struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if json.Unmarshal(body, &batch) == nil && batch.Messages != nil {
		events = batch.Messages
	} else {
		events = []json.RawMessage{body}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.verified++
	if rc.down.Load() {
		fmt.Fprintf(rc.out, "   receiver: signature valid, webhook-id %s, %d event(s): answering 503 (down)\n", r.Header.Get("webhook-id"), len(events))
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	for _, e := range events {
		var ev struct {
			MessageID string `json:"message_id"`
		}
		_ = json.Unmarshal(e, &ev)
		rc.seen[ev.MessageID] = true
		if rc.example == nil {
			rc.example = e
		}
	}
	fmt.Fprintf(rc.out, "   receiver: signature valid, webhook-id %s, %d event(s): 204\n", r.Header.Get("webhook-id"), len(events))
	w.WriteHeader(http.StatusNoContent)
}

func run(out io.Writer, function, samplesDir, event string, batch int) error {
	bodies, types, err := demokit.Samples(samplesDir)
	if err != nil {
		return err
	}

	// A visibility timeout of 1 s lets the kept messages come back for the second run at once.
	srv, err := mnslocal.Start(mnslocal.Config{Addr: "127.0.0.1:0", MessageTypes: types, VisibilityTimeout: time.Second})
	if err != nil {
		return err
	}
	defer srv.Close()
	total := 0
	for _, t := range types {
		for _, b := range bodies[t] {
			if _, err := srv.SendMessage(srv.AlicomQueueName(t), b.Body); err != nil {
				return err
			}
			total++
		}
	}
	fmt.Fprintf(out, "== emulator on %s with %d sample messages in %d queues\n", srv.URL(), total, len(types))

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	rc := &receiver{wh: wh, out: out, seen: map[string]bool{}}
	hook := httptest.NewServer(rc) // 127.0.0.1
	defer hook.Close()
	fmt.Fprintf(out, "== receiver on %s/alicom, verifying with the Standard Webhooks library (secret generated for this run, not shown)\n", hook.URL)

	env := demokit.DrainEnv(srv, types,
		"DRAIN_WAIT_SECONDS=0",
		"DRAIN_MAX_ATTEMPTS=3",
		"LOG_LEVEL=warn",
		"ALICOM_SINK=webhook",
		"WEBHOOK_URL="+hook.URL+"/alicom",
		"WEBHOOK_SECRET="+secret,
		fmt.Sprintf("WEBHOOK_BATCH_SIZE=%d", batch),
	)
	invoke := func(title string) error {
		fmt.Fprintf(out, "\n== %s: %s -event %s\n", title, function, event)
		cmd := exec.CommandContext(context.Background(), function, "-event", event)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		runErr := cmd.Run()
		if bytes.Contains(stdout.Bytes(), key) || bytes.Contains(stderr.Bytes(), []byte(secret)) {
			return fmt.Errorf("the webhook secret appeared in the function's output")
		}
		var rep struct {
			Queues []struct {
				MessageType  string `json:"message_type"`
				Received     int    `json:"received"`
				Handled      int    `json:"handled"`
				DeadLettered int    `json:"dead_lettered"`
				Failed       int    `json:"failed"`
				Deleted      int    `json:"deleted"`
				Stop         string `json:"stop_reason"`
			} `json:"queues"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			fmt.Fprintf(out, "   the function printed:\n%s%s", stdout.String(), stderr.String())
		}
		for _, q := range rep.Queues {
			fmt.Fprintf(out, "   %-22s received %2d  handled %2d  kept %2d  dead-lettered %d  deleted %2d  (%s)\n",
				q.MessageType, q.Received, q.Handled, q.Failed, q.DeadLettered, q.Deleted, q.Stop)
		}
		if runErr != nil && title != "receiver down" {
			return fmt.Errorf("the function failed: %w\n%s", runErr, stderr.String())
		}
		return nil
	}

	rc.down.Store(true)
	for range 2 {
		if err := invoke("receiver down"); err != nil {
			return err
		}
		time.Sleep(1500 * time.Millisecond) // the kept messages' visibility timeout
	}
	rc.down.Store(false)
	if err := invoke("receiver back"); err != nil {
		return err
	}
	if err := invoke("once more"); err != nil {
		return err
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, rc.example, "   ", "  ")
	fmt.Fprintf(out, "\n== one event as the receiver got it\n   %s\n", pretty.String())
	left := int64(0)
	for _, t := range types {
		left += demokit.Left(srv.Stats().Queues[srv.AlicomQueueName(t)])
	}
	fmt.Fprintf(out, "\n== %d signed requests verified, %d refused; %d of %d messages delivered; %d left in the queues\n",
		rc.verified, rc.refused, len(rc.seen), total, left)
	if rc.refused != 0 || len(rc.seen) != total || left != 0 {
		return fmt.Errorf("not every message was delivered")
	}
	return nil
}
