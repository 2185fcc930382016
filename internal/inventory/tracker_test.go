package inventory

import (
	"strings"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/modfile"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// snap builds a snapshot at t0+sec: proc lists "name" or "name:State" or
// "name:State:TAINT", sys lists "name" or "name:TAINT".
func snap(sec float64, proc, sys string, taint uint64) *Snapshot {
	s := &Snapshot{At: t0.Add(time.Duration(sec * float64(time.Second))), ProcOK: true, SysOK: true, Proc: map[string]ProcModule{},
		Sys: map[string]SysModule{}, TaintOK: true, Tainted: taint, BootID: "boot-1"}
	for _, f := range strings.Fields(proc) {
		p := strings.Split(f, ":")
		m := ProcModule{Name: p[0], Size: 16384, State: StateLive, Address: "0x0"}
		if len(p) > 1 {
			m.State = p[1]
		}
		if len(p) > 2 {
			m.Taint = p[2]
		}
		s.Proc[m.Name] = m
	}
	for _, f := range strings.Fields(sys) {
		p := strings.Split(f, ":")
		m := SysModule{Name: p[0], InitState: "live", Sections: 13, CoreSize: 16384}
		if len(p) > 1 {
			m.Taint = p[1]
		}
		s.Sys[m.Name] = m
	}
	return s
}

func load(sec float64, name string, pid int) *detections.ModuleLoadRecord {
	return &detections.ModuleLoadRecord{Serial: uint32(100 + pid), At: t0.Add(time.Duration(sec * float64(time.Second))),
		Syscall: "finit_module", Module: name, File: "/tmp/" + name + ".ko",
		Process: auditevent.Process{PID: pid, PPID: 1, Exe: "/usr/bin/kmod", Comm: "insmod", Args: []string{"insmod", "/tmp/" + name + ".ko"}},
		Parent:  &auditevent.Process{PID: 1, Exe: "/bin/sh"}}
}

// step is one thing that happens to a tracker.
type step struct {
	load   *detections.ModuleLoadRecord
	unload *struct {
		sec  float64
		name string
	}
	check *Snapshot
	// want lists the findings of the check as "kind:module" ("taint:OE").
	want []string
}

func unload(sec float64, name string) *struct {
	sec  float64
	name string
} {
	return &struct {
		sec  float64
		name string
	}{sec, name}
}

func describe(fs []*detections.CrossViewFinding) []string {
	var out []string
	for _, f := range fs {
		switch f.Kind {
		case detections.FindingTaint:
			var l string
			for _, b := range f.NewTaint {
				l += b.Letter
			}
			out = append(out, "taint:"+l)
		default:
			out = append(out, f.Kind+":"+f.Module.Name)
		}
	}
	return out
}

func TestTracker(t *testing.T) {
	tests := []struct {
		name  string
		prev  map[string]bool // previous run's inventory; nil: first start
		steps []step
	}{
		{"first start: everything is the baseline", nil, []step{
			{check: snap(0, "a b", "a b", 0)},
			{check: snap(60, "a b", "a b", 0)},
		}},
		{"first start with a module already hiding: hidden (at start), not unknown", nil, []step{
			{check: snap(0, "a", "a rk", 0)},
			{check: snap(2, "a", "a rk", 0), want: []string{"hidden:rk"}},
		}},
		{"an audited load and unload raise nothing", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{load: load(10, "x", 500)},
			{check: snap(11.5, "a x", "a x", 0)},
			{unload: unload(20, "x")},
			{check: snap(21.5, "a", "a", 0)},
			{check: snap(24, "a", "a", 0)},
		}},
		{"unlinked from the module list, sysfs kept: hidden once, after confirmation", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{load: load(10, "rk", 500)},
			{check: snap(11.5, "a", "a rk", 0)},
			{check: snap(13.5, "a", "a rk", 0), want: []string{"hidden:rk"}},
			{check: snap(73.5, "a", "a rk", 0)},
		}},
		{"sysfs directory removed, module list kept: hidden", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{load: load(10, "rk", 500)},
			{check: snap(11.5, "a rk", "a", 0)},
			{check: snap(13.5, "a rk", "a", 0), want: []string{"hidden:rk"}},
		}},
		{"a module still loading without sysfs is not hidden", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{load: load(10, "x", 500)},
			{check: snap(10.1, "a x:Loading", "a", 0)},
			{check: snap(12.2, "a x", "a x", 0)},
		}},
		{"in one view for one read only: no alert", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{load: load(10, "x", 500)},
			{check: snap(11.5, "a", "a x", 0)},
			{check: snap(13.5, "a x", "a x", 0)},
		}},
		{"loaded, in no view, never unloaded: hidden without a trace", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{load: load(10, "rk", 500)},
			{check: snap(11.5, "a", "a", 0)},
			{check: snap(13.5, "a", "a", 0), want: []string{"hidden:rk"}},
		}},
		{"gone from both views but still another module's user: hidden (used-by)", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{load: load(10, "rk", 500)},
			{check: usedBy(snap(11.5, "a", "a", 0), "a", "rk")},
			{check: usedBy(snap(13.5, "a", "a", 0), "a", "rk"), want: []string{"hidden:rk"}},
		}},
		{"a module without an audited load: unknown once, after confirmation", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{check: snap(60, "a u", "a u", 0)},
			{check: snap(62, "a u", "a u", 0), want: []string{"unknown:u"}},
			{check: snap(120, "a u", "a u", 0)},
		}},
		{"the load's audit event arrives after the kernel lists the module: not unknown", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{check: snap(60, "a u", "a u", 0)},
			{load: load(59.9, "u", 501)},
			{check: snap(62, "a u", "a u", 0)},
		}},
		{"loaded while blind and hidden: both", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{check: snap(60, "a", "a rk", 0)},
			{check: snap(62, "a", "a rk", 0), want: []string{"hidden:rk", "unknown:rk"}},
		}},
		{"restart: a module not in the previous run's inventory is unknown, once", map[string]bool{"a": true}, []step{
			{check: snap(0, "a n", "a n", 0)},
			{check: snap(2, "a n", "a n", 0), want: []string{"unknown:n"}},
			{check: snap(62, "a n", "a n", 0)},
		}},
		{"a module leaving every view without an audited unload: hidden without a trace, once", nil, []step{
			{check: snap(0, "a b", "a b", 0)},
			{check: snap(60, "a", "a", 0)},
			{check: snap(62, "a", "a", 0), want: []string{"hidden:b"}},
			{check: snap(122, "a", "a", 0)},
		}},
		{"seen while its init ran, then gone: a failed load, no alert", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{check: snap(60, "a x:Loading", "a", 0)},
			{check: snap(61, "a", "a", 0)},
			{check: snap(63, "a", "a", 0)},
		}},
		{"restart: a module of the previous run gone at start was unloaded while stopped: no alert", map[string]bool{"a": true, "b": true}, []step{
			{check: snap(0, "a", "a", 0)},
			{check: snap(2, "a", "a", 0)},
		}},
		{"no sysfs view (a container without /sys): nothing looks hidden", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{load: load(10, "x", 500)},
			{check: snap(11.5, "a x", "", 0)},
			{check: snap(13.5, "a x", "", 0)},
		}},
		{"new taint bits are named and blamed on the module carrying them", nil, []step{
			{check: snap(0, "a", "a", 0)},
			{load: load(10, "hello", 500)},
			{check: snap(11.5, "a hello:Live:OE", "a hello:OE", 12288), want: []string{"taint:OE"}},
			{check: snap(20, "a hello:Live:OE", "a hello:OE", 12288)},
			{check: snap(30, "a hello:Live:OE", "a hello:OE", 12288|1<<9), want: []string{"taint:W"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(2*time.Second, 10*time.Minute)
			tr.prev = tc.prev
			for i, s := range tc.steps {
				switch {
				case s.load != nil:
					tr.RecordLoad(s.load)
				case s.unload != nil:
					tr.RecordUnload(t0.Add(time.Duration(s.unload.sec*float64(time.Second))), s.unload.name)
				case s.check != nil:
					fs, _ := tr.Check(s.check)
					got := describe(fs)
					if strings.Join(got, " ") != strings.Join(s.want, " ") {
						t.Errorf("step %d: findings %v, want %v", i, got, s.want)
					}
				}
			}
		})
	}
}

// TestUnknownGrace: a module listed without an audited load is unknown
// only once it has been so for the grace period, so a load whose event the
// pipeline hands on late is not reported.
func TestUnknownGrace(t *testing.T) {
	tr := NewTracker(2*time.Second, time.Minute)
	tr.UnknownGrace = 10 * time.Second
	tr.Check(snap(0, "a", "a", 0))
	for _, sec := range []float64{60, 62, 64, 66, 68} {
		if fs, recheck := tr.Check(snap(sec, "a u", "a u", 0)); len(fs) != 0 || !recheck {
			t.Fatalf("at %v: %v (recheck %v)", sec, describe(fs), recheck)
		}
	}
	if fs, _ := tr.Check(snap(70, "a u", "a u", 0)); len(describe(fs)) != 1 {
		t.Errorf("at 70: %v, want unknown:u", describe(fs))
	}
	// A late event inside the grace period: nothing.
	tr.Check(snap(80, "a u v", "a u v", 0))
	tr.RecordLoad(load(79, "v", 9))
	if fs, _ := tr.Check(snap(91, "a u v", "a u v", 0)); len(fs) != 0 {
		t.Errorf("late load: %v", describe(fs))
	}
}

func TestTrackerFindingContent(t *testing.T) {
	tr := NewTracker(2*time.Second, 10*time.Minute)
	tr.Check(snap(0, "a", "a", 0))
	l := load(10, "rk", 500)
	tr.RecordLoad(l)
	if _, recheck := tr.Check(snap(11.5, "a", "a rk:OE", 12288)); !recheck {
		t.Error("a suspect asks for a recheck")
	}
	fs, _ := tr.Check(snap(13.5, "a", "a rk:OE", 12288))
	if len(fs) != 1 || fs[0].Kind != detections.FindingHidden || fs[0].Load != l || fs[0].Trace != "sysfs" ||
		fs[0].Module.InProcModules || !fs[0].Module.InSysfs || fs[0].Module.Taint != "OE" {
		t.Fatalf("hidden finding: %+v", fs)
	}
	// The taint change was seen at 11.5 and blamed on rk's load.
	tr = NewTracker(2*time.Second, 10*time.Minute)
	tr.Check(snap(0, "a", "a", 0))
	tr.RecordLoad(l)
	fs, _ = tr.Check(snap(11.5, "a", "a rk:OE", 12288))
	if len(fs) != 1 || fs[0].Kind != detections.FindingTaint || fs[0].Load != l || fs[0].TaintBefore != 0 || fs[0].TaintAfter != 12288 ||
		len(fs[0].NewTaint) != 2 || fs[0].NewTaint[0].Module != "rk" || fs[0].NewTaint[1].Name != "UNSIGNED_MODULE" {
		t.Fatalf("taint finding: %+v", fs)
	}
	// Without a module carrying the letter, the newest load in the window.
	tr = NewTracker(2*time.Second, 10*time.Minute)
	tr.Check(snap(0, "a", "a", 0))
	tr.RecordLoad(load(10, "old", 1))
	tr.RecordLoad(load(20, "new", 2))
	fs, _ = tr.Check(snap(21, "a old new", "a old new", 1<<1))
	if len(fs) != 1 || fs[0].Load == nil || fs[0].Load.Module != "new" || fs[0].NewTaint[0].Letter != "F" {
		t.Fatalf("taint blame by time: %+v", fs)
	}
	// The module that set it is gone already (loaded and removed between
	// two reads): the earliest load since the previous read whose file
	// implies the bit, not the newest load.
	tr = NewTracker(2*time.Second, 10*time.Minute)
	tr.Check(snap(0, "a", "a", 0))
	oot := load(10, "oot", 7)
	oot.Taints = "OE"
	tr.RecordLoad(oot)
	tr.RecordUnload(t0.Add(11*time.Second), "oot")
	tr.RecordLoad(load(12, "intree", 8))
	fs, _ = tr.Check(snap(13, "a intree", "a intree", 12288))
	if len(fs) != 1 || fs[0].Load != oot || fs[0].NewTaint[0].Module != "oot" || fs[0].NewTaint[1].Module != "oot" {
		t.Fatalf("taint blame of a module already gone: %+v", fs)
	}
	tr = NewTracker(2*time.Second, 10*time.Minute)
	tr.Check(snap(0, "a", "a", 0))
	tr.RecordLoad(load(10, "old", 1))
	tr.RecordLoad(load(20, "new", 2))
	tr.Check(snap(21, "a old new", "a old new", 1<<1))
	// Outside the window: nobody is blamed.
	tr.RecordLoad(load(30, "late", 3))
	fs, _ = tr.Check(snap(30+11*60, "a old new late", "a old new late", 1<<1|1<<0))
	if len(fs) != 1 || fs[0].Load != nil || fs[0].NewTaint[0].Module != "" {
		t.Fatalf("taint blame out of window: %+v", fs)
	}
}

// usedBy makes module user a user of module of in both views.
func usedBy(s *Snapshot, of, user string) *Snapshot {
	p := s.Proc[of]
	p.UsedBy = append(p.UsedBy, user)
	s.Proc[of] = p
	m := s.Sys[of]
	m.Holders = append(m.Holders, user)
	s.Sys[of] = m
	return s
}

func TestImpliedTaints(t *testing.T) {
	for _, tc := range []struct {
		fi   *modfile.Info
		want string
	}{
		{nil, ""},
		{&modfile.Info{ELF: false}, ""},
		{&modfile.Info{ELF: true}, "OE"},
		{&modfile.Info{ELF: true, Modinfo: modfile.Modinfo{Intree: true}, Signature: &modfile.Signature{}}, ""},
		{&modfile.Info{ELF: true, Modinfo: modfile.Modinfo{Intree: true, Staging: true}}, "EC"},
		{&modfile.Info{ELF: true, Modinfo: modfile.Modinfo{Livepatch: true}, Signature: &modfile.Signature{}}, "OK"},
	} {
		if got := impliedTaints(tc.fi); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.fi, got, tc.want)
		}
	}
}
