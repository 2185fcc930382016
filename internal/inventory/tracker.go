package inventory

import (
	"sort"
	"time"

	"github.com/auditlkm/auditlkm/internal/detections"
)

// Entry is what the inventory knows of one module.
type Entry struct {
	Name string
	// Baseline: the module was in the kernel at the first start on this
	// host (or, after a restart, already in the previous run's inventory).
	Baseline bool
	// AtStart: first seen on the daemon's first look at the kernel.
	AtStart   bool
	FirstSeen time.Time // first in a kernel view
	LastSeen  time.Time // last in a kernel view
	Present   bool      // in a kernel view at the last check
	// Load is the audit trail's newest successful load of the module.
	Load *detections.ModuleLoadRecord
	// View is the kernel's view at the last check.
	View detections.KernelModuleView
	// Hidden is the trace of a confirmed hidden module ("" when not);
	// Unknown: the module was confirmed without an audited load.
	Hidden          string
	Unknown         bool
	ReportedHidden  bool
	ReportedUnknown bool
	hashTried       bool
	suspectHidden   time.Time
	suspectUnknown  time.Time
	suspectGone     time.Time
	unloadedAt      time.Time // newest audited unload naming it
}

// maxRecentLoads bounds the loads kept for taint blame, and maxEntries the
// modules the inventory tracks (modules loaded and gone are forgotten).
const (
	maxRecentLoads = 64
	maxEntries     = MaxModules
)

// Tracker joins the audit trail's loads and unloads with snapshots of the
// kernel's views. It is not safe for concurrent use (Component locks it).
type Tracker struct {
	Confirm     time.Duration // a suspect must still hold this much later
	TaintWindow time.Duration // how far back a load is blamed for new taint
	// UnknownGrace is how long a module must be listed without an audited
	// load before it is unknown, when longer than Confirm: under load the
	// pipeline may hand on a load's event seconds after the kernel lists
	// the module.
	UnknownGrace time.Duration

	entries map[string]*Entry
	started bool
	// prev is the previous run's inventory (present modules); nil on the
	// first start on this host.
	prev       map[string]bool
	taintKnown bool
	taint      uint64
	bootID     string
	loads      []*detections.ModuleLoadRecord // recent loads, oldest first
	lastUnload time.Time
	lastCheck  time.Time // the previous snapshot's time
	unaudited  uint64    // modules gone without an audited unload
}

// NewTracker returns an empty tracker.
func NewTracker(confirm, taintWindow time.Duration) *Tracker {
	return &Tracker{Confirm: confirm, TaintWindow: taintWindow, entries: map[string]*Entry{}}
}

// RecordLoad notes a successful load from the audit trail.
func (t *Tracker) RecordLoad(r *detections.ModuleLoadRecord) {
	if r == nil || r.Module == "" {
		return
	}
	if len(t.loads) == maxRecentLoads {
		copy(t.loads, t.loads[1:])
		t.loads = t.loads[:maxRecentLoads-1]
	}
	t.loads = append(t.loads, r)
	e := t.entries[r.Module]
	if e == nil {
		if len(t.entries) >= maxEntries {
			return
		}
		e = &Entry{Name: r.Module}
		t.entries[r.Module] = e
	}
	e.Load, e.hashTried = r, r.SHA256 != ""
	e.ReportedHidden, e.ReportedUnknown, e.Hidden, e.Unknown = false, false, "", false
	e.suspectHidden, e.suspectUnknown, e.suspectGone, e.unloadedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
}

// RecordUnload notes a successful delete_module from the audit trail.
// The kernel logs the name in a KERN_MODULE record; without one (an older
// kernel, a lost record) the unload explains any module gone from the
// views since shortly before at.
func (t *Tracker) RecordUnload(at time.Time, name string) {
	if name == "" {
		if at.After(t.lastUnload) {
			t.lastUnload = at
		}
		return
	}
	if e := t.entries[name]; e != nil && at.After(e.unloadedAt) {
		e.unloadedAt = at
	}
}

// unloadSlack is how much earlier than a module's last sighting an
// audited unload may be stamped and still explain its absence (the audit
// time is taken at syscall entry; the module lists it as Unloading).
const unloadSlack = 2 * time.Second

// Check compares a snapshot with the inventory and returns the findings
// confirmed by it; recheck asks for another check after Confirm (a
// suspect waits for confirmation).
func (t *Tracker) Check(s *Snapshot) (findings []*detections.CrossViewFinding, recheck bool) {
	first := !t.started
	t.started = true
	if s.BootID != "" && t.bootID != "" && s.BootID != t.bootID {
		t.taintKnown = false // a new boot: the kernel's mask started over
	}
	if s.BootID != "" {
		t.bootID = s.BootID
	}
	if s.ProcOK {
		f, r := t.checkModules(s, first)
		findings, recheck = append(findings, f...), r
	}
	if f := t.checkTaint(s, first); f != nil {
		findings = append(findings, f)
	}
	t.lastCheck = s.At
	return findings, recheck
}

// confirmed runs the suspect/confirm pattern: the first sighting starts
// the clock, a sighting Confirm later confirms.
func (t *Tracker) confirmed(since *time.Time, now time.Time, recheck *bool) bool {
	return t.confirmedAfter(since, now, t.Confirm, recheck)
}

func (t *Tracker) confirmedAfter(since *time.Time, now time.Time, d time.Duration, recheck *bool) bool {
	if since.IsZero() {
		*since = now
		*recheck = true
		return d <= 0
	}
	if now.Sub(*since) >= d {
		return true
	}
	*recheck = true
	return false
}

func (t *Tracker) checkModules(s *Snapshot, first bool) (out []*detections.CrossViewFinding, recheck bool) {
	names := make(map[string]bool, len(s.Proc)+len(s.Sys))
	for n := range s.Proc {
		names[n] = true
	}
	for n := range s.Sys {
		names[n] = true
	}
	// A module another module depends on names it (/proc/modules' used-by
	// column, sysfs holders/) even when it left both views itself.
	refs := referrers(s)
	for n := range refs {
		names[n] = true
	}
	// Without a sysfs view (not mounted, or no loadable module has a
	// directory in it) there is nothing to compare /proc/modules with.
	compare := s.SysOK && (len(s.Sys) > 0 || len(s.Proc) == 0)
	for _, n := range sortedKeys(names) {
		e := t.entries[n]
		if e == nil {
			if len(t.entries) >= maxEntries {
				continue
			}
			e = &Entry{Name: n, FirstSeen: s.At}
			if first {
				e.AtStart = true
				e.Baseline = t.prev == nil || t.prev[n]
			}
			t.entries[n] = e
		} else if e.FirstSeen.IsZero() {
			e.FirstSeen = s.At
		}
		p, inP := s.Proc[n]
		sm, inS := s.Sys[n]
		e.Present, e.LastSeen, e.suspectGone = true, s.At, time.Time{}
		e.View = viewOf(n, p, inP, sm, inS)
		e.View.ReferencedBy = refs[n]

		trace := ""
		switch {
		case !inP && !inS:
			trace = "used-by" // only another module's reference is left
		case !compare:
		case inS && !inP:
			trace = "sysfs"
		case inP && !inS && p.State == StateLive:
			trace = "proc-modules"
		}
		if trace == "" {
			e.suspectHidden, e.Hidden = time.Time{}, ""
		} else if !e.ReportedHidden && t.confirmed(&e.suspectHidden, s.At, &recheck) {
			e.ReportedHidden, e.Hidden = true, trace
			out = append(out, &detections.CrossViewFinding{Kind: detections.FindingHidden, At: s.At, Module: e.View,
				Load: e.Load, Trace: trace, AtStart: e.AtStart})
		}

		if !e.Baseline && e.Load == nil && !e.ReportedUnknown && t.confirmedAfter(&e.suspectUnknown, s.At, max(t.Confirm, t.UnknownGrace), &recheck) {
			e.ReportedUnknown, e.Unknown = true, true
			out = append(out, &detections.CrossViewFinding{Kind: detections.FindingUnknown, At: s.At, Module: e.View,
				AtStart: e.AtStart})
		}
	}
	// Modules in the inventory that no view shows.
	for _, n := range sortedEntryNames(t.entries) {
		if names[n] {
			continue
		}
		e := t.entries[n]
		e.Present = false
		since := e.LastSeen
		if e.Load != nil && e.Load.At.After(since) {
			since = e.Load.At
		}
		if audited := maxTime(t.lastUnload, e.unloadedAt); !audited.IsZero() && !audited.Before(since.Add(-unloadSlack)) {
			delete(t.entries, n) // an audited unload explains it
			continue
		}
		if first && !e.LastSeen.IsZero() {
			// In the previous run's inventory, in no view at this start:
			// unloaded while the daemon was stopped.
			t.unaudited++
			delete(t.entries, n)
			continue
		}
		if !t.confirmed(&e.suspectGone, s.At, &recheck) {
			continue
		}
		if e.Load == nil && (e.View.State == StateLoading || e.View.InitState == "coming") {
			delete(t.entries, n) // last seen while its init ran: a load that failed
			continue
		}
		if e.Hidden == "none" {
			continue // reported
		}
		// Loaded (the trail says so) and never seen, or seen and gone, with
		// no audited unload: hidden from every view, or unloaded while
		// auditing was blind (rules removed, events lost).
		if !e.LastSeen.IsZero() {
			t.unaudited++
		}
		e.ReportedHidden, e.Hidden = true, "none"
		out = append(out, &detections.CrossViewFinding{Kind: detections.FindingHidden, At: s.At,
			Module: detections.KernelModuleView{Name: n, Refcount: -1}, Load: e.Load, Trace: "none", LastSeen: e.LastSeen})
	}
	return out, recheck
}

// Referenced maps each module in neither view that a listed module names
// as its user (used-by) or holder to one module naming it.
func (s *Snapshot) Referenced() map[string]string { return referrers(s) }

// referrers maps each module named as a user (used-by) or holder of a
// listed module to one module that names it, for the modules in neither
// view.
func referrers(s *Snapshot) map[string]string {
	var refs map[string]string
	add := func(user, by string) {
		if user == "" || user == "[permanent]" || len(user) > maxNameBytes {
			return
		}
		if _, ok := s.Proc[user]; ok {
			return
		}
		if _, ok := s.Sys[user]; ok {
			return
		}
		if refs == nil {
			refs = map[string]string{}
		}
		if cur, ok := refs[user]; !ok || by < cur {
			refs[user] = by
		}
	}
	for n, p := range s.Proc {
		for _, u := range p.UsedBy {
			add(u, n)
		}
	}
	for n, m := range s.Sys {
		for _, h := range m.Holders {
			add(h, n)
		}
	}
	return refs
}

func viewOf(n string, p ProcModule, inP bool, sm SysModule, inS bool) detections.KernelModuleView {
	v := detections.KernelModuleView{Name: n, InProcModules: inP, InSysfs: inS, Refcount: -1}
	if inP {
		v.State, v.Size, v.Refcount, v.UsedBy, v.Address, v.Taint = p.State, p.Size, p.Refcount, p.UsedBy, p.Address, p.Taint
	}
	if inS {
		v.InitState, v.Holders, v.Sections, v.SrcVersion, v.Version = sm.InitState, sm.Holders, sm.Sections, sm.SrcVersion, sm.Version
		if !inP {
			v.Refcount, v.Taint = sm.Refcnt, sm.Taint
			if sm.CoreSize > 0 {
				v.Size = uint64(sm.CoreSize)
			}
		}
	}
	return v
}

func (t *Tracker) checkTaint(s *Snapshot, first bool) *detections.CrossViewFinding {
	if !s.TaintOK {
		return nil
	}
	if !t.taintKnown {
		t.taintKnown, t.taint = true, s.Tainted
		return nil
	}
	before := t.taint
	added := s.Tainted &^ before
	t.taint = s.Tainted
	if added == 0 {
		return nil
	}
	f := &detections.CrossViewFinding{Kind: detections.FindingTaint, At: s.At, TaintBefore: before, TaintAfter: s.Tainted, AtStart: first}
	votes := map[*detections.ModuleLoadRecord]int{}
	for _, fl := range Flags(added) {
		tb := detections.TaintBit{Bit: fl.Bit, Letter: fl.Letter, Name: fl.Name, About: fl.What}
		if fl.Module {
			if name, l := t.blame(fl, s.At); name != "" {
				tb.Module = name
				if l != nil {
					votes[l]++
					if f.Load == nil || votes[l] > votes[f.Load] {
						f.Load = l
					}
				}
			}
		}
		f.NewTaint = append(f.NewTaint, tb)
	}
	return f
}

// blame returns the module most likely to have set a module taint bit:
// the newest-loaded present module whose own taint letters hold it, else
// the earliest audited load since the previous read whose module file
// implies the bit, else the newest audited load within TaintWindow before
// at.
func (t *Tracker) blame(fl TaintFlag, at time.Time) (string, *detections.ModuleLoadRecord) {
	var best *Entry
	for _, e := range t.entries {
		if !e.Present || !containsLetter(e.View.Taint, fl.Letter) {
			continue
		}
		if best == nil || loadTime(e).After(loadTime(best)) || (loadTime(e).Equal(loadTime(best)) && e.Name < best.Name) {
			best = e
		}
	}
	if best != nil {
		return best.Name, best.Load
	}
	// A taint bit is set by the first load that needs it: the earliest
	// load since the previous read whose file implies the letter.
	if !t.lastCheck.IsZero() {
		for _, l := range t.loads {
			if l.At.After(t.lastCheck.Add(-unloadSlack)) && !l.At.After(at.Add(unloadSlack)) && containsLetter(l.Taints, fl.Letter) {
				return l.Module, l
			}
		}
	}
	for i := len(t.loads) - 1; i >= 0; i-- {
		l := t.loads[i]
		if d := at.Sub(l.At); d >= -unloadSlack && d <= t.TaintWindow {
			return l.Module, l
		}
	}
	return "", nil
}

func loadTime(e *Entry) time.Time {
	if e.Load != nil {
		return e.Load.At
	}
	return time.Time{}
}

func containsLetter(s, l string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == l[0] {
			return true
		}
	}
	return false
}

// Entries returns a copy of the inventory, by name.
func (t *Tracker) Entries() []Entry {
	out := make([]Entry, 0, len(t.entries))
	for _, n := range sortedEntryNames(t.entries) {
		out = append(out, *t.entries[n])
	}
	return out
}

// Taint returns the last taint mask read and whether one was.
func (t *Tracker) Taint() (uint64, bool) { return t.taint, t.taintKnown }

// Unaudited returns how many modules left the kernel without an audited
// unload.
func (t *Tracker) Unaudited() uint64 { return t.unaudited }

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedEntryNames(m map[string]*Entry) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
