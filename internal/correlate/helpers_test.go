package correlate

import (
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/auditeventtest"
)

// baseSec is the event clock of the tests: 2023-11-14T22:13:20Z.
const baseSec = 1700000000

func testStore(t testing.TB, mod func(*Config)) (*Store, *Metrics, *prometheus.Registry) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.StateDir, cfg.ProcRoot = "", ""
	if mod != nil {
		mod(&cfg)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	if err != nil {
		t.Fatal(err)
	}
	return s, m, reg
}

// ev builds an event from audit.log lines of one serial.
func ev(t testing.TB, lines ...string) *auditevent.Event {
	t.Helper()
	return auditeventtest.Event(t, lines...)
}

// stamp renders the msg=audit(...) header for ms milliseconds after baseSec.
func stamp(ms int64, serial int) string {
	return fmt.Sprintf("msg=audit(%d.%03d:%d):", baseSec+ms/1000, ms%1000, serial)
}

// proc names the acting process of a test event.
type tp struct {
	pid, ppid  int
	comm, exe  string
	uid, auid  int
	args       []string // for exec
	cwd        string
	hexExeName bool
}

func syscallLine(ms int64, serial int, nr int, success string, exit int64, a0, a1, a2 uint64, items int, p tp) string {
	exe := `"` + p.exe + `"`
	if p.hexExeName {
		exe = strings.ToUpper(hex.EncodeToString([]byte(p.exe)))
	}
	auid := fmt.Sprint(p.auid)
	if p.auid < 0 {
		auid = "4294967295"
	}
	return fmt.Sprintf(`type=SYSCALL %s arch=c000003e syscall=%d success=%s exit=%d a0=%x a1=%x a2=%x a3=0 items=%d ppid=%d pid=%d auid=%s uid=%d gid=0 euid=%d suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="%s" exe=%s key=(null)`,
		stamp(ms, serial), nr, success, exit, a0, a1, a2, items, p.ppid, p.pid, auid, p.uid, p.uid, p.comm, exe)
}

// untrusted renders a value the way the kernel does: quoted if plain,
// hex otherwise.
func untrusted(s string) string {
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == '"' {
			return strings.ToUpper(hex.EncodeToString([]byte(s)))
		}
	}
	return `"` + s + `"`
}

func execEv(t testing.TB, ms int64, serial int, p tp) *auditevent.Event {
	lines := []string{syscallLine(ms, serial, 59, "yes", 0, 0x55d0c0, 0x55d0d0, 0x55d0e0, 2, p)}
	var b strings.Builder
	fmt.Fprintf(&b, "type=EXECVE %s argc=%d", stamp(ms, serial), len(p.args))
	for i, a := range p.args {
		fmt.Fprintf(&b, " a%d=%s", i, untrusted(a))
	}
	lines = append(lines, b.String(),
		fmt.Sprintf("type=CWD %s cwd=%s", stamp(ms, serial), untrusted(p.cwd)),
		fmt.Sprintf("type=PATH %s item=0 name=%s inode=1234 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0", stamp(ms, serial), untrusted(p.exe)),
		fmt.Sprintf("type=PROCTITLE %s proctitle=%s", stamp(ms, serial), strings.ToUpper(hex.EncodeToString([]byte(strings.Join(p.args, "\x00"))))),
	)
	return ev(t, lines...)
}

func failedExecEv(t testing.TB, ms int64, serial int, p tp) *auditevent.Event {
	return ev(t, syscallLine(ms, serial, 59, "no", -2, 0x55d0c0, 0x55d0d0, 0x55d0e0, 1, p),
		fmt.Sprintf("type=CWD %s cwd=%s", stamp(ms, serial), untrusted(p.cwd)))
}

// cloneEv: p calls clone (56) and gets child; flags is a0.
func cloneEv(t testing.TB, ms int64, serial int, p tp, child int, flags uint64) *auditevent.Event {
	return ev(t, syscallLine(ms, serial, 56, "yes", int64(child), flags, 0, 0, 0, p))
}

func forkEv(t testing.TB, ms int64, serial int, p tp, child int) *auditevent.Event {
	return ev(t, syscallLine(ms, serial, 57, "yes", int64(child), 0, 0, 0, 0, p))
}

func exitEv(t testing.TB, ms int64, serial int, p tp) *auditevent.Event {
	return ev(t, fmt.Sprintf(`type=SYSCALL %s arch=c000003e syscall=231 a0=0 a1=0 a2=0 a3=0 items=0 ppid=%d pid=%d auid=%d uid=%d gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="%s" exe="%s" key=(null)`,
		stamp(ms, serial), p.ppid, p.pid, p.auid, p.uid, p.comm, p.exe))
}

// openEv: p calls openat(AT_FDCWD, name, flags); nametype is NORMAL or
// CREATE (then a PARENT record comes first).
func openEv(t testing.TB, ms int64, serial int, p tp, name string, flags uint64, nametype string, inode uint64, success string) *auditevent.Event {
	exit := int64(3)
	if success == "no" {
		exit = -13
	}
	lines := []string{syscallLine(ms, serial, 257, success, exit, 0xffffff9c, 0x7ffd0000, flags, 2, p),
		fmt.Sprintf("type=CWD %s cwd=%s", stamp(ms, serial), untrusted(p.cwd))}
	item := 0
	if nametype == "CREATE" {
		lines = append(lines, fmt.Sprintf("type=PATH %s item=0 name=%s inode=77 dev=08:01 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0", stamp(ms, serial), untrusted(filepath.Dir(name)+"/")))
		item = 1
	}
	lines = append(lines, fmt.Sprintf("type=PATH %s item=%d name=%s inode=%d dev=08:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=%s cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0", stamp(ms, serial), item, untrusted(name), inode, nametype))
	return ev(t, lines...)
}

// renameEv: p calls rename(2) (82) from old to new.
func renameEv(t testing.TB, ms int64, serial int, p tp, old, new string, inode uint64) *auditevent.Event {
	h := stamp(ms, serial)
	return ev(t, syscallLine(ms, serial, 82, "yes", 0, 0x7ffd0000, 0x7ffd1000, 0, 4, p),
		fmt.Sprintf("type=CWD %s cwd=%s", h, untrusted(p.cwd)),
		fmt.Sprintf("type=PATH %s item=0 name=%s inode=77 dev=08:01 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT", h, untrusted(filepath.Dir(old)+"/")),
		fmt.Sprintf("type=PATH %s item=1 name=%s inode=78 dev=08:01 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT", h, untrusted(filepath.Dir(new)+"/")),
		fmt.Sprintf("type=PATH %s item=2 name=%s inode=%d dev=08:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=DELETE", h, untrusted(old), inode),
		fmt.Sprintf("type=PATH %s item=3 name=%s inode=%d dev=08:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE", h, untrusted(new), inode))
}

// finitEv: p calls finit_module (313); module "" means no KERN_MODULE.
func finitEv(t testing.TB, ms int64, serial int, p tp, module string) *auditevent.Event {
	lines := []string{syscallLine(ms, serial, 313, "yes", 0, 3, 0x55e000, 0, 0, p)}
	if module != "" {
		lines = append(lines, fmt.Sprintf("type=KERN_MODULE %s name=%s", stamp(ms, serial), untrusted(module)))
	}
	return ev(t, lines...)
}

// fakeProc is a procfs tree in a temp dir.
type fakeProc struct {
	t    testing.TB
	root string
}

const fakeBtime = baseSec - 3600 // booted an hour before the test clock

func newFakeProc(t testing.TB) *fakeProc {
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "stat"), []byte("cpu  1 2 3 4\nbtime "+fmt.Sprint(fakeBtime)+"\nprocesses 99\n"), 0o644))
	return &fakeProc{t: t, root: root}
}

// ticksAt returns the stat starttime of a process started ms after baseSec.
func ticksAt(ms int64) uint64 { return uint64((3600*1000 + ms) / 10) }

type fakeProcess struct {
	pid, ppid int
	comm, exe string
	args      []string
	cwd       string
	uid, auid uint32
	startMs   int64 // ms after baseSec (negative: before)
	cgroup    string
	statOnly  bool // write only stat (cheap, for bulk trees)
}

func (f *fakeProc) add(p fakeProcess) {
	dir := filepath.Join(f.root, fmt.Sprint(p.pid))
	os.RemoveAll(dir)
	must(f.t, os.MkdirAll(dir, 0o755))
	fields := []string{fmt.Sprint(p.pid), "(" + p.comm + ")", "S", fmt.Sprint(p.ppid)}
	for range 17 {
		fields = append(fields, "0")
	}
	fields = append(fields, fmt.Sprint(ticksAt(p.startMs)), "0", "0", "0")
	must(f.t, os.WriteFile(filepath.Join(dir, "stat"), []byte(strings.Join(fields, " ")+"\n"), 0o644))
	if p.statOnly {
		return
	}
	if p.exe != "" {
		must(f.t, os.Symlink(p.exe, filepath.Join(dir, "exe")))
	}
	if p.cwd != "" {
		must(f.t, os.Symlink(p.cwd, filepath.Join(dir, "cwd")))
	}
	cmd := ""
	if len(p.args) > 0 {
		cmd = strings.Join(p.args, "\x00") + "\x00"
	}
	must(f.t, os.WriteFile(filepath.Join(dir, "cmdline"), []byte(cmd), 0o644))
	must(f.t, os.WriteFile(filepath.Join(dir, "status"), fmt.Appendf(nil, "Name:\t%s\nUid:\t%d\t%d\t%d\t%d\n", p.comm, p.uid, p.uid, p.uid, p.uid), 0o644))
	must(f.t, os.WriteFile(filepath.Join(dir, "loginuid"), []byte(fmt.Sprint(p.auid)), 0o644))
	must(f.t, os.WriteFile(filepath.Join(dir, "cgroup"), []byte(p.cgroup), 0o644))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// loadOf returns the module load of f, false when f has none.
func loadOf(f Facts) (ModuleLoad, bool) {
	if f.Load == nil {
		return ModuleLoad{}, false
	}
	return *f.Load, true
}
