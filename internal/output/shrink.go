package output

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
)

// maxShrinkSteps bounds the fields shrinkJSON removes before it gives up
// on keeping any of the document.
const maxShrinkSteps = 256

// shrinkJSON returns a valid JSON object of at most room bytes made from
// the JSON object line: its largest fields are removed, one after another
// (descending into objects to keep their smaller members), until it fits,
// and the marker field auditlkm.truncated records what was done:
//
//	"auditlkm":{"truncated":{"original_bytes":N,"removed":["auditd.records",...]}}
//
// A line that is not a JSON object, or that cannot be made to fit, becomes
// the marker alone. The result never exceeds room unless room is too small
// for the bare marker.
func shrinkJSON(line []byte, room int) []byte {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	removed := []string{}
	if err := dec.Decode(&doc); err != nil || doc == nil {
		doc, removed = map[string]any{}, []string{"*"}
	}
	marker := func() {
		am, _ := doc["auditlkm"].(map[string]any)
		if am == nil {
			am = map[string]any{}
		}
		am["truncated"] = map[string]any{"original_bytes": len(line), "removed": removed}
		doc["auditlkm"] = am
	}
	for step := 0; step <= maxShrinkSteps; step++ {
		marker()
		out, err := json.Marshal(doc)
		if err == nil && len(out) <= room {
			return out
		}
		delete(doc, "auditlkm")
		path, ok := removeLargest(doc, len(out)-room)
		if !ok {
			break
		}
		removed = append(removed, path)
	}
	doc = map[string]any{}
	removed = []string{"*"}
	marker()
	out, _ := json.Marshal(doc)
	return out
}

// removeLargest removes one field of obj: the largest member, or, when
// that member is an object larger than excess bytes with more than one
// member, the largest field inside it. It returns the dotted path removed.
func removeLargest(obj map[string]any, excess int) (string, bool) {
	prefix := ""
	for depth := 0; depth < 32; depth++ {
		key, size := largest(obj)
		if key == "" {
			return "", false
		}
		if sub, ok := obj[key].(map[string]any); ok && size > excess && len(sub) > 1 {
			prefix += key + "."
			obj = sub
			continue
		}
		delete(obj, key)
		return prefix + key, true
	}
	return "", false
}

// largest returns the member of obj whose encoding is longest (ties: the
// first name in order) and that length.
func largest(obj map[string]any) (string, int) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	best, bestN := "", -1
	for _, k := range keys {
		b, err := json.Marshal(obj[k])
		n := len(b) + len(strconv.Quote(k))
		if err != nil {
			n = 0
		}
		if n > bestN {
			best, bestN = k, n
		}
	}
	return best, bestN
}
