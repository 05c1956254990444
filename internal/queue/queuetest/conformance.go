// Package queuetest owns the conformance suite every queue.Queue driver must pass (memqueue
// directly, mnsqueue through the MNS SDK against the emulator), so the in-memory queue the
// drain is tested with behaves like MNS in everything the drain relies on.
package queuetest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/queue"
)

// NewQueue returns a new, empty queue whose messages stay invisible for visibility after each
// receive, and a function that sends a message to it. The suite asks for 30 s where it holds
// receipt handles, and for a few seconds where it waits for a redelivery.
type NewQueue func(t *testing.T, visibility time.Duration) (q queue.Queue, send func(body string))

// RunConformance runs the suite against fresh queues from newQueue.
func RunConformance(t *testing.T, newQueue NewQueue) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			visibility := 30 * time.Second
			if c.shortVisibility {
				visibility = shortVisibility
			}
			q, send := newQueue(t, visibility)
			c.run(ctx, t, q, send)
		})
	}
}

// shortVisibility is what the redelivery cases ask for: short enough to wait for, long enough
// that the receipt handle of a redelivery is rarely stale by the time it is used (and the
// cases tolerate that it is).
const shortVisibility = 3 * time.Second

var cases = []struct {
	name            string
	shortVisibility bool
	run             func(ctx context.Context, t *testing.T, q queue.Queue, send func(string))
}{
	{"a sent message is received with its metadata and deleted", false, receiveAndDelete},
	{"an empty queue answers ErrEmpty after the wait", false, emptyAfterWait},
	{"an empty queue answers ErrEmpty at once without a wait", false, emptyWithoutWait},
	{"a long poll returns as soon as a message arrives", false, longPollWakesUp},
	{"a batch receive returns at most max messages", false, batchMax},
	{"out-of-range arguments are invalid requests", false, invalidArguments},
	{"a partial batch delete reports only the failed handles", false, partialBatchDelete},
	{"a message not deleted is delivered again with a higher DequeueCount and a new handle", true, redelivery},
	{"concurrent receivers never get the same message", false, concurrentReceivers},
	{"a cancelled context stops the call", false, cancelledContext},
	{"every request sent is counted, and a call that sends none counts none", false, requestsCounted},
}

const longWait = 5 * time.Second

// receiveN long-polls until it gets exactly n messages, or fails the test.
func receiveN(ctx context.Context, t *testing.T, q queue.Queue, n int) []queue.Message {
	t.Helper()
	var got []queue.Message
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d messages before giving up", len(got), n)
		}
		msgs, err := q.Receive(ctx, min(n-len(got), queue.MaxBatch), longWait)
		if errors.Is(err, queue.ErrEmpty) {
			continue
		}
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		got = append(got, msgs...)
	}
	if len(got) != n {
		t.Fatalf("received %d messages, want %d", len(got), n)
	}
	return got
}

func mustDelete(ctx context.Context, t *testing.T, q queue.Queue, handles ...string) {
	t.Helper()
	failed, err := q.Delete(ctx, handles)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if len(failed) != 0 {
		t.Fatalf("Delete: %d handles failed, first: %v", len(failed), failed[0].Err)
	}
}

func expectEmpty(ctx context.Context, t *testing.T, q queue.Queue) {
	t.Helper()
	msgs, err := q.Receive(ctx, queue.MaxBatch, time.Second)
	if !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("Receive on a drained queue: got %d messages, err %v; want ErrEmpty", len(msgs), err)
	}
}

func md5Upper(s string) string {
	sum := md5.Sum([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func receiveAndDelete(ctx context.Context, t *testing.T, q queue.Queue, send func(string)) {
	body := "eyJwaG9uZV9udW1iZXIiOiIxMzAwMDAwMDAwMCJ9" // base64 JSON, as Alicom sends
	before := time.Now().Add(-time.Minute)
	send(body)
	m := receiveN(ctx, t, q, 1)[0]
	if m.Body != body {
		t.Errorf("Body = %q, want %q", m.Body, body)
	}
	if m.ID == "" || m.ReceiptHandle == "" {
		t.Errorf("ID %q and ReceiptHandle %q must be set", m.ID, m.ReceiptHandle)
	}
	if m.BodyMD5 != md5Upper(body) {
		t.Errorf("BodyMD5 = %q, want %q", m.BodyMD5, md5Upper(body))
	}
	if m.DequeueCount != 1 {
		t.Errorf("DequeueCount = %d on the first delivery, want 1", m.DequeueCount)
	}
	if m.Priority < 1 || m.Priority > 16 {
		t.Errorf("Priority = %d, want 1..16", m.Priority)
	}
	if m.EnqueueTime.Before(before) || m.FirstDequeueTime.Before(m.EnqueueTime) || !m.NextVisibleTime.After(m.FirstDequeueTime) {
		t.Errorf("times out of order: enqueue %v, first dequeue %v, next visible %v", m.EnqueueTime, m.FirstDequeueTime, m.NextVisibleTime)
	}
	mustDelete(ctx, t, q, m.ReceiptHandle)
	expectEmpty(ctx, t, q)
	failed, err := q.Delete(ctx, []string{m.ReceiptHandle})
	if err != nil || len(failed) != 1 || !errors.Is(failed[0].Err, queue.ErrStaleHandle) {
		t.Errorf("Delete of a deleted message: got %+v, %v; want one ErrStaleHandle failure", failed, err)
	}
}

func emptyAfterWait(ctx context.Context, t *testing.T, q queue.Queue, send func(string)) {
	start := time.Now()
	_, err := q.Receive(ctx, 1, time.Second)
	took := time.Since(start)
	if !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("got %v, want ErrEmpty", err)
	}
	// Behaviour, not speed: the answer must not come before the wait, nor long after it.
	if took < 900*time.Millisecond || took > 20*time.Second {
		t.Fatalf("a 1s long poll on an empty queue took %v", took)
	}
}

func emptyWithoutWait(ctx context.Context, t *testing.T, q queue.Queue, send func(string)) {
	start := time.Now()
	_, err := q.Receive(ctx, 1, 0)
	if !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("got %v, want ErrEmpty", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("a receive without wait took %v", took)
	}
}

func longPollWakesUp(ctx context.Context, t *testing.T, q queue.Queue, send func(string)) {
	type res struct {
		msgs []queue.Message
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		msgs, err := q.Receive(ctx, 1, 20*time.Second)
		ch <- res{msgs, err}
	}()
	time.Sleep(300 * time.Millisecond) // let the long poll start
	send("late")
	r := <-ch
	if r.err != nil || len(r.msgs) != 1 || r.msgs[0].Body != "late" {
		t.Fatalf("got %d messages, %v; want the message sent during the wait", len(r.msgs), r.err)
	}
	mustDelete(ctx, t, q, r.msgs[0].ReceiptHandle)
}

func batchMax(ctx context.Context, t *testing.T, q queue.Queue, send func(string)) {
	const n = 20
	for i := range n {
		send(fmt.Sprintf("m%02d", i))
	}
	var all []queue.Message
	for max := 5; len(all) < n; max = queue.MaxBatch {
		msgs, err := q.Receive(ctx, max, longWait)
		if err != nil {
			t.Fatalf("Receive(%d) with %d of %d messages received: %v", max, len(all), n, err)
		}
		if len(msgs) < 1 || len(msgs) > max {
			t.Fatalf("Receive(%d) returned %d messages", max, len(msgs))
		}
		all = append(all, msgs...)
	}
	if len(all) != n {
		t.Fatalf("received %d messages, want %d", len(all), n)
	}
	bodies := make([]string, 0, n)
	for _, m := range all {
		bodies = append(bodies, m.Body)
	}
	slices.Sort(bodies)
	if bodies = slices.Compact(bodies); len(bodies) != n {
		t.Fatalf("got %d distinct bodies of %d sent", len(bodies), n)
	}
	for i := 0; i < len(all); i += queue.MaxBatch {
		var hs []string
		for _, m := range all[i:min(i+queue.MaxBatch, len(all))] {
			hs = append(hs, m.ReceiptHandle)
		}
		mustDelete(ctx, t, q, hs...)
	}
	expectEmpty(ctx, t, q)
}

func invalidArguments(ctx context.Context, t *testing.T, q queue.Queue, send func(string)) {
	for _, max := range []int{0, -1, queue.MaxBatch + 1} {
		if _, err := q.Receive(ctx, max, 0); !errors.Is(err, queue.ErrInvalidRequest) {
			t.Errorf("Receive(max=%d): got %v, want ErrInvalidRequest", max, err)
		}
	}
	many := make([]string, queue.MaxBatch+1)
	for i := range many {
		many[i] = fmt.Sprintf("h%d", i)
	}
	if _, err := q.Delete(ctx, many); !errors.Is(err, queue.ErrInvalidRequest) {
		t.Errorf("Delete of 17 handles: got %v, want ErrInvalidRequest", err)
	}
	if _, err := q.Delete(ctx, []string{""}); !errors.Is(err, queue.ErrInvalidRequest) {
		t.Errorf("Delete of an empty handle: got %v, want ErrInvalidRequest", err)
	}
	if failed, err := q.Delete(ctx, nil); err != nil || failed != nil {
		t.Errorf("Delete of nothing: got %v, %v; want nothing", failed, err)
	}
}

func partialBatchDelete(ctx context.Context, t *testing.T, q queue.Queue, send func(string)) {
	for _, b := range []string{"p1", "p2", "p3"} {
		send(b)
	}
	msgs := receiveN(ctx, t, q, 3)
	staleHandle := msgs[2].ReceiptHandle
	mustDelete(ctx, t, q, staleHandle)
	malformed := "not-a-receipt-handle"
	failed, err := q.Delete(ctx, []string{msgs[0].ReceiptHandle, staleHandle, msgs[1].ReceiptHandle, malformed})
	if err != nil {
		t.Fatalf("Delete: the request failed as a whole: %v", err)
	}
	got := map[string]error{}
	for _, f := range failed {
		got[f.ReceiptHandle] = f.Err
	}
	if len(failed) != 2 || !errors.Is(got[staleHandle], queue.ErrStaleHandle) || !errors.Is(got[malformed], queue.ErrStaleHandle) {
		t.Fatalf("Delete: failures %+v, want exactly the stale and the malformed handle as ErrStaleHandle", failed)
	}
	// The others were deleted.
	expectEmpty(ctx, t, q)
}

func redelivery(ctx context.Context, t *testing.T, q queue.Queue, send func(string)) {
	send("again")
	first := receiveN(ctx, t, q, 1)[0]
	// Not deleted, as by a failed handler: it comes back once its visibility lapses.
	second := receiveN(ctx, t, q, 1)[0]
	if second.ID != first.ID || second.Body != first.Body {
		t.Fatalf("got message %s %q, want the redelivered %s %q", second.ID, second.Body, first.ID, first.Body)
	}
	if second.DequeueCount != first.DequeueCount+1 {
		t.Errorf("DequeueCount = %d on redelivery, want %d", second.DequeueCount, first.DequeueCount+1)
	}
	if second.ReceiptHandle == first.ReceiptHandle {
		t.Errorf("the redelivery reuses the first receipt handle")
	}
	if !second.FirstDequeueTime.Equal(first.FirstDequeueTime) {
		t.Errorf("FirstDequeueTime changed from %v to %v", first.FirstDequeueTime, second.FirstDequeueTime)
	}
	failed, err := q.Delete(ctx, []string{first.ReceiptHandle})
	if err != nil {
		t.Fatalf("Delete with the handle of the previous delivery: the request failed as a whole: %v", err)
	}
	if len(failed) != 1 || failed[0].ReceiptHandle != first.ReceiptHandle || !errors.Is(failed[0].Err, queue.ErrStaleHandle) {
		t.Fatalf("Delete with the handle of the previous delivery: got %+v, want one ErrStaleHandle failure", failed)
	}
	deleteEventually(ctx, t, q, second)
	expectEmpty(ctx, t, q)
}

// deleteEventually deletes m, receiving it again if its short visibility lapsed on a slow
// machine before the delete arrived.
func deleteEventually(ctx context.Context, t *testing.T, q queue.Queue, m queue.Message) {
	t.Helper()
	for range 5 {
		failed, err := q.Delete(ctx, []string{m.ReceiptHandle})
		if err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if len(failed) == 0 {
			return
		}
		if !errors.Is(failed[0].Err, queue.ErrStaleHandle) {
			t.Fatalf("Delete: %+v", failed)
		}
		m = receiveN(ctx, t, q, 1)[0]
	}
	t.Fatal("could not delete the message before its visibility lapsed, five times")
}

func concurrentReceivers(ctx context.Context, t *testing.T, q queue.Queue, send func(string)) {
	const n, receivers = 40, 4
	for i := range n {
		send(fmt.Sprintf("c%02d", i))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, receivers)
	for range receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				msgs, err := q.Receive(ctx, 4, time.Second)
				if errors.Is(err, queue.ErrEmpty) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				hs := make([]string, 0, len(msgs))
				mu.Lock()
				for _, m := range msgs {
					seen[m.ID]++
					hs = append(hs, m.ReceiptHandle)
				}
				mu.Unlock()
				if failed, err := q.Delete(ctx, hs); err != nil || len(failed) > 0 {
					errs <- fmt.Errorf("Delete: %v %+v", err, failed)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(seen) != n {
		t.Fatalf("received %d distinct messages, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("message %s received %d times", id, c)
		}
	}
}

func cancelledContext(ctx context.Context, t *testing.T, q queue.Queue, send func(string)) {
	send("kept")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := q.Receive(cctx, 1, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive with a cancelled context: got %v, want context.Canceled", err)
	}
	if _, err := q.Delete(cctx, []string{"h"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with a cancelled context: got %v, want context.Canceled", err)
	}
	// Nothing was taken: the message is still there.
	m := receiveN(ctx, t, q, 1)[0]
	if m.Body != "kept" || m.DequeueCount != 1 {
		t.Fatalf("got %q with DequeueCount %d, want the untouched message", m.Body, m.DequeueCount)
	}
	mustDelete(ctx, t, q, m.ReceiptHandle)
}

func requestsCounted(ctx context.Context, t *testing.T, q queue.Queue, send func(string)) {
	var n atomic.Int64
	ctx = queue.WithRequestCounter(ctx, &n)
	send("counted")
	msgs := receiveN(ctx, t, q, 1)
	if _, err := q.Delete(ctx, []string{msgs[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	// receiveN may have needed more than one receive; the delete is one more.
	if got := n.Load(); got < 2 {
		t.Fatalf("counted %d requests for at least one receive and one delete", got)
	}
	before := n.Load()
	// The handle is stale now: the request is sent all the same.
	if _, err := q.Delete(ctx, []string{msgs[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Receive(ctx, queue.MaxBatch+1, 0); !errors.Is(err, queue.ErrInvalidRequest) {
		t.Fatalf("got %v, want ErrInvalidRequest", err)
	}
	if got := n.Load() - before; got != 1 {
		t.Fatalf("counted %d requests for one delete and one invalid receive, want 1", got)
	}
}
