package modfile

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newGzipWriter(w io.Writer) *gzip.Writer { return gzip.NewWriter(w) }

// FuzzParse runs Parse over mutations of real modules (signed in-tree,
// unsigned and signed out-of-tree, gzip-compressed): it must never panic
// (a recovered panic is a failure too) and must keep its bounds. The seeds
// are kilobytes: minimizing each new input takes the default minute, so run
// it with -fuzzminimizetime 50x (1.5 million inputs a minute here).
func FuzzParse(f *testing.F) {
	names, _ := filepath.Glob("testdata/*.ko*")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(SignatureMagic))
	f.Add(append(make([]byte, 64), trailer(IDTypePKCS7, 0, 0, 16)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := Parse(data)
		for _, p := range in.Problems {
			if strings.HasPrefix(p, panicProblem) {
				t.Fatalf("parser panic: %s", p)
			}
		}
		if len(in.Problems) > MaxProblems || len(in.Modinfo.Authors) > MaxMulti || in.Modinfo.Entries > MaxModinfoEntries {
			t.Fatalf("bounds: %d problems, %d authors, %d entries", len(in.Problems), len(in.Modinfo.Authors), in.Modinfo.Entries)
		}
		if len(in.Modinfo.Description) > MaxValueBytes || len(in.ThisModuleName) > moduleNameLen32 {
			t.Fatal("value bounds")
		}
	})
}
