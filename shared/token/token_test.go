package token

import (
	"testing"
	"time"
)

func TestParseAlicomTimeIsBeijingTimeWhateverTheLocalZone(t *testing.T) {
	saved := time.Local
	t.Cleanup(func() { time.Local = saved })
	for _, local := range []*time.Location{time.UTC, time.FixedZone("UTC-7", -7*3600), time.FixedZone("UTC+5:30", 5*3600+1800)} {
		time.Local = local
		tests := []struct {
			name string
			in   string
			want time.Time
		}{
			{name: "Dybaseapi's own format is UTC+8", in: "2026-11-22 10:30:00", want: time.Date(2026, 11, 22, 2, 30, 0, 0, time.UTC)},
			{name: "surrounding blanks are tolerated", in: " 2026-11-22 10:30:00 ", want: time.Date(2026, 11, 22, 2, 30, 0, 0, time.UTC)},
			{name: "RFC 3339 keeps its own offset", in: "2026-11-22T02:30:00Z", want: time.Date(2026, 11, 22, 2, 30, 0, 0, time.UTC)},
		}
		for _, tt := range tests {
			t.Run(local.String()+"/"+tt.name, func(t *testing.T) {
				got, err := ParseAlicomTime(tt.in)
				if err != nil {
					t.Fatal(err)
				}
				if !got.Equal(tt.want) {
					t.Fatalf("ParseAlicomTime(%q) = %v, want %v", tt.in, got.UTC(), tt.want)
				}
			})
		}
	}
	for _, bad := range []string{"", "2026/11/22 10:30:00", "tomorrow"} {
		if _, err := ParseAlicomTime(bad); err == nil {
			t.Errorf("ParseAlicomTime(%q) should fail", bad)
		}
	}
}
