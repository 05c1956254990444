package mnsqueue

import (
	"fmt"
	"strings"
	"testing"
)

func TestStaticKeysHideTheSecret(t *testing.T) {
	s := StaticKeys{AccessKeyID: "LTAI5tExampleKey", AccessKeySecret: "top-secret-value", SecurityToken: "sts-token-value"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(f, s)
		if strings.Contains(out, "top-secret-value") || strings.Contains(out, "sts-token-value") {
			t.Errorf("%s leaks: %s", f, out)
		}
	}
}
