package token

import (
	"testing"
	"time"
)

func TestParseAlicomTimeIsBeijingTimeWhateverTheLocalZone(t *testing.T) {
	if _, off := time.Now().Zone(); off == 8*3600 {
		t.Fatal("TestMain should have moved the local zone away from UTC+8")
	}
	tests := []struct {
		name string
		in   string
		want time.Time
	}{
		{name: "Dybaseapi's own format is UTC+8", in: "2026-11-22 10:30:00", want: time.Date(2026, 11, 22, 2, 30, 0, 0, time.UTC)},
		{name: "a time just after midnight in Beijing is the previous day in UTC", in: "2026-01-01 00:15:00", want: time.Date(2025, 12, 31, 16, 15, 0, 0, time.UTC)},
		{name: "surrounding blanks are tolerated", in: " 2026-11-22 10:30:00 ", want: time.Date(2026, 11, 22, 2, 30, 0, 0, time.UTC)},
		{name: "RFC 3339 keeps its own offset", in: "2026-11-22T02:30:00Z", want: time.Date(2026, 11, 22, 2, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAlicomTime(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Fatalf("ParseAlicomTime(%q) = %v, want %v", tt.in, got.UTC(), tt.want)
			}
		})
	}
	for _, bad := range []string{"", "2026/11/22 10:30:00", "tomorrow"} {
		if _, err := ParseAlicomTime(bad); err == nil {
			t.Errorf("ParseAlicomTime(%q) should fail", bad)
		}
	}
}
