package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/drain"
	"github.com/alicom-drain/alicom-drain/internal/queue"
	"github.com/alicom-drain/alicom-drain/internal/queue/mnsqueue"
	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// loopResult is what one variant did in one run, by its own count.
type loopResult struct {
	requests, tokens           int64 // MNS and token requests it made
	receives, deletes          int64 // of those MNS requests (baselines only)
	received, deleted, failed  int64 // messages
	deadLettered, deleteFailed int64 // ours only
	// steady runs from the start of each queue's drain to its last completed delete, summed
	// over the queues: the time the messages took. wall runs to the loop's return, so it also
	// holds the final empty receive (for ours with its long-poll wait).
	steady, wall time.Duration
}

// discard is the logger of every component under measurement: the bench measures the drain,
// not log output.
var discard = slog.New(slog.DiscardHandler)

// timedQueue passes everything to the real queue and notes when the latest delete completed,
// so that the drain's throughput does not include its final long poll on the empty queue.
type timedQueue struct {
	queue.Queue
	lastDelete atomic.Int64
}

func (q *timedQueue) Delete(ctx context.Context, handles []string) ([]queue.DeleteFailure, error) {
	failed, err := q.Queue.Delete(ctx, handles)
	if err == nil && len(failed) < len(handles) {
		storeMax(&q.lastDelete, time.Now().UnixNano())
	}
	return failed, err
}

// newBenchRouter is a real dispatch.Router with the product's default options and a no-op
// handler for every type: decode (MD5, base64, typed JSON), deduplication, recovery and the
// handler timeout all run; the handler itself does nothing.
func newBenchRouter() (*dispatch.Router, error) {
	return dispatch.NewRouter(dispatch.Options{
		Fallback:   func(context.Context, *dispatch.Message) error { return nil },
		DeadLetter: func(context.Context, *dispatch.Message, error) error { return nil },
	})
}

// runOurs drains every queue of f with the product's drain core, one queue after the other,
// wired as shared/app wires it: mnsqueue.New over the SDK, signed with the token cache's
// credentials (Dybaseapi on the emulator), into a dispatch.Router. Options are
// drain.DefaultOptions with Receivers set.
func runOurs(ctx context.Context, f *fixture, receivers int) (loopResult, error) {
	var lr loopResult
	fetcher, err := token.NewDybaseapi(token.DybaseapiConfig{
		Endpoint:    f.srv.URL(),
		Credentials: token.StaticSource(token.Credentials{AccessKeyID: benchKeyID, AccessKeySecret: benchKeySecret}),
	})
	if err != nil {
		return lr, err
	}
	cache, err := token.NewCache(fetcher, token.CacheOptions{Logger: discard})
	if err != nil {
		return lr, err
	}
	router, err := newBenchRouter()
	if err != nil {
		return lr, err
	}
	opts := drain.DefaultOptions()
	opts.Receivers = receivers
	opts.Logger = discard
	for _, t := range f.types {
		name := f.queueName(t)
		q, err := mnsqueue.New(mnsqueue.Config{
			Endpoint: f.srv.URL(), QueueName: name, Credentials: cache.ForQueue(t, name),
			// What app.Drain gives each queue.
			RequestTimeout: opts.Wait + 10*time.Second, MaxConns: 2 * receivers, Logger: discard,
		})
		if err != nil {
			return lr, err
		}
		tq := &timedQueue{Queue: q}
		start := time.Now()
		res, err := drain.Run(ctx, []drain.Source{{Queue: tq, MessageType: t}}, router, opts)
		lr.wall += time.Since(start)
		if err != nil {
			return lr, err
		}
		rep := res.Queues[0]
		if rep.Stop != drain.StopEmpty {
			return lr, fmt.Errorf("%s: drain stopped for %q (%s), not because the queue was empty", name, rep.Stop, rep.Error)
		}
		if last := tq.lastDelete.Load(); last > 0 {
			lr.steady += time.Unix(0, last).Sub(start)
		}
		lr.received += rep.Received
		lr.deleted += rep.Deleted
		lr.failed += rep.Failed
		lr.deadLettered += rep.DeadLettered
		lr.deleteFailed += rep.DeleteFailed
		// The drain counts receives and deletes together.
		lr.requests += rep.Requests
	}
	lr.tokens = cache.Fetches()
	return lr, nil
}
