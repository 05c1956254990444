// Package demokit is what the demo commands (cmd/demo, cmd/demo-webhook) share: the sample
// bodies by message type, the environment that points the real drain function binary at the
// emulator, and how many messages a queue still holds.
package demokit

import (
	"os"
	"sort"
	"strings"

	"github.com/alicom-drain/alicom-drain/events"
	"github.com/alicom-drain/alicom-drain/internal/config"
	"github.com/alicom-drain/alicom-drain/shared/mnslocal"
)

// Samples returns the sample bodies by message type, and the types in order: package events'
// own, or those in dir when it is set.
func Samples(dir string) (map[string][]events.Message, []string, error) {
	ms := events.Messages()
	if dir != "" {
		var err error
		if ms, err = events.Load(os.DirFS(dir), "."); err != nil {
			return nil, nil, err
		}
	}
	bodies := events.ByType(ms)
	types := make([]string, 0, len(bodies))
	for t := range bodies {
		types = append(types, t)
	}
	sort.Strings(types)
	return bodies, types, nil
}

// DrainEnv returns this process's environment with the drain function pointed at srv's queues
// of types, under the emulator's account and keys, and then extra. The security token is set
// empty so that one in the environment (meant for real Alibaba Cloud) is not sent along.
func DrainEnv(srv *mnslocal.Server, types []string, extra ...string) []string {
	return append(append(os.Environ(),
		"ALICOM_MESSAGE_TYPES="+strings.Join(types, ","),
		"ALICOM_ACCOUNT_UID="+mnslocal.DefaultAlicomUID,
		"ALICOM_MNS_ENDPOINT="+srv.URL(),
		"ALICOM_DYBASEAPI_ENDPOINT="+srv.URL(),
		config.EnvAccessKeyID+"="+mnslocal.DefaultAccessKeyID,
		config.EnvAccessKeySecret+"="+mnslocal.DefaultAccessKeySecret,
		config.EnvSecurityToken+"=",
	), extra...)
}

// Left is how many messages a queue still holds: visible, in flight, or delayed.
func Left(st mnslocal.QueueStats) int64 {
	return st.Active + st.Inactive + st.Delayed
}
