// Command testfunc is the drain function with misbehaving handlers, for the chaos matrix only
// (cmd/chaos): shared/app.Main wired as functions/alicom-drain is, with one handler for every
// configured message type chosen by CHAOS_HANDLER:
//
//	ok         record the message and succeed
//	fail       fail the first two deliveries, then record and succeed
//	panic      panic on the first delivery
//	goexit     call runtime.Goexit on the first delivery, as t.FailNow-style helpers do
//	hang       block on the first delivery until the context ends, then return its error
//	ignorectx  sleep CHAOS_SLEEP on the first delivery, ignoring the context
//	slow       sleep CHAOS_SLEEP (honouring the context) on the first delivery
//
// CHAOS_EVERY=N limits the misbehaviour to about one message in N (by message id). A handled
// message is recorded as the log sink records it: one JSON line "alicom message" with its
// message_id, on stderr.
package main

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/alicom-drain/alicom-drain/shared/app"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

func main() {
	mode := os.Getenv("CHAOS_HANDLER")
	every, _ := strconv.Atoi(os.Getenv("CHAOS_EVERY"))
	sleep, _ := time.ParseDuration(os.Getenv("CHAOS_SLEEP"))
	record := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	types := strings.Split(os.Getenv("ALICOM_MESSAGE_TYPES"), ",")
	h := handler(mode, max(every, 1), sleep, record)
	app.Main(func(r *dispatch.Router) {
		for _, t := range types {
			if t = strings.TrimSpace(t); t != "" {
				r.Handle(t, h)
			}
		}
	})
}

func handler(mode string, every int, sleep time.Duration, record *slog.Logger) dispatch.HandlerFunc {
	return func(ctx context.Context, m *dispatch.Message) error {
		chosen := pick(m.ID, every)
		first := m.DequeueCount <= 1
		switch {
		case mode == "fail" && chosen && m.DequeueCount <= 2:
			return errors.New("chaos: this handler fails the first two deliveries")
		case mode == "panic" && chosen && first:
			panic("chaos: this handler panics on the first delivery")
		case mode == "goexit" && chosen && first:
			runtime.Goexit()
		case mode == "hang" && chosen && first:
			<-ctx.Done()
			return ctx.Err()
		case mode == "ignorectx" && chosen && first:
			time.Sleep(sleep)
		case mode == "slow" && chosen && first:
			t := time.NewTimer(sleep)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		record.LogAttrs(ctx, slog.LevelInfo, "alicom message",
			slog.String("message_type", m.Type), slog.String("message_id", m.ID), slog.Int64("dequeue_count", m.DequeueCount))
		return nil
	}
}

// pick chooses about one message id in every.
func pick(id string, every int) bool {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()%uint32(every) == 0
}
