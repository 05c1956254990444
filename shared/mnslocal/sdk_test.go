package mnslocal

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

var (
	reMessageID = regexp.MustCompile(`^[0-9A-F]{32}$`)
	reHandle    = regexp.MustCompile(`^[0-9A-F]{32}-[A-Za-z0-9+/]+={0,2}$`)
)

func TestSDKQueueLifecycle(t *testing.T) {
	srv := newTestServer(t, Config{MessageTypes: []string{}})
	c := customerClient(t, srv)
	m := ali_mns.NewMNSQueueManager(c)

	mustNoErr(t, m.CreateQueue("life", 0, 65536, 345600, 45, 3, 2), "CreateQueue")
	err := m.CreateQueue("life", 0, 65536, 345600, 45, 3, 2)
	if !ali_mns.ERR_MNS_QUEUE_ALREADY_EXIST_AND_HAVE_SAME_ATTR.IsEqual(err) {
		t.Fatalf("creating again with the same attributes: got %v, want the SDK's 204 error", err)
	}
	wantCode(t, m.CreateQueue("life", 0, 65536, 345600, 60, 3, 2), "QueueAlreadyExist")

	attr, err := m.GetQueueAttributes("life")
	mustNoErr(t, err, "GetQueueAttributes")
	if attr.QueueName != "life" || attr.VisibilityTimeout != 45 || attr.PollingWaitSeconds != 3 ||
		attr.MaxMessageSize != 65536 || attr.MessageRetentionPeriod != 345600 || attr.CreateTime == 0 {
		t.Fatalf("attributes: %+v", attr)
	}

	mustNoErr(t, m.SetQueueAttributesWithOptions("life", ali_mns.WithVisibilityTimeout(90)), "SetQueueAttributes")
	attr, err = m.GetQueueAttributes("life")
	mustNoErr(t, err, "GetQueueAttributes")
	// The SDK always sends PollingWaitSeconds (no omitempty), so it is reset to 0.
	if attr.VisibilityTimeout != 90 || attr.PollingWaitSeconds != 0 || attr.MessageRetentionPeriod != 345600 {
		t.Fatalf("after SetQueueAttributes(visibility 90): %+v", attr)
	}

	mustNoErr(t, m.CreateSimpleQueue("other"), "CreateSimpleQueue")
	list, err := m.ListQueue("", 0, "")
	mustNoErr(t, err, "ListQueue")
	if len(list.Queues) != 2 || !strings.HasSuffix(list.Queues[0].QueueURL, "/queues/life") {
		t.Fatalf("ListQueue: %+v", list)
	}
	page, err := m.ListQueue("", 1, "")
	mustNoErr(t, err, "ListQueue page")
	if len(page.Queues) != 1 || page.NextMarker != "other" {
		t.Fatalf("ListQueue with 1 per page: %+v", page)
	}
	details, err := m.ListQueueDetail("", 0, "oth")
	mustNoErr(t, err, "ListQueueDetail")
	if len(details.Attrs) != 1 || details.Attrs[0].QueueName != "other" || details.Attrs[0].VisibilityTimeout != 30 {
		t.Fatalf("ListQueueDetail with prefix: %+v", details)
	}

	mustNoErr(t, m.DeleteQueue("life"), "DeleteQueue")
	_, err = m.GetQueueAttributes("life")
	wantCode(t, err, "QueueNotExist")
	_, err = ali_mns.NewMNSQueue("life", c).SendMessage(ali_mns.MessageSendRequest{MessageBody: "x", Priority: 8})
	wantCode(t, err, "QueueNotExist")
}

func TestSDKSendReceiveDelete(t *testing.T) {
	clock := newFakeClock()
	srv := newTestServer(t, Config{Queues: []string{"q"}, Now: clock.Now})
	q := ali_mns.NewMNSQueue("q", customerClient(t, srv))

	sent, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "hello <&> world", Priority: 8})
	mustNoErr(t, err, "SendMessage")
	if !reMessageID.MatchString(sent.MessageId) || sent.MessageBodyMD5 != bodyMD5("hello <&> world") {
		t.Fatalf("send answer: %+v", sent)
	}
	enqueued := clock.Now().UnixMilli()
	clock.Add(5 * time.Second)

	peekC, peekErr := make(chan ali_mns.MessageReceiveResponse, 1), make(chan error, 1)
	q.PeekMessage(peekC, peekErr)
	select {
	case p := <-peekC:
		if p.MessageId != sent.MessageId || p.MessageBody != "hello <&> world" || p.ReceiptHandle != "" || p.DequeueCount != 0 {
			t.Fatalf("peek: %+v", p)
		}
	case err := <-peekErr:
		t.Fatalf("PeekMessage: %v", err)
	}

	got, err := receiveOne(q, 0)
	mustNoErr(t, err, "ReceiveMessage")
	now := clock.Now().UnixMilli()
	switch {
	case got.MessageId != sent.MessageId, got.MessageBody != "hello <&> world", got.MessageBodyMD5 != sent.MessageBodyMD5:
		t.Fatalf("received %+v, sent %+v", got, sent)
	case !reHandle.MatchString(got.ReceiptHandle) || !strings.ContainsAny(got.ReceiptHandle, "+/") || !strings.HasSuffix(got.ReceiptHandle, "="):
		t.Fatalf("receipt handle %q: want <MessageId>-<base64 with + / and = padding>", got.ReceiptHandle)
	case got.DequeueCount != 1, got.Priority != 8:
		t.Fatalf("DequeueCount %d Priority %d, want 1 and 8", got.DequeueCount, got.Priority)
	case got.EnqueueTime != enqueued, got.FirstDequeueTime != now, got.NextVisibleTime != now+30_000:
		t.Fatalf("times: enqueue %d first dequeue %d next visible %d; want %d, %d, %d",
			got.EnqueueTime, got.FirstDequeueTime, got.NextVisibleTime, enqueued, now, now+30_000)
	}

	_, err = receiveOne(q, 0)
	wantCode(t, err, "MessageNotExist") // inactive messages are not received again
	mustNoErr(t, q.DeleteMessage(got.ReceiptHandle), "DeleteMessage")
	wantCode(t, q.DeleteMessage(got.ReceiptHandle), "MessageNotExist")
	clock.Add(time.Minute)
	_, err = receiveOne(q, 0)
	wantCode(t, err, "MessageNotExist") // deleted for good
	if st := srv.Stats().Queues["q"]; st != (QueueStats{Deleted: 1}) {
		t.Fatalf("queue stats %+v, want only Deleted 1", st)
	}
}

func TestSDKBatchOperationsAndLimits(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	q := ali_mns.NewMNSQueue("q", customerClient(t, srv))

	var batch []ali_mns.MessageSendRequest
	for i := range 17 {
		batch = append(batch, ali_mns.MessageSendRequest{MessageBody: fmt.Sprintf("m%02d", i), Priority: 8})
	}
	_, err := q.BatchSendMessage(batch...)
	wantCode(t, err, "InvalidArgument") // 17 > 16
	resp, err := q.BatchSendMessage(batch[:16]...)
	mustNoErr(t, err, "BatchSendMessage 16")
	if len(resp.Messages) != 16 || !reMessageID.MatchString(resp.Messages[15].MessageId) {
		t.Fatalf("batch send answer: %+v", resp)
	}

	_, err = receive(q, 17, 0)
	wantCode(t, err, "InvalidArgument")
	peeked, err := peekBatch(q, 16)
	mustNoErr(t, err, "BatchPeekMessage")
	if len(peeked.Messages) != 16 || peeked.Messages[0].ReceiptHandle != "" || peeked.Messages[0].DequeueCount != 0 {
		t.Fatalf("peek: %d messages, first %+v", len(peeked.Messages), peeked.Messages[0])
	}

	got, err := receive(q, 16, 0)
	mustNoErr(t, err, "BatchReceiveMessage")
	if len(got.Messages) != 16 {
		t.Fatalf("received %d messages, want 16", len(got.Messages))
	}
	for i, m := range got.Messages {
		if m.MessageBody != fmt.Sprintf("m%02d", i) {
			t.Fatalf("message %d is %q: want FIFO order within a priority", i, m.MessageBody)
		}
	}
	handles := make([]string, 0, 17)
	for _, m := range got.Messages {
		handles = append(handles, m.ReceiptHandle)
	}
	_, err = q.BatchDeleteMessage(append(handles, handles[0])...)
	wantCode(t, err, "InvalidArgument") // 17 > 16

	// Partial failure: two good handles, one stale (already deleted), one malformed.
	mustNoErr(t, q.DeleteMessage(handles[2]), "DeleteMessage")
	bad := "not-a-handle"
	failed, err := q.BatchDeleteMessage(handles[0], handles[1], handles[2], bad)
	if err == nil {
		t.Fatal("partial batch delete: got no error")
	}
	if len(failed.FailedMessages) != 2 ||
		failed.FailedMessages[0].ErrorCode != "MessageNotExist" || failed.FailedMessages[0].ReceiptHandle != handles[2] ||
		failed.FailedMessages[1].ErrorCode != "ReceiptHandleError" || failed.FailedMessages[1].ReceiptHandle != bad {
		t.Fatalf("partial batch delete failures: %+v", failed.FailedMessages)
	}
	_, err = q.BatchDeleteMessage(handles[3:]...)
	mustNoErr(t, err, "BatchDeleteMessage of the rest")
	if st := srv.Stats().Queues["q"]; st != (QueueStats{Deleted: 16}) {
		t.Fatalf("queue stats %+v, want Deleted 16 and nothing left", st)
	}
}

func TestSDKVisibilityExpiryRedelivers(t *testing.T) {
	clock := newFakeClock()
	srv := newTestServer(t, Config{Queues: []string{"q"}, VisibilityTimeout: 10 * time.Second, Now: clock.Now})
	q := ali_mns.NewMNSQueue("q", customerClient(t, srv))
	_, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "again", Priority: 8})
	mustNoErr(t, err, "SendMessage")

	first, err := receiveOne(q, 0)
	mustNoErr(t, err, "first receive")
	clock.Add(9 * time.Second)
	_, err = receiveOne(q, 0)
	wantCode(t, err, "MessageNotExist") // still inactive
	clock.Add(2 * time.Second)
	wantCode(t, q.DeleteMessage(first.ReceiptHandle), "MessageNotExist") // expired handle

	second, err := receiveOne(q, 0)
	mustNoErr(t, err, "second receive")
	if second.MessageId != first.MessageId || second.DequeueCount != 2 || second.FirstDequeueTime != first.FirstDequeueTime {
		t.Fatalf("redelivery: %+v after %+v: want the same message, DequeueCount 2, same FirstDequeueTime", second, first)
	}
	if second.ReceiptHandle == first.ReceiptHandle {
		t.Fatal("redelivery reused the receipt handle")
	}
	wantCode(t, q.DeleteMessage(first.ReceiptHandle), "MessageNotExist") // superseded handle
	mustNoErr(t, q.DeleteMessage(second.ReceiptHandle), "delete with the new handle")
}

func TestSDKChangeMessageVisibility(t *testing.T) {
	clock := newFakeClock()
	srv := newTestServer(t, Config{Queues: []string{"q"}, Now: clock.Now})
	q := ali_mns.NewMNSQueue("q", customerClient(t, srv))
	_, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "slow", Priority: 8})
	mustNoErr(t, err, "SendMessage")
	got, err := receiveOne(q, 0)
	mustNoErr(t, err, "ReceiveMessage")

	_, err = q.ChangeMessageVisibility(got.ReceiptHandle, 0)
	wantCode(t, err, "InvalidArgument") // 1..43200
	changed, err := q.ChangeMessageVisibility(got.ReceiptHandle, 60)
	mustNoErr(t, err, "ChangeMessageVisibility")
	if changed.ReceiptHandle == got.ReceiptHandle || !reHandle.MatchString(changed.ReceiptHandle) ||
		changed.NextVisibleTime != clock.Now().UnixMilli()+60_000 {
		t.Fatalf("change visibility answer %+v", changed)
	}
	_, err = q.ChangeMessageVisibility(got.ReceiptHandle, 60)
	wantCode(t, err, "MessageNotExist") // the old handle stopped working
	wantCode(t, q.DeleteMessage(got.ReceiptHandle), "MessageNotExist")

	clock.Add(45 * time.Second) // past the queue's 30 s, before the new 60 s
	_, err = receiveOne(q, 0)
	wantCode(t, err, "MessageNotExist")
	mustNoErr(t, q.DeleteMessage(changed.ReceiptHandle), "delete with the new handle")
}

func TestSDKLongPollWakesOnSend(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	c := customerClient(t, srv)
	q := ali_mns.NewMNSQueue("q", c)

	type result struct {
		resp ali_mns.BatchMessageReceiveResponse
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		r, err := receive(q, 16, 10)
		done <- result{r, err, time.Since(start)}
	}()
	waitFor(t, "the long poll to arrive", func() bool { return srv.Stats().Requests["BatchReceiveMessage"] == 1 })
	_, err := ali_mns.NewMNSQueue("q", customerClient(t, srv)).SendMessage(ali_mns.MessageSendRequest{MessageBody: "wake", Priority: 8})
	mustNoErr(t, err, "SendMessage")

	select {
	case r := <-done:
		mustNoErr(t, r.err, "long-poll receive")
		if len(r.resp.Messages) != 1 || r.resp.Messages[0].MessageBody != "wake" {
			t.Fatalf("long poll got %+v", r.resp)
		}
		if r.took >= 8*time.Second {
			t.Fatalf("long poll took %v: it did not wake on the send", r.took)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("long poll never returned")
	}
}

func TestSDKLongPollWaitsAndWakesOnDelay(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	q := ali_mns.NewMNSQueue("q", customerClient(t, srv))

	start := time.Now()
	_, err := receive(q, 16, 1)
	wantCode(t, err, "MessageNotExist")
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Fatalf("an empty long poll of 1 s returned after %v: it did not wait", took)
	}

	// A delayed message becoming visible wakes a waiting receiver (timer, not a send).
	_, err = q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "later", DelaySeconds: 1, Priority: 8})
	mustNoErr(t, err, "SendMessage delayed")
	got, err := receive(q, 16, 10)
	mustNoErr(t, err, "receive of the delayed message")
	if len(got.Messages) != 1 || got.Messages[0].MessageBody != "later" {
		t.Fatalf("got %+v", got)
	}
}

func TestSDKPriorityOrder(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	q := ali_mns.NewMNSQueue("q", customerClient(t, srv))
	for _, m := range []struct {
		body string
		prio int64
	}{{"8a", 8}, {"1a", 1}, {"16", 16}, {"1b", 1}, {"8b", 8}} {
		_, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: m.body, Priority: m.prio})
		mustNoErr(t, err, "SendMessage "+m.body)
	}
	got, err := receive(q, 16, 0)
	mustNoErr(t, err, "BatchReceiveMessage")
	var order []string
	for _, m := range got.Messages {
		order = append(order, m.MessageBody)
	}
	if strings.Join(order, ",") != "1a,1b,8a,8b,16" {
		t.Fatalf("receive order %v: want priority 1 first, FIFO within a priority", order)
	}
}

func TestSDKDelayAndRetention(t *testing.T) {
	clock := newFakeClock()
	srv := newTestServer(t, Config{Queues: []string{"q"}, Now: clock.Now})
	c := customerClient(t, srv)
	q := ali_mns.NewMNSQueue("q", c)

	_, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "d", DelaySeconds: 60, Priority: 8})
	mustNoErr(t, err, "SendMessage delayed")
	_, err = receiveOne(q, 0)
	wantCode(t, err, "MessageNotExist")
	attr, err := ali_mns.NewMNSQueueManager(c).GetQueueAttributes("q")
	mustNoErr(t, err, "GetQueueAttributes")
	if attr.DelayMessages != 1 || attr.ActiveMessages != 0 {
		t.Fatalf("attributes of a queue with one delayed message: %+v", attr)
	}
	clock.Add(61 * time.Second)
	got, err := receiveOne(q, 0)
	mustNoErr(t, err, "receive after the delay")
	if got.MessageBody != "d" {
		t.Fatalf("got %+v", got)
	}

	mustNoErr(t, ali_mns.NewMNSQueueManager(c).SetQueueAttributesWithOptions("q", ali_mns.WithMessageRetentionPeriod(60)), "SetQueueAttributes")
	_, err = q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "r", Priority: 8})
	mustNoErr(t, err, "SendMessage")
	clock.Add(61 * time.Second)
	_, err = receiveOne(q, 0)
	wantCode(t, err, "MessageNotExist") // both messages outlived the retention period
	if st := srv.Stats().Queues["q"]; st != (QueueStats{}) {
		t.Fatalf("queue stats after retention %+v: want empty", st)
	}
}

func TestSDKValidationErrors(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	q := ali_mns.NewMNSQueue("q", customerClient(t, srv))
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"priority 0 is rejected", func() error {
			_, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x"})
			return err
		}, "InvalidArgument"},
		{"priority 17 is rejected", func() error {
			_, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x", Priority: 17})
			return err
		}, "InvalidArgument"},
		{"a delay over 7 days is rejected", func() error {
			_, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x", Priority: 8, DelaySeconds: 604801})
			return err
		}, "InvalidArgument"},
		{"an empty body is rejected", func() error {
			_, err := q.SendMessage(ali_mns.MessageSendRequest{Priority: 8})
			return err
		}, "InvalidArgument"},
		{"waitseconds 31 is rejected", func() error {
			_, err := receive(q, 1, 31)
			return err
		}, "InvalidArgument"},
		{"a malformed receipt handle is a ReceiptHandleError", func() error {
			return q.DeleteMessage("garbage")
		}, "ReceiptHandleError"},
		{"a well-formed unknown handle is MessageNotExist", func() error {
			return q.DeleteMessage(newReceiptHandle(newMessageID()))
		}, "MessageNotExist"},
		{"an unknown queue is QueueNotExist", func() error {
			_, err := receive(ali_mns.NewMNSQueue("nope", customerClient(t, srv)), 1, 0)
			return err
		}, "QueueNotExist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.call(), tt.code) })
	}
}

func TestSDKConcurrentReceiversNeverShareAMessage(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	for i := range 400 {
		if _, err := srv.SendMessage("q", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := ali_mns.NewMNSQueue("q", customerClient(t, srv))
			for {
				got, err := receive(q, 16, 0)
				if err != nil {
					if !strings.Contains(err.Error(), "MessageNotExist") {
						t.Errorf("receive: %v", err)
					}
					return
				}
				var hs []string
				mu.Lock()
				for _, m := range got.Messages {
					seen[m.MessageBody]++
					hs = append(hs, m.ReceiptHandle)
				}
				mu.Unlock()
				if _, err := q.BatchDeleteMessage(hs...); err != nil {
					t.Errorf("delete: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != 400 {
		t.Fatalf("received %d distinct messages, want 400", len(seen))
	}
	for body, n := range seen {
		if n != 1 {
			t.Fatalf("message %s received %d times within its visibility timeout", body, n)
		}
	}
}

func TestSDKManyLongPollersShareATrickle(t *testing.T) {
	srv := newTestServer(t, Config{Queues: []string{"q"}})
	const total = 200
	var mu sync.Mutex
	seen := map[string]int{}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := ali_mns.NewMNSQueue("q", customerClient(t, srv))
			for count() < total {
				got, err := receive(q, 16, 1)
				if err != nil {
					if !strings.Contains(err.Error(), "MessageNotExist") {
						t.Errorf("receive: %v", err)
						return
					}
					continue
				}
				hs := make([]string, 0, len(got.Messages))
				mu.Lock()
				for _, m := range got.Messages {
					seen[m.MessageBody]++
					hs = append(hs, m.ReceiptHandle)
				}
				mu.Unlock()
				if _, err := q.BatchDeleteMessage(hs...); err != nil {
					t.Errorf("delete: %v", err)
					return
				}
			}
		}()
	}
	for i := range total {
		if _, err := srv.SendMessage("q", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			time.Sleep(2 * time.Millisecond) // a trickle, so receivers are parked in long polls
		}
	}
	wg.Wait()
	for body, n := range seen {
		if n != 1 {
			t.Fatalf("message %s received %d times", body, n)
		}
	}
	if len(seen) != total {
		t.Fatalf("received %d distinct messages, want %d", len(seen), total)
	}
}
