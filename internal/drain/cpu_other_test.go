//go:build !unix

package drain

import "time"

// processCPU is not measured here; the cpu-ns/msg metric then reads 0.
func processCPU() time.Duration { return 0 }
