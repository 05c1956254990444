package token

import (
	"os"
	"testing"
	"time"
)

// TestMain runs every test of the package with the machine's zone 16 hours away from Beijing,
// so a time parsed in the local zone instead of UTC+8 fails every test that looks at one. It
// is set here, before any goroutine exists: assigning time.Local later races with time.Now.
func TestMain(m *testing.M) {
	time.Local = time.FixedZone("UTC-8", -8*3600)
	os.Exit(m.Run())
}
