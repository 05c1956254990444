package events

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

func TestEverySampleIsEmbeddedAndEncodedAsAlicomQueuesIt(t *testing.T) {
	ms := Messages()
	if len(ms) < 10 {
		t.Fatalf("%d samples embedded, want every file of messages/", len(ms))
	}
	files, err := os.ReadDir("messages")
	if err != nil {
		t.Fatal(err)
	}
	jsonFiles := 0
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".json") {
			jsonFiles++
		}
	}
	if jsonFiles != len(ms) {
		t.Fatalf("%d samples embedded, %d JSON files in messages/", len(ms), jsonFiles)
	}
	for _, m := range ms {
		if m.Type == "" || !strings.HasPrefix(m.Name, m.Type) {
			t.Errorf("%s: type %q", m.Name, m.Type)
		}
		raw, err := base64.StdEncoding.DecodeString(m.Body)
		if err != nil || string(raw) != string(m.JSON) || !json.Valid(raw) {
			t.Errorf("%s: Body is not the standard base64 of its compact JSON", m.Name)
		}
	}
	if g := ByType(ms)["SmsReport"]; len(g) < 2 || g[0].Name != "SmsReport" || !alicom.IsKnown(g[0].Type) {
		t.Errorf("ByType(...)[SmsReport] = %d samples; want several, the plain SmsReport (a known type) first", len(g))
	}
}

func TestLoadNamesTheFileThatIsNotJSON(t *testing.T) {
	fsys := fstest.MapFS{"d/SmsUp.json": {Data: []byte(`{"a":`)}}
	if _, err := Load(fsys, "d"); err == nil || !strings.Contains(err.Error(), "d/SmsUp.json") {
		t.Fatalf("got %v, want an error naming d/SmsUp.json", err)
	}
	if _, err := Load(fstest.MapFS{}, "d"); err == nil || !strings.Contains(err.Error(), "no sample bodies") {
		t.Fatalf("got %v, want an error saying there are none", err)
	}
}
