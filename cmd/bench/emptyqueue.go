package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/internal/drain"
	"github.com/alicom-drain/alicom-drain/internal/platform"
	"github.com/alicom-drain/alicom-drain/internal/token"
	"github.com/alicom-drain/alicom-drain/shared/app"
)

// emptyRow is one invocation of the drain function's handler on an empty queue.
type emptyRow struct {
	Wait          time.Duration // DRAIN_WAIT_SECONDS
	Warm          bool          // a token was already cached by an earlier invocation
	MNSRequests   int64
	TokenRequests int64
	Ops           map[string]int64
	Wall          time.Duration
}

// measureEmpty runs the function's handler (app.New, Invoke) twice on an empty SmsReport queue
// for each long-poll wait: the first invocation of an instance (cold: the token is fetched) and
// the second (warm: the token is cached). Requests come from the emulator's counters.
func measureEmpty(rtt time.Duration, waits []time.Duration) ([]emptyRow, error) {
	var rows []emptyRow
	for _, wait := range waits {
		f, err := newFixture(rtt, 0, []string{"SmsReport"}, nil)
		if err != nil {
			return nil, err
		}
		rs, err := invokeEmpty(f, wait)
		f.close()
		if err != nil {
			return nil, fmt.Errorf("empty queue, wait %v: %w", wait, err)
		}
		rows = append(rows, rs...)
	}
	return rows, nil
}

func invokeEmpty(f *fixture, wait time.Duration) ([]emptyRow, error) {
	env := map[string]string{
		"ALICOM_MESSAGE_TYPES":      "SmsReport",
		"ALICOM_ACCOUNT_UID":        benchUID,
		"ALICOM_MNS_ENDPOINT":       f.srv.URL(),
		"ALICOM_DYBASEAPI_ENDPOINT": f.srv.URL(),
		"DRAIN_WAIT_SECONDS":        strconv.Itoa(int(wait / time.Second)),
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	router, err := app.NewRouter(cfg, discard)
	if err != nil {
		return nil, err
	}
	creds := token.StaticSource(token.Credentials{AccessKeyID: benchKeyID, AccessKeySecret: benchKeySecret})
	d, err := app.New(cfg, router, discard, creds)
	if err != nil {
		return nil, err
	}
	var rows []emptyRow
	for i, warm := range []bool{false, true} {
		f.srv.ResetStats()
		deadline := time.Now().Add(time.Minute)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		start := time.Now()
		out, err := d.Invoke(ctx, platform.Invocation{
			Platform: platform.Local, RequestID: "bench-empty-" + strconv.Itoa(i), Deadline: deadline,
		})
		wall := time.Since(start)
		cancel()
		if err != nil {
			return nil, err
		}
		rep, ok := out.(app.Report)
		if !ok || len(rep.Queues) != 1 || rep.Queues[0].Stop != drain.StopEmpty || rep.Queues[0].Received != 0 {
			return nil, fmt.Errorf("unexpected report %+v", out)
		}
		st := f.srv.Stats()
		rows = append(rows, emptyRow{
			Wait: wait, Warm: warm, MNSRequests: st.MNSRequests, TokenRequests: st.TokenRequests,
			Ops: st.Requests, Wall: wall,
		})
	}
	return rows, nil
}
