package alicompush_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/alicom-drain/alicom-drain/internal/alicompush"
)

func TestParseBatchAcceptsOnlyAnArrayOfObjects(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		items      int
	}{
		{"an array of objects parses", `[{"a":1}, {"b":[1,2]}]`, 2},
		{"an empty array parses", ` [ ] `, 0},
		{"an object is refused", `{"a":1}`, -1},
		{"an array with a string is refused", `[{"a":1},"x"]`, -1},
		{"an array with null is refused", `[null]`, -1},
		{"null is refused", `null`, -1},
		{"a truncated array is refused", `[{"a":1}`, -1},
		{"trailing data is refused", `[] []`, -1},
		{"an empty body is refused", ``, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := alicompush.ParseBatch([]byte(tc.body))
			if tc.items < 0 {
				if !errors.Is(err, alicompush.ErrNotBatch) {
					t.Fatalf("error %v, want ErrNotBatch", err)
				}
				return
			}
			if err != nil || len(items) != tc.items {
				t.Fatalf("%d items, error %v; want %d", len(items), err, tc.items)
			}
		})
	}
}

// FuzzParseBatch checks that no body makes the parser panic, that every refusal is an
// ErrNotBatch that does not quote the body, and that what parses is a list of JSON objects
// that re-encode to the same array.
func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`[{"phone_number":"13000000001","success":true,"biz_id":"12345^0"}]`))
	f.Add([]byte(`[{"To":"6591234567","Status":"1","MessageId":"1008030300305001"}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{}, {"a":[{"b":null}]}]`))
	f.Add([]byte(`{"a":1}`))
	f.Add([]byte(`["x", 1, null]`))
	f.Add([]byte("[{\"a\":\"\xff\"}]"))
	f.Add([]byte(strings.Repeat("[", 100)))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := alicompush.ParseBatch(body)
		if err != nil {
			if !errors.Is(err, alicompush.ErrNotBatch) {
				t.Fatalf("error %v is not ErrNotBatch", err)
			}
			if len(body) > 8 && strings.Contains(err.Error(), string(body)) {
				t.Fatalf("error %q quotes the body", err)
			}
			return
		}
		for i, it := range items {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(it, &obj); err != nil {
				t.Fatalf("item %d %q is not an object: %v", i, it, err)
			}
		}
		again, err := json.Marshal(items)
		if err != nil {
			t.Fatalf("items do not re-encode: %v", err)
		}
		if items2, err := alicompush.ParseBatch(again); err != nil || len(items2) != len(items) {
			t.Fatalf("re-encoded batch: %d items, error %v; want %d", len(items2), err, len(items))
		}
	})
}
