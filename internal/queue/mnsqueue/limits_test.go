package mnsqueue_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/queue"
	"github.com/alicom-drain/alicom-drain/internal/queue/mnsqueue"
)

// hugeReceiveAnswer streams size bytes of a receive answer's shape without holding them: the
// test server must not be what uses the memory under test.
func hugeReceiveAnswer(size int64, chunked bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml;charset=utf-8")
		if !chunked {
			w.Header().Set("Content-Length", fmt.Sprint(size))
		}
		w.WriteHeader(http.StatusOK)
		chunk := []byte("<Messages><Message><MessageBody>" + strings.Repeat("eyJ4IjoxfQ", 6<<10))
		for sent := int64(0); sent < size; {
			n := min(int64(len(chunk)), size-sent)
			if _, err := w.Write(chunk[:n]); err != nil {
				return // the client stopped reading, as it should
			}
			sent += n
		}
	}
}

func TestAnAnswerLargerThanTheLimitIsRefusedWithBoundedMemory(t *testing.T) {
	const size = 300 << 20
	for _, tt := range []struct {
		name    string
		chunked bool
	}{
		{"a 300 MB answer with its length announced", false},
		{"a 300 MB chunked answer", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(hugeReceiveAnswer(size, tt.chunked))
			t.Cleanup(srv.Close)
			q := newMNS(t, mnsqueue.Config{Endpoint: srv.URL, QueueName: "q", Credentials: customerKeys})
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := q.Receive(context.Background(), queue.MaxBatch, 0)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, queue.ErrTransport) || !strings.Contains(err.Error(), fmt.Sprintf("exceeds the %d-byte limit", mnsqueue.DefaultMaxResponseBytes)) {
				t.Fatalf("got %v, want ErrTransport naming the limit", err)
			}
			grew := after.TotalAlloc - before.TotalAlloc
			if grew > 32<<20 {
				t.Fatalf("the receive allocated %d MB for a refused answer", grew>>20)
			}
			t.Logf("allocated %d KiB while refusing a %d MB answer", grew>>10, size>>20)
			q.CloseIdleConnections()
		})
	}
	t.Run("a delete's answer is bounded too", func(t *testing.T) {
		srv := httptest.NewServer(hugeReceiveAnswer(size, true))
		t.Cleanup(srv.Close)
		q := newMNS(t, mnsqueue.Config{Endpoint: srv.URL, QueueName: "q", Credentials: customerKeys, MaxResponseBytes: 64 << 10})
		_, err := q.Delete(context.Background(), []string{"h"})
		if !errors.Is(err, queue.ErrTransport) || !strings.Contains(err.Error(), "exceeds the 65536-byte limit") {
			t.Fatalf("got %v, want ErrTransport naming the limit", err)
		}
	})
	t.Run("a full batch of the largest base64 messages fits the default limit", func(t *testing.T) {
		body := strings.Repeat("QUJD", 16<<10) // 64 KiB of base64
		msg := `<Message><MessageId>ID%d</MessageId><ReceiptHandle>ID%d-h</ReceiptHandle><MessageBodyMD5>00</MessageBodyMD5>` +
			`<MessageBody>` + body + `</MessageBody><EnqueueTime>1</EnqueueTime><NextVisibleTime>2</NextVisibleTime>` +
			`<FirstDequeueTime>1</FirstDequeueTime><DequeueCount>1</DequeueCount><Priority>8</Priority></Message>`
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Messages xmlns="http://mns.aliyuncs.com/doc/v1/">`)
		for i := range queue.MaxBatch {
			fmt.Fprintf(&b, msg, i, i)
		}
		b.WriteString(`</Messages>`)
		answer := b.String()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/xml;charset=utf-8")
			fmt.Fprint(w, answer)
		}))
		t.Cleanup(srv.Close)
		q := newMNS(t, mnsqueue.Config{Endpoint: srv.URL, QueueName: "q", Credentials: customerKeys, RequestTimeout: 10 * time.Second})
		msgs, err := q.Receive(context.Background(), queue.MaxBatch, 0)
		if err != nil || len(msgs) != queue.MaxBatch || msgs[15].Body != body {
			t.Fatalf("got %d messages, %v", len(msgs), err)
		}
	})
}
