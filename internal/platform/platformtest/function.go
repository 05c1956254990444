package platformtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// Binary is a function's binary, built by the function's own tests from the main package in
// their working directory, once per test process.
type Binary struct {
	// Name is the binary's file name, which its usage line shows.
	Name string

	once sync.Once
	path string
	err  error
}

// Build builds the binary on its first call and returns its path, or the build's error with
// the compiler's output.
func (b *Binary) Build() (string, error) {
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", b.Name+"-bin")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, b.Name)
		if out, err := exec.Command("go", "build", "-o", b.path, ".").CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	return b.path, b.err
}

// Remove deletes what Build made; TestMain calls it after the tests.
func (b *Binary) Remove() {
	if b.path != "" {
		os.RemoveAll(filepath.Dir(b.path))
	}
}

// Run starts the function binary bin with env and the variable that points it here, hands it
// event, stops it once it has answered (its runtime loop never exits by itself) and returns
// the answer and what the function wrote to stderr. ctx bounds the wait for the answer.
func (s *Server) Run(ctx context.Context, bin string, env []string, event []byte, inv Invocation) (Result, string, error) {
	cmd := exec.Command(bin)
	cmd.Env = append(env[:len(env):len(env)], s.EnvVar())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return Result{}, "", err
	}
	res, err := s.Invoke(ctx, event, inv)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return res, stderr.String(), err
}
