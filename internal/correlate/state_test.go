package correlate

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// populated returns a store in dir with history and file writes,
// including hostile non-UTF-8 names.
func populated(t *testing.T, dir string) *Store {
	t.Helper()
	s, _, _ := testStore(t, func(c *Config) { c.StateDir = dir })
	if err := s.Load(); err != nil {
		t.Fatal(err)
	}
	p := tp{pid: 5000, ppid: 1, comm: "cp", exe: "/usr/bin/cp", args: []string{"cp", "a\xffb", "x\ny"}, cwd: "/tmp", auid: 1000}
	s.Observe(execEv(t, 0, 1, p))
	s.Observe(openEv(t, 10, 2, p, "/tmp/r\xfek.ko", 0x241, "CREATE", 77, "yes"))
	s.Observe(openEv(t, 20, 3, p, "/etc/modprobe.d/x.conf", 0x241, "CREATE", 78, "yes"))
	s.Observe(finitEv(t, 30, 4, p, "ev\xffil"))
	return s
}

func TestStateRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing", "state")
	s := populated(t, dir)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("Load did not create the state dir 0700: %v %v", fi, err)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != StateFileName {
		t.Fatalf("state dir holds %v, want only %s (no temp files)", ents, StateFileName)
	}

	r, m, _ := testStore(t, func(c *Config) { c.StateDir = dir })
	if err := r.Load(); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.loadErrors); got != 0 {
		t.Fatalf("load errors = %v", got)
	}
	if !r.FirstStart().Equal(s.FirstStart().Truncate(time.Millisecond)) {
		t.Fatalf("first start %v, want %v", r.FirstStart(), s.FirstStart())
	}
	for _, kv := range [][2]string{{SeenModule, "ev\xffil"}, {SeenExe, "/usr/bin/cp"}, {SeenKoPath, "/tmp/r\xfek.ko"}} {
		if !r.SeenBefore(kv[0], kv[1]) {
			t.Fatalf("%s %q not seen after reload", kv[0], kv[1])
		}
		a, _ := s.SeenHistory(kv[0], kv[1])
		b, _ := r.SeenHistory(kv[0], kv[1])
		if !a.First.Equal(b.First) || !a.Last.Equal(b.Last) || a.Count != b.Count {
			t.Fatalf("history of %q: %+v, want %+v", kv[1], b, a)
		}
	}
	w, ok := r.WrittenBy("/tmp/r\xfek.ko")
	if !ok || w.Inode != 77 || w.Serial != 2 || w.Process.Exe != "/usr/bin/cp" ||
		!slices.Equal(w.Process.Args, []string{"cp", "a\xffb", "x\ny"}) || w.Process.AUID != 1000 {
		t.Fatalf("WrittenBy after reload = %+v %v", w, ok)
	}
	if _, ok := r.WrittenByInode("08:01", 78); !ok {
		t.Fatal("inode index not rebuilt")
	}
	if got := r.ConfigWrites(time.Time{}); len(got) != 1 || got[0].Path != "/etc/modprobe.d/x.conf" {
		t.Fatalf("ConfigWrites after reload = %+v", got)
	}
	// Saving the reloaded state gives the same bytes (apart from saved_at).
	var a, b bytes.Buffer
	sa, sb := s.Snapshot(), r.Snapshot()
	sb.SavedAt = sa.SavedAt
	must(t, writeSnapshot(&a, sa))
	must(t, writeSnapshot(&b, sb))
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("re-saved state differs:\n%s\n---\n%s", a.Bytes(), b.Bytes())
	}
}

func TestLearningStartIsPersisted(t *testing.T) {
	dir := t.TempDir()
	s, _, _ := testStore(t, func(c *Config) { c.StateDir = dir })
	first := time.UnixMilli(1600000000000)
	s.now = func() time.Time { return first }
	s.reset()
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	r, _, _ := testStore(t, func(c *Config) { c.StateDir = dir; c.LearningPeriod = time.Hour })
	if err := r.Load(); err != nil {
		t.Fatal(err)
	}
	if !r.FirstStart().Equal(first) || r.learning() {
		t.Fatalf("first start %v learning %v, want %v and done", r.FirstStart(), r.learning(), first)
	}
}

func TestCorruptStateIsSetAside(t *testing.T) {
	good := func(t *testing.T) []byte {
		dir := t.TempDir()
		s := populated(t, dir)
		if err := s.Save(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, StateFileName))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		data func(t *testing.T) []byte
		want string // in the error text
	}{
		{"a truncated file", func(t *testing.T) []byte { b := good(t); return b[:len(b)*2/3] }, "truncated"},
		{"a file cut at a line end", func(t *testing.T) []byte {
			b := good(t)
			return b[:bytes.LastIndexByte(b[:len(b)-1], '\n')+1]
		}, "trailer"},
		{"garbage", func(t *testing.T) []byte { return []byte("\x00\x01garbage\xff\n{not json\n") }, "bad header"},
		{"a flipped byte", func(t *testing.T) []byte {
			b := good(t)
			b[len(b)/3] ^= 0x20
			return b
		}, ""},
		{"an empty file", func(t *testing.T) []byte { return nil }, "truncated"},
		{"a newer version", func(t *testing.T) []byte {
			return []byte(strings.Replace(string(good(t)), `"version":1`, `"version":2`, 1))
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, StateFileName)
			data := tc.data(t)
			must(t, os.WriteFile(p, data, 0o600))
			s, m, _ := testStore(t, func(c *Config) { c.StateDir = dir })
			now := time.Unix(1800000000, 0)
			s.now = func() time.Time { return now }
			err := s.Load()
			var ce *CorruptStateError
			if !errors.Is(err, ErrCorruptState) || !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want a corrupt state error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want it to mention %q", err, tc.want)
			}
			if ce.MovedTo != p+".corrupt-1800000000" {
				t.Fatalf("moved to %q", ce.MovedTo)
			}
			if moved, err := os.ReadFile(ce.MovedTo); err != nil || !bytes.Equal(moved, data) {
				t.Fatalf("the set-aside file does not hold the original bytes: %v", err)
			}
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the corrupt file is still in place: %v", err)
			}
			if got := testutil.ToFloat64(m.loadErrors); got != 1 {
				t.Fatalf("load errors = %v, want 1", got)
			}
			if st := s.Stats(); st.Seen != 0 || st.Files != 0 {
				t.Fatalf("store not empty after a corrupt load: %+v", st)
			}
			// The store still works and saves a good file.
			s.Observe(finitEv(t, 0, 1, tp{pid: 9, ppid: 1, comm: "m", exe: "/m"}, "mod"))
			if err := s.Save(); err != nil {
				t.Fatal(err)
			}
			r, _, _ := testStore(t, func(c *Config) { c.StateDir = dir })
			if err := r.Load(); err != nil || !r.SeenBefore(SeenModule, "mod") {
				t.Fatalf("reload after recovery: %v", err)
			}
		})
	}
}

func TestSaveFailsCleanly(t *testing.T) {
	if os.Geteuid() == 0 {
		// Root writes into read-only dirs; use a state dir that is a file.
		dir := filepath.Join(t.TempDir(), "file")
		must(t, os.WriteFile(dir, nil, 0o600))
		s, m, _ := testStore(t, func(c *Config) { c.StateDir = dir })
		if err := s.Save(); err == nil {
			t.Fatal("Save into a file succeeded")
		}
		if testutil.ToFloat64(m.saveErrors) != 1 {
			t.Fatal("save error not counted")
		}
		return
	}
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o500))
	t.Cleanup(func() { must(t, os.Chmod(dir, 0o700)) })
	s, m, _ := testStore(t, func(c *Config) { c.StateDir = dir })
	if err := s.Save(); err == nil || testutil.ToFloat64(m.saveErrors) != 1 {
		t.Fatalf("Save into a read-only dir = %v", err)
	}
}

func FuzzDecodeState(f *testing.F) {
	dir := f.TempDir()
	s, _, _ := testStore(f, func(c *Config) { c.StateDir = dir })
	s.MarkSeen(SeenModule, "a\xffb", time.UnixMilli(1))
	s.MarkSeen(SeenKmodArgs, "insmod\x00/tmp/x.ko", time.UnixMilli(2))
	var b bytes.Buffer
	must(f, writeSnapshot(&b, s.Snapshot()))
	f.Add(b.Bytes())
	body := b.Bytes()[:bytes.LastIndexByte(b.Bytes()[:b.Len()-1], '\n')+1]
	f.Add(bytes.Clone(body)) // trailer gets rebuilt in the fuzz body
	f.Add([]byte(""))
	f.Add([]byte("{}\n{\"t\":\"end\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		// Also with a valid trailer, so that mutations reach the header
		// and entry decoding past the checksum.
		if len(data) > 0 && data[len(data)-1] == '\n' {
			sum := sha256.Sum256(data)
			lines := bytes.Count(data, []byte{'\n'}) - 1
			checkDecode(t, fmt.Appendf(bytes.Clone(data), `{"t":"end","lines":%d,"sha256":"%x"}`+"\n", lines, sum))
		}
	})
}

func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	sn, err := decodeState(data)
	if (sn == nil) == (err == nil) {
		t.Fatalf("decodeState returned %v and %v: want exactly one", sn, err)
	}
	if err != nil {
		return
	}
	// A valid state restores and re-encodes to a valid state.
	st, _, _ := testStore(t, nil)
	st.restore(sn)
	var out bytes.Buffer
	if _, err := st.Snapshot().WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeState(out.Bytes()); err != nil {
		t.Fatalf("re-encoded state does not decode: %v", err)
	}
}

// writeSnapshot writes sn to w, the byte count aside.
func writeSnapshot(w io.Writer, sn *Snapshot) error {
	_, err := sn.WriteTo(w)
	return err
}
