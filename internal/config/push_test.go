package config

import (
	"strings"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/mnspush"
)

func TestLoadPushWithNothingSetGivesTheDocumentedDefaults(t *testing.T) {
	c, err := LoadPush(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.AlicomToken != "" || c.AlicomBudget != 500*time.Millisecond || c.AlicomMaxBody != 1<<20 ||
		c.AlicomFinalDelivery != 4 || c.MaxConcurrent != 16 {
		t.Errorf("alicom settings = %+v", c)
	}
	if len(c.MNSCertURLAllow) != 1 || c.MNSCertURLAllow[0].String() != mnspush.DefaultCertURLAllow ||
		c.MNSDateWindow != 15*time.Minute || c.MNSCertFetchTimeout != 5*time.Second ||
		c.MNSSuccessStatus != 201 || c.MNSFormat != mnspush.FormatAuto || c.MNSHandlerTimeout != 4*time.Second {
		t.Errorf("mns settings = %+v", c)
	}
	for _, v := range pushVars {
		if v.Name == "" || v.Meaning == "" {
			t.Errorf("variable %+v is undocumented", v)
		}
	}
}

func TestLoadPushReadsEveryVariable(t *testing.T) {
	c, err := LoadPush(env(map[string]string{
		"ALICOM_PUSH_TOKEN":          "0123456789abcdef-XYZ",
		"ALICOM_PUSH_BUDGET":         "300ms",
		"ALICOM_PUSH_MAX_BODY":       "65536",
		"ALICOM_PUSH_FINAL_DELIVERY": "10",
		"MNS_CERT_URL_ALLOW":         "http://127.0.0.1:9911/_mnslocal/",
		"MNS_PUSH_DATE_WINDOW":       "2m",
		"MNS_CERT_FETCH_TIMEOUT":     "1s",
		"MNS_PUSH_SUCCESS_STATUS":    "204",
		"MNS_PUSH_FORMAT":            "simplified",
		"MNS_PUSH_HANDLER_TIMEOUT":   "3s",
		"ALICOM_PUSH_MESSAGE_TYPE":   "SmsReport",
		"PUSH_MAX_CONCURRENT":        "4",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AlicomToken != "0123456789abcdef-XYZ" || c.AlicomBudget != 300*time.Millisecond || c.AlicomMaxBody != 65536 ||
		c.AlicomFinalDelivery != 10 || len(c.MNSCertURLAllow) != 1 || c.MNSCertURLAllow[0].Port != "9911" ||
		c.MNSDateWindow != 2*time.Minute || c.MNSCertFetchTimeout != time.Second || c.MNSSuccessStatus != 204 ||
		c.MNSFormat != mnspush.FormatSimplified || c.MNSHandlerTimeout != 3*time.Second ||
		c.MNSDefaultMessageType != "SmsReport" || c.MaxConcurrent != 4 {
		t.Errorf("config %+v", c)
	}
}

func TestLoadPushNamesEveryWrongVariable(t *testing.T) {
	bad := map[string]string{
		"ALICOM_PUSH_TOKEN":          "short",
		"ALICOM_PUSH_BUDGET":         "700ms",
		"ALICOM_PUSH_MAX_BODY":       "100000000",
		"ALICOM_PUSH_FINAL_DELIVERY": "0",
		"MNS_CERT_URL_ALLOW":         "https://a@b/",
		"MNS_PUSH_DATE_WINDOW":       "soon",
		"MNS_PUSH_SUCCESS_STATUS":    "202",
		"MNS_PUSH_FORMAT":            "yaml",
		"MNS_PUSH_HANDLER_TIMEOUT":   "5s",
		"ALICOM_PUSH_MESSAGE_TYPE":   "Sms Report",
		"PUSH_MAX_CONCURRENT":        "0",
	}
	for k, v := range bad {
		t.Run(k, func(t *testing.T) {
			_, err := LoadPush(env(map[string]string{k: v}))
			if err == nil || !strings.HasPrefix(err.Error(), k+": ") || !strings.Contains(err.Error(), "expected") {
				t.Errorf("%s=%q: error %v should name the variable and what is expected", k, v, err)
			}
		})
	}
}

func TestAWrongPushTokenIsNeverShownInTheError(t *testing.T) {
	secret := "my secret token with spaces"
	_, err := LoadPush(env(map[string]string{"ALICOM_PUSH_TOKEN": secret}))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error %v must refuse the token without showing it", err)
	}
	c, _ := LoadPush(env(map[string]string{"ALICOM_PUSH_TOKEN": "0123456789abcdef"}))
	if strings.Contains(c.String(), "0123456789abcdef") {
		t.Errorf("String() shows the token: %s", c)
	}
}
