package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/platform/platformtest"
)

// binaryRow is one deployment binary: its size and how long it takes from process start until
// it asks the runtime API for its first invocation.
type binaryRow struct {
	Platform string // "Function Compute" or "Lambda"
	File     string // main or bootstrap
	Size     int64
	Ready    []time.Duration // one per run, sorted
	Timed    bool            // false when the binary cannot run on this host
}

func (b binaryRow) median() time.Duration { return percentile(b.Ready, 0.5) }

// measureBinaries builds the drain function for Function Compute and for Lambda exactly as the
// Makefile does (static, linux/amd64, stripped) and starts each runs times against the
// stand-in runtime API, with the emulator's endpoints in its environment.
func measureBinaries(root string, runs int, emulatorURL string) ([]binaryRow, error) {
	dir, err := os.MkdirTemp("", "alicom-drain-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	canRun := goruntime.GOOS == "linux" && goruntime.GOARCH == "amd64"
	specs := []struct {
		platform, file string
		tags           []string
		rt             platformtest.Platform
	}{
		{"Function Compute", "main", nil, platformtest.FC},
		{"Lambda", "bootstrap", []string{"-tags", "lambda.norpc"}, platformtest.Lambda},
	}
	var rows []binaryRow
	for _, s := range specs {
		bin := filepath.Join(dir, string(s.rt), s.file)
		args := append([]string{"build", "-trimpath", "-ldflags=-s -w"}, s.tags...)
		args = append(args, "-o", bin, "./functions/alicom-drain")
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go %v: %v\n%s", args, err, out)
		}
		fi, err := os.Stat(bin)
		if err != nil {
			return nil, err
		}
		row := binaryRow{Platform: s.platform, File: s.file, Size: fi.Size(), Timed: canRun}
		for i := 0; canRun && i < runs; i++ {
			d, err := timeToReady(bin, s.rt, emulatorURL)
			if err != nil {
				return nil, fmt.Errorf("%s run %d: %w", s.platform, i+1, err)
			}
			row.Ready = append(row.Ready, d)
		}
		slices.Sort(row.Ready)
		rows = append(rows, row)
	}
	return rows, nil
}

// timeToReady starts bin under a fresh stand-in runtime API and returns the time from just
// before the process start until its first GET .../invocation/next.
func timeToReady(bin string, platform platformtest.Platform, emulatorURL string) (time.Duration, error) {
	rt := platformtest.New(platform)
	defer rt.Close()
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		rt.EnvVar(),
		"ALICOM_MNS_ENDPOINT=" + emulatorURL,
		"ALICOM_DYBASEAPI_ENDPOINT=" + emulatorURL,
		"ALICOM_MESSAGE_TYPES=SmsReport,SmsUp",
		"ALICOM_ACCOUNT_UID=" + benchUID,
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + benchKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + benchKeySecret,
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	exited := make(chan error, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	select {
	case <-rt.Ready():
		return rt.ReadyAt().Sub(start), nil
	case err := <-exited:
		exited <- err // for the deferred wait
		return 0, fmt.Errorf("the function exited before asking for an invocation (%v): %s", err, stderr.String())
	case <-time.After(30 * time.Second):
		return 0, errors.New("the function did not ask for an invocation within 30s: " + stderr.String())
	}
}

// Median, Min, P90 and Max are the ready times' summary.
func (b binaryRow) Median() time.Duration { return b.median() }

// Min is the fastest start.
func (b binaryRow) Min() time.Duration { return percentile(b.Ready, 0) }

// P90 is the 90th percentile start.
func (b binaryRow) P90() time.Duration { return percentile(b.Ready, 0.9) }

// Max is the slowest start.
func (b binaryRow) Max() time.Duration { return percentile(b.Ready, 1) }
