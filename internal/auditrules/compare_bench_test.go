package auditrules

import "testing"

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
