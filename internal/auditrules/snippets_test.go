package auditrules

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	auditlkm "github.com/auditlkm/auditlkm"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func snippets(t testing.TB) fs.FS {
	t.Helper()
	sub, err := fs.Sub(auditlkm.RulesFS, "audit.rules.d")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestSnippetsMatchGoldenWireBytes pins the kernel bytes of every shipped
// line (x86_64, little endian, against the fixed tree of testRoot).
func TestSnippetsMatchGoldenWireBytes(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("golden wire bytes are little endian")
	}
	rules, err := ParseFS(snippets(t), fakeRoot(t, testRoot(t)))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("# auditlkm audit.rules.d parsed for x86_64 against the testRoot tree.\n")
	b.WriteString("# Per line: position, kind, text, then auditctl -l form and wire hex.\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "%s:%d %v %s\n", r.File, r.Line, r.Kind, r.Text)
		if r.Skip != "" {
			fmt.Fprintf(&b, "\t%s\n", r.Skip)
			continue
		}
		cmd, err := ToCommandLine(r.Wire)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		fmt.Fprintf(&b, "\t%s\n\t%s\n", cmd, hex.EncodeToString(r.Wire))
	}
	golden := filepath.Join("testdata", "snippets.x86_64.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(want, b.Bytes()) {
		t.Fatalf("wire bytes differ from %s (run with -update and review the diff)", golden)
	}
}

func TestSnippetsHaveAHeaderAndNoKernelConfiguration(t *testing.T) {
	fsys := snippets(t)
	names, _ := fs.Glob(fsys, "*.rules")
	if len(names) < 5 {
		t.Fatalf("only %d snippets: %v", len(names), names)
	}
	for _, name := range names {
		data, _ := fs.ReadFile(fsys, name)
		if !strings.HasPrefix(string(data), "## auditlkm: ") {
			t.Errorf("%s: no header comment", name)
		}
		rules, err := ParseFile(name, bytes.NewReader(data), DefaultParseOptions())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			if r.Kind == KindControl || r.Kind == KindDelete {
				t.Errorf("%s: snippets must not configure the kernel or delete rules", r)
			}
			if !strings.Contains(r.Text, "auditlkm-") {
				t.Errorf("%s: rule without an auditlkm- key", r)
			}
			if strings.Contains(r.Text, "auid") {
				t.Errorf("%s: snippets must not filter on auid", r)
			}
		}
	}
}

func TestParseFSReadsOnlyRulesFilesInNameOrder(t *testing.T) {
	fsys := fstest.MapFS{
		"50-b.rules":          {Data: []byte("-b 1\n")},
		"10-a.rules":          {Data: []byte("-b 2\n")},
		"60-c.rules.optional": {Data: []byte("this is not parsed\n")},
		"README.md":           {Data: []byte("nor is this\n")},
	}
	rules, err := ParseFS(fsys, DefaultParseOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || rules[0].File != "10-a.rules" || rules[1].File != "50-b.rules" {
		t.Fatalf("rules %v", rules)
	}
	fsys["20-bad.rules"] = &fstest.MapFile{Data: []byte("-b x\n")}
	if rules, err := ParseFS(fsys, DefaultParseOptions()); err == nil || rules != nil {
		t.Fatalf("bad file: rules %v err %v", rules, err)
	}
}

func TestInstallWritesSnippetsAtomicallyAndIdempotently(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, RulesDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "10-base-config.rules")
	if err := os.WriteFile(other, []byte("-b 8192\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fsys := snippets(t)
	if err := Install(fsys, root); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(fsys, "*.rules")
	stats := map[string]os.FileInfo{}
	for _, name := range names {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v", name, fi.Mode())
		}
		got, _ := os.ReadFile(p)
		want, _ := fs.ReadFile(fsys, name)
		if strings.Contains(string(want), "io_uring -S") {
			// auditctl 3.0 cannot read these lines: installed commented
			// out, every one of them, and nothing else changed.
			if bytes.Equal(got, want) {
				t.Errorf("%s: io_uring lines installed as they are", name)
			}
			rs, err := ParseFile(name, bytes.NewReader(got), DefaultParseOptions())
			if err != nil || len(rs) != 0 {
				t.Errorf("%s as installed: %d rules (%v), want every io_uring line commented out", name, len(rs), err)
			}
			if !strings.Contains(string(got), "#-a always,io_uring") {
				t.Errorf("%s: the commented lines are missing", name)
			}
			want = commentURing(want)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: content differs", name)
		}
		stats[name] = fi
	}
	if got, _ := os.ReadFile(other); string(got) != "-b 8192\n" {
		t.Fatalf("other file changed: %q", got)
	}
	// A second install changes nothing (same inode: no rename happened).
	if err := Install(fsys, root); err != nil {
		t.Fatal(err)
	}
	for name, before := range stats {
		after, _ := os.Stat(filepath.Join(dir, name))
		if !os.SameFile(before, after) {
			t.Errorf("%s was rewritten", name)
		}
	}
	// A modified file is replaced; no temporary files are left.
	victim := filepath.Join(dir, names[0])
	if err := os.WriteFile(victim, []byte("tampered\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := Install(fsys, root); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(victim)
	want, _ := fs.ReadFile(fsys, names[0])
	if !bytes.Equal(got, want) {
		t.Fatal("tampered file not restored")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(names)+1 {
		t.Fatalf("%d entries in %s, want %d", len(entries), dir, len(names)+1)
	}
}

func TestInstallRefusesABadSnippetSet(t *testing.T) {
	root := t.TempDir()
	fsys := fstest.MapFS{"50-x.rules": {Data: []byte("-a always\n")}}
	err := Install(fsys, root)
	if !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, RulesDir, "50-x.rules")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("bad snippet installed")
	}
}

// FuzzParseLine: a line either fails with a LineError or yields a rule
// whose wire bytes decode, normalise and print without error.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"-a always,exit -F arch=b64 -S init_module,finit_module -k m",
		"-a never,filesystem -F fstype=tracefs",
		"-w /etc/modprobe.d/ -p wa -k c",
		`-w "/a b" -p r`,
		"-a always,exit -F arch=b32 -S execve -F path=/usr/bin/kmod -F auid>=1000 -C uid!=euid",
		"-b 8192", "--backlog_wait_time=1", "-D -k x", "-a exit,never -F a0&=0x10",
		"-a always,io_uring -S openat,linkat,48,2047 -F dir=/etc -F uid!=0 -k u", "-A never,io_uring -S 9999",
	} {
		f.Add(s)
	}
	opts := ParseOptions{Arch: "x86_64", Stat: func(string) (fs.FileInfo, error) { return nil, fs.ErrNotExist }}
	f.Fuzz(func(t *testing.T, in string) {
		rules, err := ParseFile("f", strings.NewReader(in), opts)
		if err != nil {
			if rules != nil {
				t.Fatal("rules and error")
			}
			if !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("error %v is not a LineError", err)
			}
			return
		}
		for _, r := range rules {
			if r.Wire == nil {
				continue
			}
			if _, err := normalize(r.Wire); err != nil {
				t.Fatalf("%q: normalize: %v", r.Text, err)
			}
			if r.Kind == KindFilesystem || r.Kind == KindSyscall || r.Kind == KindWatch {
				if _, err := ToCommandLine(r.Wire); err != nil {
					t.Fatalf("%q: ToCommandLine: %v", r.Text, err)
				}
			}
		}
	})
}

func TestOptionalSnippetParses(t *testing.T) {
	f, err := os.Open("../../audit.rules.d/60-auditlkm-ko-anywhere.rules.optional")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules, err := ParseFile("60-auditlkm-ko-anywhere.rules.optional", f, ParseOptions{Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if !r.Loadable() {
			t.Errorf("%s: not loadable (%s)", r, r.Skip)
		}
	}
}
