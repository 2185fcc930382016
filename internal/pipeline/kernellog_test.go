package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/kmsg"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// The real lines of an unsigned out-of-tree module's load (Debian 6.1
// guest, issue 12), as /dev/kmsg gives them.
const (
	lineOutOfTree = "hello_oot: loading out-of-tree module taints kernel."
	lineUnsigned  = "hello_oot: module verification failed: signature and/or required key missing - tainting kernel"
	lineRejected  = "Loading of unsigned module is rejected"
)

// loadAt is the base time of loadRecords (1763790000.100).
var loadAt = time.UnixMilli(1763790000100)

// loadRecords is insmod of ko with the given finit_module result (and a
// KERN_MODULE record when module is not empty), serials 7 and 8.
func loadRecords(ko, module, result string) []string {
	const stamp, stamp2 = "1763790000.100:7", "1763790000.120:8"
	recs := []string{
		`type=SYSCALL msg=audit(` + stamp + `): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=2 ppid=1 pid=500 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="insmod" exe="/usr/bin/kmod" key=(null)`,
		`type=EXECVE msg=audit(` + stamp + `): argc=2 a0="insmod" a1=` + fmt.Sprintf("%X", ko),
		`type=EOE msg=audit(` + stamp + `): `,
		`type=SYSCALL msg=audit(` + stamp2 + `): arch=c000003e syscall=313 ` + result + ` a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=500 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="insmod" exe="/usr/bin/kmod" key=(null)`,
	}
	if module != "" {
		recs = append(recs, `type=KERN_MODULE msg=audit(`+stamp2+`): name="`+module+`"`)
	}
	return append(recs, `type=EOE msg=audit(`+stamp2+`): `)
}

type klogFixture struct {
	p    *Processor
	sink *collect
	now  time.Time
	ko   string
}

func newKlogFixture(t *testing.T) *klogFixture {
	t.Helper()
	dir := t.TempDir()
	ko := filepath.Join(dir, "hello_oot.ko")
	b, err := os.ReadFile("../modfile/testdata/hello_oot-unsigned.ko")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ko, b, 0o600); err != nil {
		t.Fatal(err)
	}
	store := memoryStore(t, true)
	cat, err := detections.NewCatalog(detections.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	f := &klogFixture{sink: &collect{}, now: loadAt, ko: ko}
	pm, err := NewMetrics(prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.p, err = NewProcessor(reassemble.ReplayConfig(), cat, store, f.sink, nil, pm, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.p.now = func() time.Time { return f.now }
	return f
}

func (f *klogFixture) push(t *testing.T, recs []string) {
	t.Helper()
	for _, l := range recs {
		r, err := auditevent.ParseLine([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		f.p.Push(r)
	}
}

func (f *klogFixture) line(msg string, facility uint8, at time.Time) {
	f.p.KernelLog(&kmsg.Line{Seq: 900, Facility: facility, Level: 4, Monotonic: 42 * time.Second, Time: at, Message: msg})
}

// kernelLogAlerts returns the written kernel-log alerts by rule id.
func (f *klogFixture) kernelLogAlerts() map[string]detections.Alert {
	out := map[string]detections.Alert{}
	for _, a := range f.sink.alerts {
		if a.KernelLog != nil {
			out[a.Rule.ID] = a
		}
	}
	return out
}

func checkTied(t *testing.T, a detections.Alert, ko, match string) {
	t.Helper()
	if a.Event == nil || a.Event.Serial != 8 || a.Process.PID != 500 || a.Process.Name() != "insmod" {
		t.Errorf("%s: not tied to the load: event %v process %+v", a.Rule.ID, a.Event, a.Process)
		return
	}
	if a.File == nil || a.File.Path != ko || a.ModuleFile == nil || a.ModuleFile.Info == nil || a.ModuleFile.Info.Modinfo.Name != "hello_oot" {
		t.Errorf("%s: file %+v module file %+v", a.Rule.ID, a.File, a.ModuleFile)
	}
	if len(a.Related) != 1 || a.Related[0].Role != detections.RoleModuleLoad || a.Related[0].Serial != 8 ||
		a.Related[0].Match != match || a.Related[0].Path != ko || a.Related[0].Process.PID != 500 {
		t.Errorf("%s: related %+v", a.Rule.ID, a.Related)
	}
}

func TestKernelLogTiedToItsLoadInEitherOrder(t *testing.T) {
	t.Run("the lines come first (as the kernel prints them): held, then tied", func(t *testing.T) {
		f := newKlogFixture(t)
		f.line(lineOutOfTree, kmsg.FacilityKernel, loadAt.Add(10*time.Millisecond))
		f.line(lineUnsigned, kmsg.FacilityKernel, loadAt.Add(10*time.Millisecond))
		if got := len(f.kernelLogAlerts()); got != 0 {
			t.Fatalf("%d kernel-log alerts written before their load", got)
		}
		f.now = f.now.Add(300 * time.Millisecond)
		f.push(t, loadRecords(f.ko, "hello_oot", "success=yes exit=0"))
		got := f.kernelLogAlerts()
		if len(got) != 2 {
			t.Fatalf("kernel-log alerts %v", got)
		}
		checkTied(t, got[detections.KernelLogOutOfTreeID], f.ko, correlate.MatchKernModule)
		checkTied(t, got[detections.KernelLogUnsignedID], f.ko, correlate.MatchKernModule)
		if a := got[detections.KernelLogOutOfTreeID]; a.Parent == nil || a.Parent.PID != 1 || len(a.Ancestors) == 0 && a.Parent == nil {
			t.Errorf("parent %+v", a.Parent)
		}
		if s := f.p.Stats().KernelLog; s != (KernelLogStats{Held: 2, Tied: 2}) {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("the load comes first: tied at once", func(t *testing.T) {
		f := newKlogFixture(t)
		f.push(t, loadRecords(f.ko, "hello_oot", "success=yes exit=0"))
		f.line(lineOutOfTree, kmsg.FacilityKernel, loadAt.Add(30*time.Millisecond))
		got := f.kernelLogAlerts()
		checkTied(t, got[detections.KernelLogOutOfTreeID], f.ko, correlate.MatchKernModule)
		if s := f.p.Stats().KernelLog; s != (KernelLogStats{}) {
			t.Errorf("stats %+v: nothing should have been held", s)
		}
	})
	t.Run("a refused load has no KERN_MODULE record: the module file's name ties it", func(t *testing.T) {
		f := newKlogFixture(t)
		other := filepath.Join(filepath.Dir(f.ko), "innocent.ko") // named otherwise
		if err := os.Rename(f.ko, other); err != nil {
			t.Fatal(err)
		}
		f.line("hello_oot: version magic '5.10.0 SMP mod_unload ' should be '6.1.0-57-amd64 SMP preempt mod_unload modversions '", kmsg.FacilityKernel, loadAt)
		f.push(t, loadRecords(other, "", "success=no exit=-8"))
		checkTied(t, f.kernelLogAlerts()[detections.KernelLogRejectedID], other, correlate.MatchModuleFile)
	})
	t.Run("a rejection naming no module is tied to the refused load", func(t *testing.T) {
		f := newKlogFixture(t)
		f.line(lineRejected, kmsg.FacilityKernel, loadAt)
		f.push(t, loadRecords(f.ko, "", "success=no exit=-129"))
		checkTied(t, f.kernelLogAlerts()[detections.KernelLogRejectedID], f.ko, correlate.MatchRefused)
	})
	t.Run("no load within the hold: written untied at the next tick", func(t *testing.T) {
		f := newKlogFixture(t)
		f.line(lineOutOfTree, kmsg.FacilityKernel, loadAt)
		f.p.Advance(loadAt.UnixMilli())
		if len(f.kernelLogAlerts()) != 0 {
			t.Fatal("written before the hold ended")
		}
		f.now = f.now.Add(KernelLogHold)
		f.p.Advance(f.now.UnixMilli())
		a, ok := f.kernelLogAlerts()[detections.KernelLogOutOfTreeID]
		if !ok || a.Event != nil || len(a.Related) != 0 {
			t.Fatalf("alert %+v %v", a, ok)
		}
		if s := f.p.Stats().KernelLog; s != (KernelLogStats{Held: 1, Expired: 1}) {
			t.Errorf("stats %+v", s)
		}
		// A load after the hold is no longer tied (and the line is out).
		f.push(t, loadRecords(f.ko, "hello_oot", "success=yes exit=0"))
		if s := f.p.Stats().KernelLog; s.Tied != 0 {
			t.Errorf("tied after expiry: %+v", s)
		}
	})
	t.Run("another module's load does not take the line", func(t *testing.T) {
		f := newKlogFixture(t)
		f.line("other_mod: loading out-of-tree module taints kernel.", kmsg.FacilityKernel, loadAt)
		f.push(t, loadRecords(f.ko, "hello_oot", "success=yes exit=0"))
		if len(f.kernelLogAlerts()) != 0 || len(f.p.held) != 1 {
			t.Fatalf("alerts %v held %d", f.kernelLogAlerts(), len(f.p.held))
		}
		f.p.Flush() // shutdown writes what is held
		if len(f.kernelLogAlerts()) != 1 || len(f.p.held) != 0 {
			t.Fatalf("after flush: alerts %d held %d", len(f.kernelLogAlerts()), len(f.p.held))
		}
	})
	t.Run("a line from the backlog (logged before the hold) is not held", func(t *testing.T) {
		f := newKlogFixture(t)
		f.line(lineOutOfTree, kmsg.FacilityKernel, loadAt.Add(-time.Hour))
		if len(f.p.held) != 0 || len(f.kernelLogAlerts()) != 1 {
			t.Fatalf("held %d written %d", len(f.p.held), len(f.kernelLogAlerts()))
		}
	})
	t.Run("a line a user process wrote is not held", func(t *testing.T) {
		f := newKlogFixture(t)
		f.line(lineOutOfTree, 1, loadAt)
		if len(f.p.held) != 0 || f.p.Stats().Suppressed != 1 {
			t.Fatalf("held %d suppressed %d", len(f.p.held), f.p.Stats().Suppressed)
		}
	})
	t.Run("the held alerts are bounded: the oldest goes out untied", func(t *testing.T) {
		f := newKlogFixture(t)
		for i := 0; i < maxHeldKernelLog+5; i++ {
			f.line(fmt.Sprintf("m%d: loading out-of-tree module taints kernel.", i), kmsg.FacilityKernel, loadAt)
		}
		if len(f.p.held) != maxHeldKernelLog || f.p.Stats().KernelLog.Expired != 5 || len(f.sink.alerts) != 5 {
			t.Fatalf("held %d stats %+v written %d", len(f.p.held), f.p.Stats().KernelLog, len(f.sink.alerts))
		}
	})
}
