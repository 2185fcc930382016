package logfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExpandRotated(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		"audit.log", "audit.log.1", "audit.log.2.gz", "audit.log.10",
		// Not members of the set.
		"audit.log.0", "audit.log.bak", "audit.log.x.gz", "audit.log.1.bak", "audit.log.-1",
		"audit.log.", "audit.log.gz", "audit.logx", "other.log", "other.log.1",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "audit.log.3"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "other.log"), filepath.Join(dir, "audit.log.4")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, "audit.log.5")); err != nil {
		t.Fatal(err)
	}
	full := func(names ...string) string {
		for i, n := range names {
			names[i] = filepath.Join(dir, n)
		}
		return strings.Join(names, " ")
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{
			name: "the live log expands to its set, oldest first",
			path: filepath.Join(dir, "audit.log"),
			want: full("audit.log.10", "audit.log.4", "audit.log.2.gz", "audit.log.1", "audit.log"),
		},
		{
			name: "a directory expands to its audit.log set",
			path: dir,
			want: full("audit.log.10", "audit.log.4", "audit.log.2.gz", "audit.log.1", "audit.log"),
		},
		{
			name: "a rotated file is its own set",
			path: filepath.Join(dir, "audit.log.10"),
			want: full("audit.log.10"),
		},
		{
			name: "another base name gives another set",
			path: filepath.Join(dir, "other.log"),
			want: full("other.log.1", "other.log"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExpandRotated(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("got  %s\nwant %s", s, tt.want)
			}
		})
	}
}

func TestExpandRotatedEdges(t *testing.T) {
	t.Run("a rotated set without its live file still expands", func(t *testing.T) {
		dir := t.TempDir()
		for _, n := range []string{"audit.log.2", "audit.log.1.gz"} {
			if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		got, err := ExpandRotated(filepath.Join(dir, "audit.log"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || filepath.Base(got[0]) != "audit.log.2" || filepath.Base(got[1]) != "audit.log.1.gz" {
			t.Errorf("got %v", got)
		}
	})
	t.Run("plain and gzip copies of one rotation are both listed, plain first", func(t *testing.T) {
		dir := t.TempDir()
		for _, n := range []string{"audit.log.1.gz", "audit.log.1"} {
			if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		got, err := ExpandRotated(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || filepath.Base(got[0]) != "audit.log.1" || filepath.Base(got[1]) != "audit.log.1.gz" {
			t.Errorf("got %v", got)
		}
	})
	t.Run("an empty directory is a not-exist error naming it", func(t *testing.T) {
		dir := t.TempDir()
		_, err := ExpandRotated(dir)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), dir) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a missing directory is a not-exist error", func(t *testing.T) {
		_, err := ExpandRotated(filepath.Join(t.TempDir(), "no", "audit.log"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a special file is returned alone", func(t *testing.T) {
		got, err := ExpandRotated("/dev/null")
		if err != nil || len(got) != 1 || got[0] != "/dev/null" {
			t.Errorf("got %v, %v", got, err)
		}
	})
	t.Run("a relative path keeps its directory", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		for _, n := range []string{"x.log", "x.log.1"} {
			if err := os.WriteFile(n, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		got, err := ExpandRotated("x.log")
		if err != nil || strings.Join(got, " ") != "x.log.1 x.log" {
			t.Errorf("got %v, %v", got, err)
		}
	})
}

func TestRotationSuffix(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		gz   bool
		isOK bool
	}{
		{".1", 1, false, true},
		{".10", 10, false, true},
		{".3.gz", 3, true, true},
		{".999999999", 999999999, false, true},
		{".1000000000", 0, false, false},
		{".0", 0, false, false},
		{".", 0, false, false},
		{".gz", 0, false, false},
		{".1a", 0, false, false},
		{"1", 0, false, false},
		{"", 0, false, false},
	}
	for _, tt := range tests {
		t.Run("suffix "+tt.in, func(t *testing.T) {
			n, gz, ok := rotationSuffix(tt.in)
			if n != tt.n && tt.isOK || gz != tt.gz && tt.isOK || ok != tt.isOK {
				t.Errorf("rotationSuffix(%q) = %d %v %v", tt.in, n, gz, ok)
			}
		})
	}
}

// TestRotatedSetSkipsADamagedMember: a truncated archive in the middle of
// a rotated set is reported (named, once) and skipped; the members after
// it, newer, are still read.
func TestRotatedSetSkipsADamagedMember(t *testing.T) {
	dir := t.TempDir()
	var big strings.Builder
	for i := 100; i < 2100; i++ {
		big.WriteString(eoe(i))
	}
	writeGzip(t, filepath.Join(dir, "audit.log.3.gz"), []byte(eoe(1)))
	damaged := filepath.Join(dir, "audit.log.2.gz")
	writeGzip(t, damaged, []byte(big.String()))
	b, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(damaged, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "audit.log.1"), []byte(eoe(3000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), []byte(eoe(3001)), 0o600); err != nil {
		t.Fatal(err)
	}
	var reported []string
	cfg := DefaultConfig()
	cfg.OnDamaged = func(path string, err error) { reported = append(reported, path) }
	res := readAll(t, cfg, []string{dir}, nil)
	if res.err != nil {
		t.Fatalf("err = %v: a damaged member must not end the replay", res.err)
	}
	if len(reported) != 1 || reported[0] != damaged || len(res.damaged) != 1 {
		t.Errorf("reported %q, Damaged %v: want %s once", reported, res.damaged, damaged)
	}
	n := len(res.records)
	if n < 4 || res.records[0].Serial != 1 || res.records[n-2].Serial != 3000 || res.records[n-1].Serial != 3001 {
		t.Errorf("%d records; want the oldest, some of the damaged one, then the two newest", n)
	}
}
