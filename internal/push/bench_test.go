package push_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/alicompush"
	"github.com/alicom-drain/alicom-drain/internal/push"
	"github.com/alicom-drain/alicom-drain/internal/sink"
	"github.com/alicom-drain/alicom-drain/shared/dispatch"
)

// BenchmarkAlicomPush16Items measures the answer time of a 16-item SmsReport batch posted
// over loopback HTTP to the push handler, every item new (no duplicates), handled by the log
// sink writing JSON lines. It reports the p50 and p99 answer times: Alicom waits 700 ms.
func BenchmarkAlicomPush16Items(b *testing.B) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	router, err := dispatch.NewRouter(dispatch.Options{Fallback: sink.Log(logger), DeadLetter: sink.DeadLetterLog(logger)})
	if err != nil {
		b.Fatal(err)
	}
	h, err := push.New(push.Config{Alicom: alicompush.Config{Token: token}}, router, logger)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()
	url := srv.URL + "/alicom/SmsReport?token=" + token
	batch := func(n int) string {
		items := make([]string, 16)
		for i := range items {
			items[i] = fmt.Sprintf(`{"phone_number":"1300000%04d","send_time":"2017-01-01 11:12:13","report_time":"2017-01-01 11:12:14","success":true,"err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1","biz_id":"%d^0","out_id":"o-%d"}`, i, n, n)
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		body := batch(n)
		b.StartTimer()
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json;charset=utf-8")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		times = append(times, time.Since(start))
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds()), "p99-µs")
}
