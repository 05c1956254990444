package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/events"
	"github.com/alicom-drain/alicom-drain/shared/alicom"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

// microRow is the client-side CPU cost of one step, per message.
type microRow struct {
	Step        string
	PerMsg      time.Duration
	AllocsPerOp int64 // per message
}

// measureMicro times, in this process, the client-side steps every message goes through:
// the SDK decoding a 16-message BatchReceiveMessage answer (captured from the emulator), and
// the handler work (alicom.Decode; the Router's decode + dispatch to a no-op handler).
func measureMicro(samples map[string][]events.Message, types []string) ([]microRow, error) {
	f, err := newFixture(0, 16, types[:1], samples)
	if err != nil {
		return nil, err
	}
	defer f.close()
	t := types[0]
	tok, err := fetchToken(f.srv.Addr(), t)
	if err != nil {
		return nil, err
	}
	client, err := newSDKClient(f.srv.Addr(), tok, 1)
	if err != nil {
		return nil, err
	}
	defer client.Conns.CloseIdleConnections()
	resp, err := client.Send(ali_mns.GET, nil, nil, "queues/"+f.queueName(t)+"/messages?numOfMessages=16")
	if err != nil {
		return nil, err
	}
	answer := append([]byte(nil), resp.Body()...)
	var batch ali_mns.BatchMessageReceiveResponse
	if err := ali_mns.NewAliMNSDecoder().Decode(bytes.NewReader(answer), &batch); err != nil || len(batch.Messages) != 16 {
		return nil, fmt.Errorf("decoding the captured answer: %v (%d messages)", err, len(batch.Messages))
	}
	msgs := batch.Messages
	router, err := newBenchRouter()
	if err != nil {
		return nil, err
	}
	var failure error
	perMsg := func(step string, n int, body func()) microRow {
		r := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				body()
			}
		})
		return microRow{Step: step, PerMsg: time.Duration(r.NsPerOp() / int64(n)), AllocsPerOp: r.AllocsPerOp() / int64(n)}
	}
	dec := ali_mns.NewAliMNSDecoder()
	rows := []microRow{
		perMsg("aliyun-mns-go-sdk's decoder (encoding/xml), which internal/queue/mnsqueue does not use: a 16-message BatchReceiveMessage answer", 16, func() {
			var r ali_mns.BatchMessageReceiveResponse
			if err := dec.Decode(bytes.NewReader(answer), &r); err != nil {
				failure = err
			}
		}),
		perMsg("alicom.Decode (MD5, base64, typed JSON)", len(msgs), func() {
			for i := range msgs {
				if _, _, err := alicom.Decode(t, msgs[i].MessageBody, msgs[i].MessageBodyMD5); err != nil {
					failure = err
				}
			}
		}),
	}
	ctx := context.Background()
	// More ids than the Router remembers, so that no dispatch is answered as a duplicate.
	ids := make([]string, 2*dispatch.DefaultDedupSize+1)
	for i := range ids {
		ids[i] = "0B2D3C3E5F6A7B8C-1-" + strconv.Itoa(i)
	}
	seq := 0
	rows = append(rows, perMsg("dispatch.Router.Dispatch (decode + middleware + dedup, no-op handler)", len(msgs), func() {
		for i := range msgs {
			seq = (seq + 1) % len(ids)
			m := dispatch.Message{
				ID: ids[seq], Type: t, Source: f.queueName(t),
				Body: msgs[i].MessageBody, BodyMD5: msgs[i].MessageBodyMD5, DequeueCount: 1,
			}
			if out, err := router.Dispatch(ctx, &m); out != dispatch.Handled {
				failure = fmt.Errorf("dispatch: %v %v", out, err)
			}
		}
	}))
	if failure != nil {
		return nil, failure
	}
	return rows, nil
}
