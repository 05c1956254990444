package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// The network floor. Issue 12 bounds the client's CPU per message; part of it is not the
// client's work but the operating system's: two HTTP requests per 16 messages (a receive and a
// delete) cost system calls, loopback TCP and thread wake-ups whatever the client does between
// them. The floor is that part alone, measured like the warm instance: the bench process sends
// the drain's request pattern (per queue, the default number of receivers, each a receive
// answered with a 16-message body of the emulator's size, then a delete of 16 receipt handles)
// to a child process that answers after the round trip, with no signing, decoding, dispatch or
// drain in between. What a warm instance spends above it is the client's own work.

// handlerFloor names the floor's row in the warm table.
const handlerFloor = "network floor (requests only)"

// cannedReceiveBody stands in for a 16-message BatchReceiveMessage answer of the emulator's
// size (about 1 KB a message with Alicom's bodies).
var cannedReceiveBody = strings.Repeat("x", 16*1000)

// serveCanned answers every GET with cannedReceiveBody and every other request with 204, each
// after rtt, and writes its URL as the first line of out; it returns when in ends.
func serveCanned(rtt time.Duration, in io.Reader, out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(rtt)
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(cannedReceiveBody))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	if _, err := fmt.Fprintln(out, "http://"+ln.Addr().String()); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, in)
	return err
}

// measureFloor sends the drain's request pattern for s.WarmBacklog messages, s.WarmInvocations
// times, to a canned child at rtt, with the bench process's CPU time taken around each time.
func measureFloor(ctx context.Context, s settings, rtt time.Duration) (warmRow, error) {
	em, err := startEmulatorProcess(ctx, emulatorSpec{RTT: rtt, Canned: true})
	if err != nil {
		return warmRow{}, err
	}
	defer em.close()
	w := warmRow{Handler: handlerFloor, RTT: rtt, Receivers: defaultReceivers(), Backlog: int64(s.WarmBacklog)}
	hc := &fasthttp.HostClient{Addr: strings.TrimPrefix(em.url, "http://"), MaxConns: 16}
	defer hc.CloseIdleConnections()
	loops := w.Receivers * len(s.Types)
	handles := []byte(strings.Repeat("<ReceiptHandle>5F290C926D472878-2-14D9529A8FA-200000001-1dQ+bX/9==</ReceiptHandle>", 16))
	settle()
	for range s.WarmInvocations {
		batches := (s.WarmBacklog + 15) / 16
		var (
			mu       sync.Mutex
			wg       sync.WaitGroup
			firstErr error
		)
		start, cpu := time.Now(), processCPU()
		for range loops {
			wg.Go(func() {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				for {
					mu.Lock()
					if batches == 0 || firstErr != nil {
						mu.Unlock()
						return
					}
					batches--
					mu.Unlock()
					err := floorRequest(hc, req, resp, em.url+"/queues/q/messages?numOfMessages=16&waitseconds=0", fasthttp.MethodGet, nil)
					if err == nil {
						err = floorRequest(hc, req, resp, em.url+"/queues/q/messages", fasthttp.MethodDelete, handles)
					}
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		if firstErr != nil {
			return w, firstErr
		}
		n := int64((s.WarmBacklog + 15) / 16)
		w.Invocations = append(w.Invocations, warmInvocation{
			CPU: processCPU() - cpu, Wall: time.Since(start), Messages: int64(s.WarmBacklog), MNSRequests: 2 * n,
		})
	}
	return w, nil
}

func floorRequest(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, url, method string, body []byte) error {
	req.Reset()
	req.SetRequestURI(url)
	req.Header.SetMethod(method)
	req.SetBody(body)
	if err := hc.Do(req, resp); err != nil {
		return fmt.Errorf("network floor: %s: %w", method, err)
	}
	if c := resp.StatusCode(); c != fasthttp.StatusOK && c != fasthttp.StatusNoContent {
		return fmt.Errorf("network floor: %s: status %d", method, c)
	}
	return nil
}
