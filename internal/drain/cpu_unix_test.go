//go:build unix

package drain

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used: on a loaded machine, what a benchmark's
// wall time cannot tell.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
