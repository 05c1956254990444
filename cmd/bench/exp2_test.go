package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/queue"
	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

func TestExp2(t *testing.T) {
	samples, _ := loadSamples("../../events/messages", []string{"SmsReport"})
	f, _ := newFixture(10*time.Millisecond, 5000, []string{"SmsReport"}, samples)
	defer f.close()
	name := f.queueName("SmsReport")
	tok, _ := fetchToken(f.srv.Addr(), "SmsReport")
	q, _ := queue.NewMNS(queue.MNSConfig{Endpoint: f.srv.URL(), QueueName: name, Credentials: queue.StaticCredentials{AccessKeyID: tok.id, AccessKeySecret: tok.secret, SecurityToken: tok.token}, Logger: discard})
	ctx := context.Background()
	for _, n := range []int{1, 16} {
		t0 := time.Now()
		for range 30 {
			if _, err := q.Receive(ctx, n, 0); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Printf("NewMNS receive %d: %v\n", n, time.Since(t0)/30)
	}
	raw := ali_mns.NewMNSQueue(name, newSDKClient(f.srv.Addr(), tok, 1))
	t0 := time.Now()
	for range 30 {
		if _, err := receiveBatch(raw, 16, 0); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("raw SDK receive 16: %v\n", time.Since(t0)/30)
	f.srv.SetLatency(0, 0)
	t0 = time.Now()
	for range 30 {
		if _, err := receiveBatch(raw, 16, 0); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("raw SDK receive 16 at 0 latency: %v\n", time.Since(t0)/30)
}
