package provenance

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOwnerIndex: every path listed gets its packages in reading order, a
// path listed by none gets none, with the full hash and with hashes cut to
// 0 to 3 bits, so that most paths share a chain.
func TestOwnerIndex(t *testing.T) {
	lists := []struct {
		pkg   string
		paths []string
	}{
		{"base-files", []string{"/bin", "/etc", "/etc/issue", "/usr/share/doc/base-files"}},
		{"coreutils", []string{"/bin", "/bin/ls", "/usr/bin/env", "/usr/share/doc"}},
		{"empty", nil},
		{"kmod", []string{"/bin", "/bin/kmod", "/etc/modprobe.d", "/etc/modprobe.d/", "/sbin/insmod"}},
		{"odd:amd64", []string{"/usr/share/a b", "/usr/share/\xff\x00", "/etc/modprobe.d", strings.Repeat("/x", 300)}},
	}
	want := map[string][]string{}
	for _, l := range lists {
		for _, p := range l.paths {
			want[p] = append(want[p], l.pkg)
		}
	}
	absent := []string{"", "/", "/bi", "/bin/", "/etc/modprobe", "/usr/share/a", "/usr/share/\xff", strings.Repeat("/x", 299)}
	for _, bits := range []int{64, 3, 1, 0} {
		t.Run(fmt.Sprintf("%d bits", bits), func(t *testing.T) {
			b := newIndexBuilder()
			b.ix.mask = ^uint64(0) >> (64 - bits) // 0 bits: a shift by 64 gives 0
			for _, l := range lists {
				b.pkg(l.pkg)
				for _, p := range l.paths {
					if err := b.add([]byte(p)); err != nil {
						t.Fatal(err)
					}
				}
			}
			ix := b.finish()
			for p, pkgs := range want {
				if got := ix.owners(p); !slices.Equal(got, pkgs) {
					t.Errorf("%q: %q, want %q", p, got, pkgs)
				}
			}
			for _, p := range absent {
				if got := ix.owners(p); got != nil {
					t.Errorf("%q: %q, want none", p, got)
				}
			}
			if len(ix.ents) != len(want) {
				t.Errorf("%d entries for %d distinct paths", len(ix.ents), len(want))
			}
		})
	}
	var nilIndex *ownerIndex
	if got := nilIndex.owners("/bin"); got != nil {
		t.Errorf("nil index: %q", got)
	}
}

// TestOwnerIndexMatchesAMapOfThisHost reads this host's dpkg file lists
// into the index and into a plain map: both give every path the same
// packages, in the same order.
func TestOwnerIndexMatchesAMapOfThisHost(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("no dpkg database on this host")
	}
	v := New("/", nil)
	if v.Kind() != "dpkg" {
		t.Fatalf("kind %q", v.Kind())
	}
	ents, err := os.ReadDir("/var/lib/dpkg/info")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, e := range ents {
		pkg, ok := strings.CutSuffix(e.Name(), ".list")
		if !ok {
			continue
		}
		f, err := os.Open(filepath.Join("/var/lib/dpkg/info", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if p := sc.Text(); p != "" && p != "/." {
				want[p] = append(want[p], pkg)
			}
		}
		f.Close()
	}
	if len(want) < 1000 {
		t.Fatalf("only %d paths listed: not a real dpkg database", len(want))
	}
	for p, pkgs := range want {
		if got := v.owners.owners(p); !slices.Equal(got, pkgs) {
			t.Fatalf("%q: %q, want %q", p, got, pkgs)
		}
		if got := v.owners.owners(p + "/nope"); got != nil && want[p+"/nope"] == nil {
			t.Fatalf("%q: %q, want none", p+"/nope", got)
		}
	}
	t.Logf("%d paths, %d packages, %d bytes of paths", len(want), len(v.owners.pkgs), len(v.owners.blob))
}

// FuzzOwnerIndex builds the index from lists cut out of the input (a NUL
// starts the next package's list, lines are paths) with hashes cut to
// bits bits, and asks it for every path listed and for each with a byte
// more: the answers are a plain map's.
func FuzzOwnerIndex(f *testing.F) {
	f.Add([]byte("/bin\n/bin/ls\n\x00/bin\n/etc/modprobe.d/x.conf\n"), uint8(64))
	f.Add([]byte("/a\n/a\n/b\x00\x00/a\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, bits uint8) {
		b := newIndexBuilder()
		if bits < 64 {
			b.ix.mask = 1<<(bits%64) - 1
		}
		want := map[string][]string{}
		for i, list := range bytes.Split(data, []byte{0}) {
			pkg := fmt.Sprintf("p%d", i)
			b.pkg(pkg)
			for _, p := range bytes.Split(list, []byte("\n")) {
				if len(p) == 0 {
					continue
				}
				if err := b.add(p); err != nil {
					t.Fatal(err)
				}
				want[string(p)] = append(want[string(p)], pkg)
			}
		}
		ix := b.finish()
		for p, pkgs := range want {
			if got := ix.owners(p); !slices.Equal(got, pkgs) {
				t.Fatalf("%q: %q, want %q", p, got, pkgs)
			}
			if got, w := ix.owners(p+"x"), want[p+"x"]; !slices.Equal(got, w) {
				t.Fatalf("%q: %q, want %q", p+"x", got, w)
			}
		}
	})
}
