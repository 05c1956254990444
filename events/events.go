// Package events holds the repository's sample inputs. The platform events (fc-timer.json,
// lambda-schedule.json, manual.json) and push requests (push/) are files for the command line;
// the sample message bodies (messages/) are embedded here too, so the demos, tests and
// benchmarks read one copy, encoded one way: as Alicom queues them.
package events

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed messages/*.json
var messages embed.FS

// Message is one sample message body.
type Message struct {
	// Name is the file name without .json, e.g. "SmsReport-success-string".
	Name string
	// Type is the message type: Name up to its first '-'.
	Type string
	// JSON is the body Alicom base64-encodes, compacted.
	JSON []byte
	// Body is the body as Alicom queues it: standard base64, with padding, of JSON.
	Body string
}

// Messages returns every sample body under messages/, sorted by name.
func Messages() []Message {
	ms, err := Load(messages, "messages")
	if err != nil {
		panic(err) // the files are built in, and their test reads every one
	}
	return ms
}

// Load reads every <Type>[-variant].json in dir of fsys (os.DirFS for a directory of one's own
// samples), sorted by name. A file that is not JSON is an error naming it.
func Load(fsys fs.FS, dir string) ([]Message, error) {
	paths, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("events: no sample bodies (<Type>[-variant].json) in %s", dir)
	}
	out := make([]Message, 0, len(paths))
	for _, p := range paths {
		raw, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return nil, fmt.Errorf("events: %s: %w", p, err)
		}
		name := strings.TrimSuffix(path.Base(p), ".json")
		typ, _, _ := strings.Cut(name, "-")
		out = append(out, Message{Name: name, Type: typ, JSON: compact.Bytes(),
			Body: base64.StdEncoding.EncodeToString(compact.Bytes())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ByType groups ms by message type, each group in the order of ms.
func ByType(ms []Message) map[string][]Message {
	out := make(map[string][]Message)
	for _, m := range ms {
		out[m.Type] = append(out[m.Type], m)
	}
	return out
}
