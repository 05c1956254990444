package memqueue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/queue"
	"github.com/alicom-drain/alicom-drain/internal/queue/memqueue"
	"github.com/alicom-drain/alicom-drain/internal/queue/queuetest"
)

func TestConformance(t *testing.T) {
	queuetest.RunConformance(t, func(t *testing.T, visibility time.Duration) (queue.Queue, func(string)) {
		q := memqueue.New("mem", memqueue.Options{VisibilityTimeout: visibility})
		return q, func(b string) { q.Send(b) }
	})
}

func TestRedeliveryWakesAWaitingReceive(t *testing.T) {
	q := memqueue.New("mem", memqueue.Options{VisibilityTimeout: 200 * time.Millisecond})
	q.Send("x")
	ctx := context.Background()
	first, err := q.Receive(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := q.Receive(ctx, 1, 10*time.Second) // wakes when the message turns visible
	if err != nil || again[0].ID != first[0].ID || again[0].DequeueCount != 2 {
		t.Fatalf("got %+v, %v", again, err)
	}
}

func TestAFakeClockDrivesVisibility(t *testing.T) {
	now := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	q := memqueue.New("mem", memqueue.Options{Now: func() time.Time { return now }})
	q.Send("x")
	ctx := context.Background()
	m, err := q.Receive(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !m[0].NextVisibleTime.Equal(now.Add(30 * time.Second)) {
		t.Fatalf("NextVisibleTime %v", m[0].NextVisibleTime)
	}
	if s := q.Stats(); s.Invisible != 1 || s.Visible != 0 {
		t.Fatalf("stats %+v", s)
	}
	now = now.Add(31 * time.Second)
	if _, err := q.Delete(ctx, []string{m[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 1 {
		t.Fatal("a delete with an expired handle removed the message")
	}
	if m2, err := q.Receive(ctx, 1, 0); err != nil || m2[0].DequeueCount != 2 {
		t.Fatalf("got %+v, %v", m2, err)
	}
}

func TestFaultHooksFailOperationsAndSingleHandles(t *testing.T) {
	q := memqueue.New("mem", memqueue.Options{})
	ctx := context.Background()
	q.SetFault(func(op string) error {
		if op == "receive" {
			return queue.ErrTransport
		}
		return nil
	})
	q.Send("a")
	if _, err := q.Receive(ctx, 1, 0); !errors.Is(err, queue.ErrTransport) {
		t.Fatalf("got %v, want the injected ErrTransport", err)
	}
	q.SetFault(nil)
	q.Send("b")
	msgs, err := q.Receive(ctx, 2, 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("got %d, %v", len(msgs), err)
	}
	q.SetDeleteFault(func(h string) error {
		if h == msgs[0].ReceiptHandle {
			return queue.ErrThrottled
		}
		return nil
	})
	failed, err := q.Delete(ctx, []string{msgs[0].ReceiptHandle, msgs[1].ReceiptHandle})
	if err != nil || len(failed) != 1 || !errors.Is(failed[0].Err, queue.ErrThrottled) {
		t.Fatalf("got %+v, %v", failed, err)
	}
	if s := q.Stats(); s.Deleted != 1 || q.Len() != 1 {
		t.Fatalf("stats %+v len %d", s, q.Len())
	}
}
