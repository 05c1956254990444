package drain

import (
	"context"
	"encoding/base64"
	"sync"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/queue/memqueue"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// On a message's last allowed delivery a handler that runs out of time must still leave a
// record: the drain's handler timeout bounds the handler, not the Router's dead-letter write
// after it, whether the handler gives up when its context ends or ignores it.
func TestAHandlerThatRunsOutOfTimeOnTheLastDeliveryIsDeadLettered(t *testing.T) {
	tests := []struct {
		name    string
		handler func(release <-chan struct{}) dispatch.HandlerFunc
	}{
		{name: "a handler that gives up when its context ends",
			handler: func(<-chan struct{}) dispatch.HandlerFunc {
				return func(ctx context.Context, _ *dispatch.Message) error {
					<-ctx.Done()
					return ctx.Err()
				}
			}},
		{name: "a handler that ignores its context",
			handler: func(release <-chan struct{}) dispatch.HandlerFunc {
				return func(context.Context, *dispatch.Message) error {
					<-release
					return nil
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			var (
				mu       sync.Mutex
				recorded []string
			)
			const timeout = 200 * time.Millisecond
			r, err := dispatch.NewRouter(dispatch.Options{
				MaxAttempts: 1, HandlerTimeout: timeout,
				DeadLetter: func(ctx context.Context, m *dispatch.Message, _ error) error {
					if err := ctx.Err(); err != nil {
						return err // a sink writing with a context that has ended fails
					}
					mu.Lock()
					defer mu.Unlock()
					recorded = append(recorded, m.ID)
					return nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			r.Handle("SmsReport", tt.handler(release))
			q := &observed{Queue: memqueue.New("test-queue", memqueue.Options{})}
			id := q.Send(base64.StdEncoding.EncodeToString([]byte(`{"phone_number":"13000000000","success":true,"biz_id":"1","out_id":"","send_time":"2017-06-01 10:00:00","report_time":"2017-06-01 10:00:05","err_code":"DELIVERED","err_msg":"","sms_size":"1"}`)))
			o := testOptions()
			o.HandlerTimeout = timeout
			var rep Report
			within(t, 20*time.Second, func() { rep = runOne(t, context.Background(), q, r, o) })
			mu.Lock()
			defer mu.Unlock()
			if rep.DeadLettered != 1 || rep.Deleted != 1 || len(recorded) != 1 || recorded[0] != id || q.Len() != 0 {
				t.Fatalf("report %+v, recorded %v, %d left in the queue: want the message dead-lettered, recorded and deleted", rep, recorded, q.Len())
			}
		})
	}
}
