package alicom

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// benchBodies are the fixtures as Alicom sends them: compact JSON, standard base64, with the
// MD5 MNS reports.
func benchBodies(b *testing.B) []fixture {
	var out []fixture
	for _, f := range loadFixtures(b) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, f.json); err != nil {
			b.Fatal(err)
		}
		f.json = buf.Bytes()
		out = append(out, f)
	}
	return out
}

// BenchmarkDecode measures Decode (MD5 check, base64, JSON into the typed value) per sample.
func BenchmarkDecode(b *testing.B) {
	for _, f := range benchBodies(b) {
		body := base64.StdEncoding.EncodeToString(f.json)
		sum := md5Hex(body)
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, _, err := Decode(f.typ, body, sum); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeBody measures the body step alone (MD5, base64, JSON validation) for the
// plain SmsReport sample.
func BenchmarkDecodeBody(b *testing.B) {
	for _, f := range benchBodies(b) {
		if f.name != TypeSmsReport {
			continue
		}
		body := base64.StdEncoding.EncodeToString(f.json)
		sum := md5Hex(body)
		b.Run("with MD5", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeBody(body, sum); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("without MD5", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeBody(body, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseSmsReport measures Parse alone (encoding/json into SmsReport) on a compact
// receipt.
func BenchmarkParseSmsReport(b *testing.B) {
	data := []byte(smsReportJSON)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(TypeSmsReport, data); err != nil {
			b.Fatal(err)
		}
	}
}
