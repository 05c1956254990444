package mnsqueue

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func stashedToken(t *testing.T, c *sdkCredential) string {
	t.Helper()
	m, err := c.GetCredential()
	if err != nil {
		t.Fatal(err)
	}
	if *m.SecurityToken != "" && (*m.AccessKeyId != "id-"+*m.SecurityToken || *m.AccessKeySecret != "secret-"+*m.SecurityToken) {
		t.Fatalf("inconsistent credentials: %s %s %s", *m.AccessKeyId, *m.AccessKeySecret, *m.SecurityToken)
	}
	return *m.SecurityToken
}

func tk(name string) keys { return keys{id: "id-" + name, secret: "secret-" + name, token: name} }

func TestTheStashOnlyMovesForward(t *testing.T) {
	c := &sdkCredential{}
	if _, err := c.GetCredential(); err == nil {
		t.Fatal("an empty stash must be an error, not empty credentials")
	}
	steps := []struct {
		set  string
		want string
	}{
		{"t1", "t1"},
		{"t2", "t2"},
		{"t1", "t2"}, // a late operation holding the previous token does not put it back
		{"t2", "t2"},
		{"t3", "t3"},
	}
	for _, s := range steps {
		c.set(tk(s.set))
		if got := stashedToken(t, c); got != s.want {
			t.Fatalf("after set(%s): stash %s, want %s", s.set, got, s.want)
		}
	}
	if *c.GetType() != "sts" {
		t.Errorf("type %s, want sts", *c.GetType())
	}
	c.set(keys{id: "LTAI", secret: "s"})
	if *c.GetType() != "access_key" {
		t.Errorf("type %s, want access_key", *c.GetType())
	}
}

func TestTheStashIsConsistentUnderConcurrency(t *testing.T) {
	c := &sdkCredential{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 200 {
				c.set(tk(fmt.Sprintf("g%d-%d", g, i)))
			}
		}()
		go func() {
			defer wg.Done()
			for range 200 {
				if _, err := c.GetCredential(); err == nil {
					stashedToken(t, c)
				}
			}
		}()
	}
	wg.Wait()
}

func TestStaticKeysHideTheSecret(t *testing.T) {
	s := StaticKeys{AccessKeyID: "LTAI5tExampleKey", AccessKeySecret: "top-secret-value", SecurityToken: "sts-token-value"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(f, s)
		if strings.Contains(out, "top-secret-value") || strings.Contains(out, "sts-token-value") {
			t.Errorf("%s leaks: %s", f, out)
		}
	}
}
