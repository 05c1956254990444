// Package procmem reads a process's memory as Linux's /proc reports it, for the tools that
// measure the function binaries (cmd/bench, cmd/chaos).
package procmem

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PeakRSS is the process's peak resident set in bytes (VmHWM), 0 when unknown: no /proc, or
// the process is gone.
func PeakRSS(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}
