package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// cpuBench is one line of `go test -bench -benchmem` output.
type cpuBench struct {
	Pkg         string
	Name        string // without the -GOMAXPROCS suffix
	NsPerOp     float64
	BytesPerOp  int64
	AllocsPerOp int64
}

// cpuPackages hold the per-message CPU benchmarks (decode; decode + dispatch).
var cpuPackages = []string{"./shared/alicom", "./shared/dispatch"}

// runGoBench runs the per-message CPU benchmarks of cpuPackages in root and parses them.
func runGoBench(root, benchtime string) ([]cpuBench, error) {
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", benchtime}, cpuPackages...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return parseGoBench(strings.NewReader(string(out)))
}

// parseGoBench reads benchmark lines such as
//
//	BenchmarkDispatch/SmsReport-2   1000000   1234 ns/op   512 B/op   9 allocs/op
//
// with the package taken from the preceding "pkg:" line.
func parseGoBench(r io.Reader) ([]cpuBench, error) {
	var (
		out []cpuBench
		pkg string
	)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		b := cpuBench{Pkg: pkg, Name: fields[0]}
		if i := strings.LastIndexByte(b.Name, '-'); i > 0 {
			if _, err := strconv.Atoi(b.Name[i+1:]); err == nil {
				b.Name = b.Name[:i]
			}
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, unit := fields[i], fields[i+1]
			var err error
			switch unit {
			case "ns/op":
				b.NsPerOp, err = strconv.ParseFloat(v, 64)
			case "B/op":
				b.BytesPerOp, err = strconv.ParseInt(v, 10, 64)
			case "allocs/op":
				b.AllocsPerOp, err = strconv.ParseInt(v, 10, 64)
			}
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: %s: %w", line, unit, err)
			}
		}
		out = append(out, b)
	}
	return out, sc.Err()
}

// Short is the benchmark's package without its module path.
func (b cpuBench) Short() string { return b.Pkg[strings.LastIndexByte(b.Pkg, '/')+1:] }
