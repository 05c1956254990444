package mnslocal

import (
	"fmt"
	"testing"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

// BenchmarkBatchReceiveDelete16 measures the emulator's own throughput: one iteration is
// a BatchReceiveMessage of 16 plus a BatchDeleteMessage of the 16 handles, through the
// real MNS Go SDK over loopback HTTP. "serial" is one consumer; "parallel" runs
// GOMAXPROCS×4 consumers, each with its own SDK client, on one queue.
func BenchmarkBatchReceiveDelete16(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			srv := newTestServer(b, Config{Queues: []string{"bench"}, MessageTypes: []string{}})
			body := `{"phone_number":"13000000000","success":true,"biz_id":"12345^0","out_id":"x","send_time":"2026-01-01 00:00:00","report_time":"2026-01-01 00:00:01","err_code":"DELIVERED","err_msg":"ok","sms_size":"1"}`
			for i := range b.N * 16 {
				if _, err := srv.SendMessage("bench", fmt.Sprint(i, body)); err != nil {
					b.Fatal(err)
				}
			}
			consume := func(q ali_mns.AliMNSQueue) error {
				got, err := receive(q, 16, 0)
				if err != nil {
					return err
				}
				hs := make([]string, len(got.Messages))
				for i, m := range got.Messages {
					hs[i] = m.ReceiptHandle
				}
				_, err = q.BatchDeleteMessage(hs...)
				return err
			}
			b.ReportAllocs()
			b.ResetTimer()
			if mode == "serial" {
				q := ali_mns.NewMNSQueue("bench", customerClient(b, srv))
				for range b.N {
					if err := consume(q); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					q := ali_mns.NewMNSQueue("bench", customerClient(b, srv))
					for pb.Next() {
						if err := consume(q); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*16)/b.Elapsed().Seconds(), "msgs/s")
			if st := srv.Stats().Queues["bench"]; st.Deleted != int64(b.N*16) {
				b.Fatalf("deleted %d of %d messages", st.Deleted, b.N*16)
			}
		})
	}
}
