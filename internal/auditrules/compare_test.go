package auditrules

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"testing"
)

// BenchmarkCompare is the guard's check: the embedded rules compared with
// a kernel that has them all.
func BenchmarkCompare(b *testing.B) {
	want, err := ParseFS(snippets(b), DefaultParseOptions())
	if err != nil {
		b.Fatal(err)
	}
	var have [][]byte
	for _, r := range want {
		if r.Loadable() {
			have = append(have, r.Wire)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		d, err := Compare(have, want)
		if err != nil || len(d.Missing) != 0 {
			b.Fatal(err, len(d.Missing))
		}
	}
}

// normalizeText is normalize as it was first written: the key as text.
// TestNormalizeKeysAgreeWithTheTextForm keeps the binary key to it.
func normalizeText(b []byte) (string, error) {
	r, err := decodeWire(b)
	if err != nil {
		return "", err
	}
	r.mask[maskWords-1] &^= classBits
	sort.Slice(r.fields, func(i, j int) bool {
		a, c := r.fields[i], r.fields[j]
		if a.typ != c.typ {
			return a.typ < c.typ
		}
		if a.op != c.op {
			return a.op < c.op
		}
		if a.val != c.val {
			return a.val < c.val
		}
		return a.str < c.str
	})
	var sb strings.Builder
	fmt.Fprintf(&sb, "%x/%x/", r.flags, r.action)
	for _, m := range r.mask {
		fmt.Fprintf(&sb, "%x,", m)
	}
	for _, f := range r.fields {
		fmt.Fprintf(&sb, "/%x:%x:%x:%q", f.typ, f.op, f.val, f.str)
	}
	return sb.String(), nil
}

// TestNormalizeKeysAgreeWithTheTextForm: over every pair of the shipped
// and upstream rules, each also with its fields in reverse order and with
// class bits set, two binary keys are equal exactly when the text keys
// are.
func TestNormalizeKeysAgreeWithTheTextForm(t *testing.T) {
	var wires [][]byte
	for _, fsys := range []fs.FS{snippets(t), os.DirFS("testdata/upstream")} {
		rules, err := ParseFS(fsys, fakeRoot(t, testRoot(t)))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			if !r.Loadable() {
				continue
			}
			wires = append(wires, r.Wire, reversedFields(r.Wire))
			classed := bytes.Clone(r.Wire)
			off := offMask + 4*(maskWords-1)
			ne.PutUint32(classed[off:], ne.Uint32(classed[off:])|classBits)
			wires = append(wires, classed)
		}
	}
	bin := make([]string, len(wires))
	text := make([]string, len(wires))
	for i, w := range wires {
		var err error
		if bin[i], err = normalize(w); err != nil {
			t.Fatal(err)
		}
		if text[i], err = normalizeText(w); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < len(wires); i += 3 {
		// The order of the fields and the class bits carry no meaning.
		if bin[i] != bin[i+1] || bin[i] != bin[i+2] {
			t.Fatalf("rule %d: reordered or classed fields give another key", i/3)
		}
	}
	for i := range wires {
		for j := range wires {
			if (bin[i] == bin[j]) != (text[i] == text[j]) {
				t.Fatalf("rules %d and %d: binary keys equal %v, text keys equal %v", i, j, bin[i] == bin[j], text[i] == text[j])
			}
		}
	}
}

// reversedFields returns wire with its fields (type, value, flags) in
// reverse order; the string buffer keeps its order, so it is rebuilt.
func reversedFields(wire []byte) []byte {
	r, err := decodeWire(wire)
	if err != nil {
		return wire
	}
	out := bytes.Clone(wire[:headerSize])
	n := len(r.fields)
	var buf []byte
	for i := range n {
		f := r.fields[n-1-i]
		ne.PutUint32(out[offFields+4*i:], f.typ)
		ne.PutUint32(out[offValues+4*i:], f.val)
		ne.PutUint32(out[offFieldFlags+4*i:], f.op)
		if isStringField(f.typ) {
			buf = append(buf, f.str...)
		}
	}
	ne.PutUint32(out[offBufLen:], uint32(len(buf)))
	return append(out, buf...)
}
