package config

import (
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary values to every variable Load reads. Whatever the input, Load must
// not panic, must name a variable in each problem it reports, and must return a configuration
// whose limits hold when it reports none.
func FuzzLoad(f *testing.F) {
	f.Add("SmsReport,SmsUp", "1234567890123456", "SmsUp=Q", "http://127.0.0.1:9911", "4", "16", "1", "10s", "auto", "info")
	f.Add("smsreport", "12ab", "SmsReport", "localhost:9911", "0", "17", "31", "10", "soon", "loud")
	f.Add(" , ", "", "=,=", "https://u:p@x/", "-1", "", "", "0", "0", "")
	f.Add("Bogus,SmsRepot", "0", "Bogus=A-b", "https://example.com/?q", "64", "1", "30", "1h", "5s", "DEBUG")
	// Valid throughout (the level "" is the one value both LOG_LEVEL and ALICOM_REGION take), so
	// the limits below are checked, with the automatic margin (0).
	f.Add("SmsReport", "123", "", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, types, uid, queues, endpoint, receivers, batch, wait, handlerTimeout, margin, level string) {
		vars := map[string]string{
			"ALICOM_MESSAGE_TYPES": types, "ALICOM_ACCOUNT_UID": uid, "ALICOM_QUEUE_NAMES": queues,
			"ALICOM_MNS_ENDPOINT": endpoint, "ALICOM_DYBASEAPI_ENDPOINT": endpoint, "ALICOM_REGION": level,
			"DRAIN_RECEIVERS": receivers, "DRAIN_BATCH_SIZE": batch, "DRAIN_WAIT_SECONDS": wait,
			"DRAIN_MAX_MESSAGES": receivers, "DRAIN_MAX_DURATION": handlerTimeout, "DRAIN_DEADLINE_MARGIN": margin,
			"DRAIN_MAX_ATTEMPTS": batch, "DRAIN_HANDLER_TIMEOUT": handlerTimeout, "TOKEN_REFRESH_BEFORE": margin,
			"LOG_LEVEL": level, EnvCredentialsSecret: uid,
		}
		c, err := Load(func(k string) string { return vars[k] })
		for _, ve := range VarErrors(err) {
			if ve.Name == "" || !strings.Contains(ve.Problem, "expected") {
				t.Fatalf("problem without a variable or an expectation: %+v", ve)
			}
		}
		if err != nil {
			return
		}
		if len(c.MessageTypes) == 0 || c.Receivers < 1 || c.Receivers > 64 || c.BatchSize < 1 || c.BatchSize > 16 ||
			c.Wait < 0 || c.MaxAttempts < 1 || c.HandlerTimeout <= 0 || c.DeadlineMargin < 0 {
			t.Fatalf("Load accepted limits out of range: %+v", c)
		}
		for _, typ := range c.MessageTypes {
			if _, err := c.QueueName(typ, "1"); err != nil {
				t.Fatalf("QueueName(%s): %v", typ, err)
			}
		}
		_ = c.CheckOutsideFC()
	})
}
