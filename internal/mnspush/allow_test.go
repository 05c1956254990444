package mnspush

import (
	"errors"
	"testing"
)

func TestCertificateURLsAreCheckedPartByPart(t *testing.T) {
	def, err := ParseCertURLAllow(DefaultCertURLAllow)
	if err != nil {
		t.Fatal(err)
	}
	local, err := ParseCertURLAllow("http://127.0.0.1:9911/_mnslocal/, https://certs.example.com/mns/x509.pem")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		rules []CertURLRule
		url   string
		want  string // canonical URL, or "" when refused
	}{
		{"the documented MNS certificate is allowed", def, "https://mnstest.oss-cn-hangzhou.aliyuncs.com/x509_public_certificate.pem", "https://mnstest.oss-cn-hangzhou.aliyuncs.com/x509_public_certificate.pem"},
		{"host case does not matter", def, "https://MNSTEST.oss-cn-hangzhou.aliyuncs.com/x.pem", "https://mnstest.oss-cn-hangzhou.aliyuncs.com/x.pem"},
		{"the scheme's default port spelled out is the same port", def, "https://mnstest.oss-cn-hangzhou.aliyuncs.com:443/x.pem", "https://mnstest.oss-cn-hangzhou.aliyuncs.com:443/x.pem"},
		{"a host that merely starts with the allowed one is refused", def, "https://mnstest.oss-cn-hangzhou.aliyuncs.com.evil.example/x.pem", ""},
		{"user info before the real host is refused", def, "https://mnstest.oss-cn-hangzhou.aliyuncs.com@evil.example/x.pem", ""},
		{"user info and port before the real host is refused", def, "https://mnstest.oss-cn-hangzhou.aliyuncs.com:443@evil.example/x.pem", ""},
		{"user info with the allowed host is refused too", def, "https://u:p@mnstest.oss-cn-hangzhou.aliyuncs.com/x.pem", ""},
		{"http instead of https is refused", def, "http://mnstest.oss-cn-hangzhou.aliyuncs.com/x.pem", ""},
		{"another port is refused", def, "https://mnstest.oss-cn-hangzhou.aliyuncs.com:8443/x.pem", ""},
		{"a trailing dot on the host is refused", def, "https://mnstest.oss-cn-hangzhou.aliyuncs.com./x.pem", ""},
		{"a fragment hiding the allowed host is refused", def, "https://evil.example/#@mnstest.oss-cn-hangzhou.aliyuncs.com/", ""},
		{"a backslash trick is refused", def, "https://evil.example\\@mnstest.oss-cn-hangzhou.aliyuncs.com/", ""},
		{"a scheme-relative URL is refused", def, "//mnstest.oss-cn-hangzhou.aliyuncs.com/x.pem", ""},
		{"a query is refused", def, "https://mnstest.oss-cn-hangzhou.aliyuncs.com/x.pem?redirect=evil", ""},
		{"dot segments are refused", local, "http://127.0.0.1:9911/_mnslocal/../admin", ""},
		{"escaped slashes are refused", local, "http://127.0.0.1:9911/_mnslocal/%2e%2e%2fadmin", ""},
		{"an empty URL is refused", def, "", ""},
		{"garbage is refused", def, "\x00\x7f%zz", ""},
		{"the emulator's certificate is allowed when listed", local, "http://127.0.0.1:9911/_mnslocal/cert.pem", "http://127.0.0.1:9911/_mnslocal/cert.pem"},
		{"a path outside the prefix is refused", local, "http://127.0.0.1:9911/queues/x", ""},
		{"the emulator on another port is refused", local, "http://127.0.0.1:9912/_mnslocal/cert.pem", ""},
		{"localhost is not 127.0.0.1", local, "http://localhost:9911/_mnslocal/cert.pem", ""},
		{"a second rule is honoured", local, "https://certs.example.com/mns/x509.pem", "https://certs.example.com/mns/x509.pem"},
		{"a file prefix is a string prefix of the path", local, "https://certs.example.com/mns/x509.pem.evil", "https://certs.example.com/mns/x509.pem.evil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkCertURL(tt.url, tt.rules)
			if tt.want == "" {
				if err == nil || !errors.Is(err, ErrCertURLNotAllowed) {
					t.Fatalf("checkCertURL(%q) = %q, %v; want ErrCertURLNotAllowed", tt.url, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("checkCertURL(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
			}
		})
	}
}

func TestAllowListEntriesAreValidated(t *testing.T) {
	bad := []string{
		"", " , ", "ftp://mnstest.oss-cn-hangzhou.aliyuncs.com/", "mnstest.oss-cn-hangzhou.aliyuncs.com",
		"https://u@host/", "https://host/?q=1", "https:///path", "https://host/a/../b",
	}
	for _, s := range bad {
		if _, err := ParseCertURLAllow(s); err == nil {
			t.Errorf("ParseCertURLAllow(%q) accepted a bad list", s)
		}
	}
	rules, err := ParseCertURLAllow("https://Host.Example:8443/certs/,http://127.0.0.1:9911")
	if err != nil {
		t.Fatal(err)
	}
	if got := rules[0].String(); got != "https://host.example:8443/certs/" {
		t.Errorf("rule 0 = %q", got)
	}
	if got := rules[1].String(); got != "http://127.0.0.1:9911/" {
		t.Errorf("rule 1 = %q", got)
	}
}
