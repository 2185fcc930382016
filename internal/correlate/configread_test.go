package correlate

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// unlinkEv: p calls unlinkat(AT_FDCWD, name, 0) (263).
func unlinkEv(t testing.TB, ms int64, serial int, p tp, name string, inode uint64) *auditevent.Event {
	h := stamp(ms, serial)
	return ev(t, syscallLine(ms, serial, 263, "yes", 0, 0xffffff9c, 0x7ffd0000, 0, 2, p),
		fmt.Sprintf("type=CWD %s cwd=%s", h, untrusted(p.cwd)),
		fmt.Sprintf("type=PATH %s item=0 name=%s inode=77 dev=08:01 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT", h, untrusted(filepath.Dir(name)+"/")),
		fmt.Sprintf("type=PATH %s item=1 name=%s inode=%d dev=08:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=DELETE", h, untrusted(name), inode))
}

// TestConfigReadsOfAStorm: the configuration files of a batch are read
// once it is handled, except those a later event of the batch deleted or
// renamed away; a file that stays, hidden in a storm of short-lived ones,
// is read and what it names kept, as is one looked up before the batch
// ends.
func TestConfigReadsOfAStorm(t *testing.T) {
	s, m, evil := liveConfigStore(t, "evil.conf", "install evil-cfg /sbin/insmod /tmp/payload.ko\n")
	dir := filepath.Dir(evil)
	w := tp{pid: 4000, ppid: 1, comm: "lg", exe: "/usr/bin/lg", cwd: "/"}
	const junk = 50
	serial := 100
	next := func() int { serial++; return serial }
	for i := range junk {
		tmp := filepath.Join(dir, fmt.Sprintf("lg-%d.tmp", i))
		conf := filepath.Join(dir, fmt.Sprintf("lg-%d.conf", i))
		ino := uint64(1000 + i)
		s.Observe(openEv(t, int64(i), next(), w, tmp, 0xc1, "CREATE", ino, "yes"))
		s.Observe(renameEv(t, int64(i), next(), w, tmp, conf, ino))
		s.Observe(unlinkEv(t, int64(i), next(), w, conf, ino))
		if i == junk/2 {
			s.Observe(openEv(t, int64(i), next(), w, evil, 0xc1, "CREATE", 999, "yes"))
		}
	}
	if n := testutil.ToFloat64(m.configReads); n != 0 {
		t.Fatalf("config reads before the batch ended = %v, want 0", n)
	}
	s.ReadConfigs()
	if n := testutil.ToFloat64(m.configReads); n != 1 {
		t.Errorf("config reads = %v, want 1 (evil.conf)", n)
	}
	if n := testutil.ToFloat64(m.configReadsSkipped); n != 2*junk {
		t.Errorf("config reads skipped = %v, want %d (each .tmp renamed away, each .conf deleted)", n, 2*junk)
	}
	cw, ok := s.ConfigWrite(evil)
	if !ok || !slices.Equal(cw.Names, []string{"evil_cfg"}) || !slices.Equal(cw.Files, []string{"/tmp/payload.ko"}) {
		t.Fatalf("evil.conf write = %+v, %v", cw, ok)
	}
	s.ReadConfigs() // nothing pending: nothing read again
	if n := testutil.ToFloat64(m.configReads); n != 1 {
		t.Errorf("config reads after a second ReadConfigs = %v, want 1", n)
	}

	// Looked up before the batch ends: read then, once.
	other := filepath.Join(dir, "other.conf")
	must(t, os.WriteFile(other, []byte("options other-mod x=1\n"), 0o644))
	s.Observe(openEv(t, 100, next(), w, other, 0xc1, "CREATE", 998, "yes"))
	if cw, ok := s.ConfigWrite(other); !ok || !slices.Equal(cw.Names, []string{"other_mod"}) {
		t.Fatalf("other.conf write = %+v, %v", cw, ok)
	}
	s.ReadConfigs()
	if n := testutil.ToFloat64(m.configReads); n != 2 {
		t.Errorf("config reads = %v, want 2", n)
	}

	// What the reads learnt is in the table's byte estimate.
	var sum int64
	for e := s.files.oldest; e != nil; e = e.next {
		if e.size != fileSize(&e.w) {
			t.Errorf("%s: size %d, want %d", e.w.Path, e.size, fileSize(&e.w))
		}
		sum += e.size
	}
	if sum != s.files.bytes {
		t.Errorf("table bytes %d, entries sum to %d", s.files.bytes, sum)
	}
}

// TestConfigReadBeforeALoad: a configuration file written in the batch of
// the load that follows it is read before the load links it, and what it
// named stays with its write once a later event of the batch deletes it.
func TestConfigReadBeforeALoad(t *testing.T) {
	s, _, conf := liveConfigStore(t, "zz.conf", "install evil-cfg /sbin/insmod /tmp/payload.ko\n")
	w := tp{pid: 4000, ppid: 1, comm: "sh", exe: "/bin/sh", cwd: "/"}
	s.Observe(openEv(t, 0, 1, w, conf, 0xc1, "CREATE", 999, "yes"))
	ins := tp{pid: 4001, ppid: 1, comm: "insmod", exe: "/usr/bin/kmod", args: []string{"insmod", "/tmp/payload.ko"}, cwd: "/"}
	s.Observe(execEv(t, 1, 2, ins))
	ml, ok := loadOf(s.Observe(finitEv(t, 2, 3, ins, "")))
	if !ok || len(ml.Configs) != 1 || !slices.Equal(ml.Configs[0].Write.Names, []string{"evil_cfg"}) {
		t.Fatalf("load = %+v, %v", ml, ok)
	}
	must(t, os.Remove(conf))
	s.Observe(unlinkEv(t, 3, 4, w, conf, 999))
	s.ReadConfigs()
	if cw, ok := s.ConfigWrite(conf); !ok || !slices.Equal(cw.Names, []string{"evil_cfg"}) {
		t.Fatalf("zz.conf write after its deletion = %+v, %v", cw, ok)
	}
}

// liveConfigStore returns a live store (a fake /proc) and the path of a
// configuration file name holding content, in a modprobe.d of its own.
func liveConfigStore(t *testing.T, name, content string) (*Store, *Metrics, string) {
	t.Helper()
	fp := newFakeProc(t)
	dir := filepath.Join(t.TempDir(), "modprobe.d")
	must(t, os.MkdirAll(dir, 0o755))
	conf := filepath.Join(dir, name)
	must(t, os.WriteFile(conf, []byte(content), 0o644))
	s, m, _ := testStore(t, func(c *Config) { c.ProcRoot = fp.root })
	return s, m, conf
}
