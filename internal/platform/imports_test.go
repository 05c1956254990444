package platform

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// TestImportRules holds the boundaries docs/architecture.md promises, with `go list`, so they
// cannot erode silently. Test files and tools (cmd/...) are outside the rules. A package a rule
// names that no longer exists fails the rule: the rule (and the document) must change with it.
func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)

	// Only these may import each SDK directly (tools under cmd/ always may).
	only := []struct {
		sdks    []string
		allowed []string
	}{
		{[]string{"github.com/aliyun/fc-runtime-go-sdk", "github.com/aws/aws-lambda-go"}, []string{"internal/platform"}},
		// The MNS SDK with what its API exposes: fasthttp, gogap errors, credentials-go.
		{[]string{"github.com/aliyun/aliyun-mns-go-sdk", "github.com/valyala/fasthttp", "github.com/gogap/", "github.com/aliyun/credentials-go"}, []string{"internal/queue/mnsqueue", "internal/sink"}},
		{[]string{"github.com/aliyun/alibaba-cloud-sdk-go"}, []string{"internal/token"}},
		{[]string{"github.com/aws/aws-sdk-go-v2"}, []string{"internal/token"}},
	}
	for _, rule := range only {
		t.Run("only "+strings.Join(rule.allowed, ", ")+" import "+strings.Join(rule.sdks, ", "), func(t *testing.T) {
			for path, p := range pkgs {
				rel := strings.TrimPrefix(path, module)
				if strings.HasPrefix(rel, "cmd/") || contains(rule.allowed, rel) {
					continue
				}
				for _, imp := range p.Imports {
					if hasAnyPrefix(imp, rule.sdks) {
						t.Errorf("%s imports %s", rel, imp)
					}
				}
			}
		})
	}

	// These depend, even indirectly, on no SDK: they are the platform-free core.
	sdks := []string{"github.com/aliyun/", "github.com/aws/", "github.com/valyala/fasthttp", "github.com/gogap/"}
	for _, core := range []string{"internal/drain", "shared/dispatch", "shared/alicom", "internal/queue", "internal/queue/memqueue",
		"internal/queue/queuetest", "internal/config", "internal/retry", "internal/redact", "events"} {
		t.Run(core+" depends on no SDK", func(t *testing.T) {
			p, ok := pkgs[module+core]
			if !ok {
				t.Fatalf("%s does not exist: update the rule and docs/architecture.md", core)
			}
			for _, d := range p.Deps {
				if hasAnyPrefix(d, sdks) {
					t.Errorf("%s depends on %s", core, d)
				}
			}
		})
	}

	// The emulator is the server side: it shares nothing with the client code it tests.
	t.Run("shared/mnslocal depends on nothing of the client side", func(t *testing.T) {
		p, ok := pkgs[module+"shared/mnslocal"]
		if !ok {
			t.Fatal("shared/mnslocal does not exist: update the rule and docs/architecture.md")
		}
		for _, d := range p.Deps {
			rel, ours := strings.CutPrefix(d, module)
			if ours && (strings.HasPrefix(rel, "internal/") || rel == "shared/dispatch" || rel == "shared/alicom" || rel == "shared/app") {
				t.Errorf("shared/mnslocal depends on %s", rel)
			}
		}
	})

	// Public packages do not lean on the private ones, except shared/app, which wires them.
	t.Run("shared/alicom and shared/dispatch depend on no internal package", func(t *testing.T) {
		for _, pub := range []string{"shared/alicom", "shared/dispatch"} {
			for _, d := range pkgs[module+pub].Deps {
				if strings.HasPrefix(d, module+"internal/") {
					t.Errorf("%s depends on %s", pub, strings.TrimPrefix(d, module))
				}
			}
		}
	})

	// Configuration comes first: the clients take its names and defaults, never the reverse.
	t.Run("internal/config depends on none of the client packages", func(t *testing.T) {
		p, ok := pkgs[module+"internal/config"]
		if !ok {
			t.Fatal("internal/config does not exist: update the rule and docs/architecture.md")
		}
		clients := []string{"internal/queue/mnsqueue", "internal/token", "internal/sink", "internal/platform", "shared/app"}
		for _, d := range p.Deps {
			if rel, ours := strings.CutPrefix(d, module); ours && contains(clients, rel) {
				t.Errorf("internal/config depends on %s", rel)
			}
		}
	})

	// Functions are wiring only: their main imports shared/app and nothing else of ours.
	t.Run("functions import only shared/app", func(t *testing.T) {
		for path, p := range pkgs {
			if !strings.HasPrefix(path, module+"functions/") {
				continue
			}
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, module) && imp != module+"shared/app" {
					t.Errorf("%s imports %s", strings.TrimPrefix(path, module), strings.TrimPrefix(imp, module))
				}
			}
		}
	})
}

const module = "github.com/alicom-drain/alicom-drain/"

type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) map[string]goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps", "./...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]goPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	if len(pkgs) < 10 {
		names := make([]string, 0, len(pkgs))
		for n := range pkgs {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Fatalf("go list found only %v", names)
	}
	return pkgs
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, strings.TrimSuffix(p, "/")+"/") || (strings.HasSuffix(p, "/") && strings.HasPrefix(s, p)) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
