package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

// The baselines are Go re-implementations of the official demos' consuming loops over the raw
// aliyun-mns-go-sdk (see docs/performance.md for how each maps to its demo). They run against a
// deadline: the slowest would need minutes to drain the backlog. Each ends early at its first
// empty receive, where the demo would sleep (10 s, 50 ms) or poll on: the measurement is over.

// javaPoolQueue is the Java puller's ArrayBlockingQueue capacity (threadQueueSize).
const javaPoolQueue = 200

// maxConsecutiveErrors stops a loop that keeps failing rather than spinning to its deadline;
// the demos would log and go on forever. Any error makes the run report it.
const maxConsecutiveErrors = 5

// counters are a loop's own view of what it did; the report takes its numbers from the
// emulator, and the test holds the two against each other.
type counters struct {
	receives, deletes, tokens atomic.Int64 // requests made
	received, deleted, failed atomic.Int64
	lastDelete                atomic.Int64 // unix nanoseconds of the latest completed delete

	mu       sync.Mutex
	firstErr error
}

func (c *counters) markDeleted(n int64) {
	c.deleted.Add(n)
	storeMax(&c.lastDelete, time.Now().UnixNano())
}

func (c *counters) noteErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.firstErr == nil {
		c.firstErr = err
	}
}

func (c *counters) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.firstErr
}

// storeMax raises a to v unless it already holds more: deletes finish out of order.
func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// handle is the handler work every variant does for a message: MD5 check, base64, JSON into the
// typed value, and nothing else.
func handle(messageType string, m *ali_mns.MessageReceiveResponse) error {
	_, _, err := alicom.Decode(messageType, m.MessageBody, m.MessageBodyMD5)
	return err
}

// errorBudget counts consecutive failures of one loop.
type errorBudget struct {
	c *counters
	n int
}

// fail records err and says whether the loop must give up.
func (b *errorBudget) fail(err error) bool {
	b.c.noteErr(err)
	b.n++
	return b.n >= maxConsecutiveErrors
}

func (b *errorBudget) ok() { b.n = 0 }

// deleteOne is the demos' per-message delete after a successful handler.
func deleteOne(q ali_mns.AliMNSQueue, t string, m *ali_mns.MessageReceiveResponse, c *counters, eb *errorBudget) bool {
	if err := handle(t, m); err != nil {
		// The demos keep a message whose handler failed; it comes back after its visibility
		// timeout. With well-formed sample bodies this does not happen.
		c.failed.Add(1)
		c.noteErr(fmt.Errorf("handler: %w", err))
		return true
	}
	c.deletes.Add(1)
	if err := q.DeleteMessage(m.ReceiptHandle); err != nil {
		return !eb.fail(fmt.Errorf("DeleteMessage: %w", err))
	}
	eb.ok()
	c.markDeleted(1)
	return true
}

// pythonDemo is the Python demo (the official Python demo): one token, one client, then forever: receive one
// message with a 3 s long poll, handle it, delete it. On an empty queue the demo sleeps 10 s.
func pythonDemo(addr, messageType, queueName string, until time.Time, c *counters) error {
	c.tokens.Add(1)
	tok, err := fetchToken(addr, messageType)
	if err != nil {
		return err
	}
	client, err := newSDKClient(addr, tok, 1)
	if err != nil {
		return err
	}
	defer client.Conns.CloseIdleConnections()
	q := ali_mns.NewMNSQueue(queueName, client.MNSClient)
	eb := &errorBudget{c: c}
	for time.Now().Before(until) {
		c.receives.Add(1)
		m, err := receiveOne(q, 3)
		if isEmpty(err) {
			return nil
		}
		if err != nil {
			if eb.fail(fmt.Errorf("ReceiveMessage: %w", err)) {
				return c.err()
			}
			continue
		}
		eb.ok()
		c.received.Add(1)
		if !deleteOne(q, messageType, &m, c, eb) {
			return c.err()
		}
	}
	return nil
}

// dotnetDemo is the .NET demo (the official .NET demo): two threads, each with its own token and client (the
// demo's token and queue maps are per task), each looping: batch receive 16 without a long poll,
// handle and delete each message with a request of its own, then sleep 50 ms — after every round,
// not only after an empty one.
func dotnetDemo(addr, messageType, queueName string, until time.Time, c *counters) error {
	const workers, pause = 2, 50 * time.Millisecond
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var q ali_mns.AliMNSQueue
			eb := &errorBudget{c: c}
			for time.Now().Before(until) {
				if q == nil {
					c.tokens.Add(1)
					tok, err := fetchToken(addr, messageType)
					if err != nil {
						if eb.fail(err) {
							return
						}
						time.Sleep(pause)
						continue
					}
					client, err := newSDKClient(addr, tok, 1)
					if err != nil {
						c.noteErr(err)
						return
					}
					defer client.Conns.CloseIdleConnections()
					q = ali_mns.NewMNSQueue(queueName, client.MNSClient)
				}
				c.receives.Add(1)
				msgs, err := receiveBatch(q, 16, 0)
				if isEmpty(err) {
					return
				}
				if err != nil {
					if eb.fail(fmt.Errorf("BatchReceiveMessage: %w", err)) {
						return
					}
				} else {
					eb.ok()
				}
				c.received.Add(int64(len(msgs)))
				for i := range msgs {
					if !deleteOne(q, messageType, &msgs[i], c, eb) {
						return
					}
				}
				time.Sleep(pause)
			}
		})
	}
	wg.Wait()
	return c.err()
}

// javaPuller is DefaultAlicomMessagePuller of the Java SDK for Alicom messages: one pull
// thread with one cached token batch-receives 16 (the queue's default wait, 0 on Alicom's queues)
// and hands each message to a thread pool (at most 16 threads, a queue of 200); each task
// handles its message and deletes it with a request of its own. The model is generous to Java:
// it runs all 16 threads from the start and the pull thread waits when the pool's queue is full,
// where the Java pool starts with 6 threads and a full queue throws, which the puller answers
// with a 3 s sleep.
func javaPuller(addr, messageType, queueName string, until time.Time, c *counters) error {
	const workers = 16
	c.tokens.Add(1)
	tok, err := fetchToken(addr, messageType)
	if err != nil {
		return err
	}
	// One CloudQueue for the puller and every task: one client, a connection for each.
	client, err := newSDKClient(addr, tok, workers+1)
	if err != nil {
		return err
	}
	defer client.Conns.CloseIdleConnections()
	tasks := make(chan ali_mns.MessageReceiveResponse, javaPoolQueue)
	var (
		wg     sync.WaitGroup
		failed atomic.Bool
	)
	for range workers {
		wg.Go(func() {
			// A queue handle per goroutine: the SDK's handle carries a QPS monitor that is not
			// safe for concurrent use (Java's CloudQueue is).
			q := ali_mns.NewMNSQueue(queueName, client.MNSClient)
			eb := &errorBudget{c: c}
			for m := range tasks {
				if !failed.Load() && !deleteOne(q, messageType, &m, c, eb) {
					failed.Store(true)
				}
			}
		})
	}
	q := ali_mns.NewMNSQueue(queueName, client.MNSClient)
	eb := &errorBudget{c: c}
	for time.Now().Before(until) && !failed.Load() {
		c.receives.Add(1)
		msgs, err := receiveBatch(q, 16, 0)
		if isEmpty(err) {
			break
		}
		if err != nil {
			if eb.fail(fmt.Errorf("BatchReceiveMessage: %w", err)) {
				break
			}
			continue
		}
		eb.ok()
		c.received.Add(int64(len(msgs)))
		for _, m := range msgs {
			tasks <- m
		}
	}
	close(tasks)
	wg.Wait()
	return c.err()
}

// baselineFunc drains one queue until the deadline or its first empty receive.
type baselineFunc func(addr, messageType, queueName string, until time.Time, c *counters) error

// runBaseline runs a baseline over every queue of f in turn, giving each an equal share of
// budget, and returns what it did.
func runBaseline(f *fixture, fn baselineFunc, budget time.Duration) (loopResult, error) {
	c := &counters{}
	share := budget / time.Duration(len(f.types))
	var lr loopResult
	var err error
	for _, t := range f.types {
		start := time.Now()
		c.lastDelete.Store(0)
		err = fn(f.srv.Addr(), t, f.queueName(t), start.Add(share), c)
		lr.wall += time.Since(start)
		if last := c.lastDelete.Load(); last > 0 {
			lr.steady += time.Unix(0, last).Sub(start)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", t, err)
			break
		}
	}
	lr.receives, lr.deletes, lr.tokens = c.receives.Load(), c.deletes.Load(), c.tokens.Load()
	lr.requests = lr.receives + lr.deletes
	lr.received, lr.deleted, lr.failed = c.received.Load(), c.deleted.Load(), c.failed.Load()
	switch {
	case err != nil:
		return lr, err
	case c.err() != nil:
		return lr, c.err()
	case lr.deleted == 0:
		return lr, errors.New("deleted no message")
	}
	return lr, nil
}
