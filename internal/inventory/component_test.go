package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/auditeventtest"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/detections"
)

func buildEvent(t *testing.T, lines ...string) *auditevent.Event { return buildEventB(t, lines...) }

func buildEventB(t testing.TB, lines ...string) *auditevent.Event {
	t.Helper()
	return auditeventtest.Event(t, lines...)
}

// copyTree copies the recorded kernel views into a writable directory.
func copyTree(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if out, err := exec.Command("cp", "-a", filepath.Join("testdata", "debian12-6.1")+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

// addSysModule makes /sys/module/<name> of a loadable module.
func addSysModule(t *testing.T, root, name, taint string) {
	t.Helper()
	d := filepath.Join(root, "sys", "module", name)
	for _, sub := range []string{"holders", "sections", "notes"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for f, v := range map[string]string{"initstate": "live\n", "refcnt": "0\n", "coresize": "16384\n", "taint": taint + "\n",
		"sections/.text": "0xffffffffc0400000\n", "sections/.gnu.linkonce.this_module": "0xffffffffc0402000\n"} {
		if err := os.WriteFile(filepath.Join(d, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func appendProcModule(t *testing.T, root, line string) {
	t.Helper()
	p := filepath.Join(root, "proc", "modules")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(b, line+"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The records the kernel writes for `insmod /root/hideme.ko` (finit_module
// with its KERN_MODULE record), in the 6.1 format.
func insmodEvent(t *testing.T, sec int64, serial int, name string) *auditevent.Event {
	ts := "audit(" + itoa64(sec) + ".250:" + itoa64(int64(serial)) + "): "
	return buildEvent(t,
		`type=SYSCALL msg=`+ts+`arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=56210d6a32a0 a2=0 a3=0 items=0 ppid=180 pid=201 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=ttyS0 ses=1 comm="insmod" exe="/usr/bin/kmod" key="auditlkm-module"`,
		`type=KERN_MODULE msg=`+ts+`name="`+name+`"`,
		`type=PROCTITLE msg=`+ts+`proctitle=696E736D6F64002F726F6F742F6869646531E2E6B6F`,
	)
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

type collector chan *detections.CrossViewFinding

func (c collector) emit(ctx context.Context, f *detections.CrossViewFinding) {
	select {
	case c <- f:
	case <-ctx.Done():
	}
}

func (c collector) wait(t *testing.T, kind string) *detections.CrossViewFinding {
	t.Helper()
	select {
	case f := <-c:
		if f.Kind != kind {
			t.Fatalf("finding %s %q, want %s", f.Kind, f.Module.Name, kind)
		}
		return f
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s finding", kind)
	}
	return nil
}

func (c collector) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case f := <-c:
		t.Fatalf("unexpected finding %s %q", f.Kind, f.Module.Name)
	case <-time.After(d):
	}
}

func testConfig(root, state string) Config {
	cfg := DefaultConfig()
	cfg.ProcRoot, cfg.SysRoot, cfg.StateDir = filepath.Join(root, "proc"), filepath.Join(root, "sys"), state
	cfg.Interval, cfg.Settle, cfg.Confirm, cfg.UnknownGrace = 0, 50*time.Millisecond, 150*time.Millisecond, 300*time.Millisecond
	return cfg
}

func start(t *testing.T, cfg Config) (*Component, collector, func()) {
	t.Helper()
	col := make(collector, 16)
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, nil, m, col.emit)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	return c, col, func() { cancel(); <-done }
}

func TestComponentHiddenAndRestart(t *testing.T) {
	root, state := copyTree(t), t.TempDir()
	ko := filepath.Join(root, "hideme.ko")
	if err := os.WriteFile(ko, []byte("\x7fELF not really a module"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, col, stop := start(t, testConfig(root, state))
	col.none(t, 300*time.Millisecond) // the baseline raises nothing

	// The module loads, unlinks itself from the module list, keeps sysfs.
	addSysModule(t, root, "hideme", "OE")
	ev := insmodEvent(t, time.Now().Unix(), 4242, "hideme")
	ev.Cwd, ev.HasCwd = root, true
	ev.Argv, ev.HasExecve = []string{"insmod", ko}, true
	// The correlation store resolves the module file from insmod's
	// argument, as in the daemon.
	ccfg := correlate.DefaultConfig()
	ccfg.StateDir, ccfg.ProcRoot = "", ""
	cm, err := correlate.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	store, err := correlate.New(ccfg, slog.New(slog.DiscardHandler), cm)
	if err != nil {
		t.Fatal(err)
	}
	facts := store.Observe(ev)
	c.Observe(ev, facts.Load, store)
	f := col.wait(t, detections.FindingHidden)
	sum := sha256.Sum256([]byte("\x7fELF not really a module"))
	if f.Module.Name != "hideme" || f.Trace != "sysfs" || f.Load == nil || f.Load.Serial != 4242 ||
		f.Load.Process.Comm != "insmod" || f.Load.Process.PID != 201 || f.Load.Parent == nil || f.Load.Parent.PID != 180 ||
		f.Load.File != ko || f.Load.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("hidden finding: %+v load %+v", f, f.Load)
	}
	stop()

	// The inventory survives a restart: the load is still known, the
	// hidden module is not reported again, a new module is unknown once.
	appendProcModule(t, root, "blind 16384 0 - Live 0xffffffffc0500000")
	addSysModule(t, root, "blind", "")
	c2, col2, stop2 := start(t, testConfig(root, state))
	defer stop2()
	u := col2.wait(t, detections.FindingUnknown)
	if u.Module.Name != "blind" || !u.AtStart {
		t.Fatalf("unknown finding: %+v", u)
	}
	col2.none(t, 400*time.Millisecond)
	var found bool
	for _, e := range c2.Entries() {
		if e.Name == "hideme" {
			found = e.Load != nil && e.Load.Serial == 4242 && e.Hidden == "sysfs" && e.ReportedHidden
		}
	}
	if !found {
		t.Errorf("hideme's load not restored: %+v", c2.Entries())
	}
}

func TestComponentTaintAndUnload(t *testing.T) {
	root, state := copyTree(t), t.TempDir()
	tainted := filepath.Join(root, "proc", "sys", "kernel", "tainted")
	if err := os.WriteFile(tainted, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, col, stop := start(t, testConfig(root, state))
	defer stop()
	col.none(t, 300*time.Millisecond)
	appendProcModule(t, root, "oot 16384 0 - Live 0xffffffffc0500000 (OE)")
	addSysModule(t, root, "oot", "OE")
	if err := os.WriteFile(tainted, []byte("12288\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Observe(insmodEvent(t, time.Now().Unix(), 77, "oot"), nil, nil)
	f := col.wait(t, detections.FindingTaint)
	if f.Load == nil || f.Load.Module != "oot" || len(f.NewTaint) != 2 || f.NewTaint[0].Letter != "O" || f.NewTaint[1].Letter != "E" {
		t.Fatalf("taint finding: %+v", f)
	}
	col.none(t, 400*time.Millisecond) // audited load, in both views: nothing else

	// Another host's load (a node name) says nothing of this kernel.
	remote := insmodEvent(t, time.Now().Unix(), 90, "remote_only")
	remote.Node = "hostB"
	c.Observe(remote, nil, nil)
	for _, e := range c.Entries() {
		if e.Name == "remote_only" {
			t.Errorf("another host's load recorded: %+v", e)
		}
	}

	// rmmod: the module leaves both views; the audited unload explains it.
	if err := os.RemoveAll(filepath.Join(root, "sys", "module", "oot")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "proc", "modules"))
	if err := os.WriteFile(filepath.Join(root, "proc", "modules"), []byte(strings.Replace(string(b), "oot 16384 0 - Live 0xffffffffc0500000 (OE)\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Observe(buildEvent(t,
		`type=SYSCALL msg=audit(`+itoa64(time.Now().Unix())+`.500:78): arch=c000003e syscall=176 success=yes exit=0 a0=55d0c8a1e2b8 a1=800 a2=0 a3=0 items=0 ppid=180 pid=202 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=ttyS0 ses=1 comm="rmmod" exe="/usr/bin/kmod" key="auditlkm-module"`,
		`type=KERN_MODULE msg=audit(`+itoa64(time.Now().Unix())+`.500:78): name="oot"`), nil, nil)
	col.none(t, 600*time.Millisecond)
	for _, e := range c.Entries() {
		if e.Name == "oot" {
			t.Errorf("oot still in the inventory after its unload: %+v", e)
		}
	}
}
