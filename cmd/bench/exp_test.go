package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/drain"
	"github.com/alicom-drain/alicom-drain/shared/queue"
)

type probeQueue struct {
	queue.Queue
	recvNs, delNs, recvN, delN atomic.Int64
	recvInflight, maxRecv        atomic.Int64
}

func (q *probeQueue) Receive(ctx context.Context, max int, wait time.Duration) ([]queue.Message, error) {
	n := q.recvInflight.Add(1)
	storeMax(&q.maxRecv, n)
	t := time.Now()
	m, err := q.Queue.Receive(ctx, max, wait)
	if err == nil {
		q.recvNs.Add(int64(time.Since(t)))
		q.recvN.Add(1)
	}
	q.recvInflight.Add(-1)
	return m, err
}
func (q *probeQueue) Delete(ctx context.Context, h []string) ([]queue.DeleteFailure, error) {
	t := time.Now()
	f, err := q.Queue.Delete(ctx, h)
	q.delNs.Add(int64(time.Since(t)))
	q.delN.Add(1)
	return f, err
}

func TestExp(t *testing.T) {
	samples, _ := loadSamples("../../events/messages", []string{"SmsReport"})
	for _, c := range []int{4, 8, 16} {
		f, _ := newFixture(10*time.Millisecond, 5000, []string{"SmsReport"}, samples)
		lr, q, err := runOursProbe(f, c)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("C=%d steady %v rate %.0f recv avg %v (n=%d) del avg %v (n=%d) avg recv inflight %.2f max %d\n", c, lr.steady, 5000/lr.steady.Seconds(),
			time.Duration(q.recvNs.Load()/q.recvN.Load()), q.recvN.Load(), time.Duration(q.delNs.Load()/q.delN.Load()), q.delN.Load(),
			float64(q.recvNs.Load())/float64(lr.steady), q.maxRecv.Load())
		f.close()
	}
}

func runOursProbe(f *fixture, receivers int) (loopResult, *probeQueue, error) {
	var lr loopResult
	router, _ := newBenchRouter()
	opts := drain.DefaultOptions()
	opts.Receivers = receivers
	opts.Logger = discard
	t := f.types[0]
	name := f.queueName(t)
	tok, _ := fetchToken(f.srv.Addr(), t)
	q, err := queue.NewMNS(queue.MNSConfig{Endpoint: f.srv.URL(), QueueName: name, Credentials: queue.StaticCredentials{AccessKeyID: tok.id, AccessKeySecret: tok.secret, SecurityToken: tok.token},
		RequestTimeout: opts.Wait + 10*time.Second, MaxConns: 2 * receivers, Logger: discard})
	if err != nil {
		return lr, nil, err
	}
	pq := &probeQueue{Queue: q}
	tq := &timedQueue{Queue: pq}
	start := time.Now()
	_, err = drain.Run(context.Background(), []drain.Source{{Queue: tq, MessageType: t}}, router, opts)
	lr.steady = time.Unix(0, tq.lastDelete.Load()).Sub(start)
	return lr, pq, err
}
