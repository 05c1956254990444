package procmem

import (
	"os"
	"runtime"
	"testing"
)

func TestPeakRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is read from Linux's /proc")
	}
	tests := []struct {
		name     string
		pid      int
		positive bool
	}{
		{"this process has a peak resident set", os.Getpid(), true},
		{"a process that does not exist has none", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PeakRSS(tt.pid); (got > 0) != tt.positive {
				t.Fatalf("PeakRSS(%d) = %d", tt.pid, got)
			}
		})
	}
}
