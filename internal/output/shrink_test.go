package output

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzShrinkJSON: whatever the line, the result is one valid JSON object
// of at most room bytes carrying the marker.
func FuzzShrinkJSON(f *testing.F) {
	f.Add([]byte(`{"rule":{"id":"r"},"process":{"args":["`+strings.Repeat("x", 900)+`"]}}`), 200)
	f.Add([]byte(`not json at all`), 120)
	f.Add([]byte(`{"auditlkm":{"other":1},"a":[1,2,3],"b":{"c":{"d":"`+strings.Repeat("y", 500)+`"}}}`), 150)
	f.Add([]byte(`[1,2,3]`), 100)
	f.Fuzz(func(t *testing.T, line []byte, room int) {
		room = 100 + (room%4096+4096)%4096 // the bare marker fits in 100 bytes
		out := shrinkJSON(line, room)
		if len(out) > room {
			t.Fatalf("%d bytes, room %d: %s", len(out), room, out)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("invalid JSON %q: %v", out, err)
		}
		am, _ := v["auditlkm"].(map[string]any)
		if _, ok := am["truncated"]; !ok {
			t.Fatalf("no marker in %s", out)
		}
	})
}
