package push_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestHostileClientsKeepTheHeapSmall sends 300 concurrent 1 MiB requests that are not
// authentic (the load that drove the old endpoint to 618 MB) and checks that the heap stays
// far below the 128 MB the function is deployed with.
func TestHostileClientsKeepTheHeapSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 300 MiB over loopback")
	}
	f := newFixture(t, nil)
	payload := bytes.Repeat([]byte("A"), 1<<20) // shared by every client: only the server's memory counts
	forged := http.Header{
		"Authorization":          {base64.StdEncoding.EncodeToString([]byte("forged"))},
		"X-Mns-Signing-Cert-Url": {base64.StdEncoding.EncodeToString([]byte("https://mnstest.oss-cn-hangzhou.aliyuncs.com/x.pem"))},
		"Content-Md5":            {"00000000000000000000000000000000"},
		"Content-Type":           {"text/xml"},
	}
	for _, tc := range []struct {
		name    string
		path    string
		header  http.Header
		chunked bool
	}{
		{"alicom push with a wrong token", "/alicom/SmsReport?token=guess", http.Header{"Content-Type": {"application/json"}}, false},
		{"mns push without a signature", "/notifications", http.Header{"Content-Type": {"text/xml"}}, false},
		{"mns push with forged signature headers, chunked", "/notifications", forged, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			stop := make(chan struct{})
			peak := make(chan uint64)
			go func() {
				var max uint64
				var m runtime.MemStats
				tick := time.NewTicker(2 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						peak <- max
						return
					case <-tick.C:
						runtime.ReadMemStats(&m)
						if m.HeapInuse > max {
							max = m.HeapInuse
						}
					}
				}
			}()
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, DisableKeepAlives: true}, Timeout: 60 * time.Second}
			var wg sync.WaitGroup
			statuses := make(chan int, 300)
			for range 300 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var body = bytes.NewReader(payload)
					req, _ := http.NewRequest(http.MethodPost, f.srv.URL+tc.path, body)
					if tc.chunked {
						req, _ = http.NewRequest(http.MethodPost, f.srv.URL+tc.path, struct{ *bytes.Reader }{body})
						req.ContentLength = -1
					}
					for k, v := range tc.header {
						req.Header[k] = v
					}
					req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
					resp, err := client.Do(req)
					if err != nil {
						statuses <- 0 // the server answered and closed before the body was sent
						return
					}
					resp.Body.Close()
					statuses <- resp.StatusCode
				}()
			}
			wg.Wait()
			close(stop)
			max := <-peak
			close(statuses)
			counts := map[int]int{}
			for s := range statuses {
				counts[s]++
			}
			if counts[200]+counts[201] != 0 {
				t.Errorf("a hostile request was accepted: %v", counts)
			}
			growth := int64(max) - int64(base.HeapInuse)
			t.Logf("statuses %v; heap in use: %.1f MiB before, peak %.1f MiB (growth %.1f MiB)",
				counts, mib(base.HeapInuse), mib(max), float64(growth)/(1<<20))
			if max > 64<<20 {
				t.Errorf("peak heap %.1f MiB, want well under the function's 128 MB", mib(max))
			}
		})
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
