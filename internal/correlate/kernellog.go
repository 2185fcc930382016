package correlate

import (
	"strings"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// The kernel prints its module lines (taint, signature, rejection) from
// inside load_module: a kernel log line about a module belongs to the
// audit event of that module's load, seen shortly before or after it.
// RecentLoads keeps the last loads so a line can be tied to its load.

// Bounds of the kernel log correlation.
const (
	// maxRecentLoads bounds the module loads kept.
	maxRecentLoads = 64
	// KernelLogWindow is how far apart a kernel log line and the load it
	// names may be.
	KernelLogWindow = 10 * time.Second
)

// LoadContext is a module load as the kernel-log correlation keeps it:
// the event, its acting process as the detections resolved it, and the
// store's resolution of the load.
type LoadContext struct {
	Event   *auditevent.Event
	Process auditevent.Process
	Parent  *auditevent.Process
	// Load is the store's resolution of the load (Facts.Load); nil when
	// the event was observed without a store.
	Load *ModuleLoad
	// Match says how a kernel log line was tied to it (MatchKernModule,
	// ...); "" in the table itself.
	Match string
}

// RecentLoads keeps the last module load events (init_module,
// finit_module) so a kernel log line about a module can point at the
// audit event of its load. The zero value is ready to use. It is owned by
// one goroutine (the pipeline's).
type RecentLoads struct {
	ring [maxRecentLoads]LoadContext
	next int
}

// Observe keeps ev if it is a module load, with its acting process proc
// and parent and the store's resolution ml (nil without a store); other
// events cost one compare. It returns the kept load, nil for any other
// event.
func (r *RecentLoads) Observe(ev *auditevent.Event, ml *ModuleLoad, proc auditevent.Process, parent *auditevent.Process) *LoadContext {
	if r == nil || !IsModuleLoad(ev) {
		return nil
	}
	ld := &r.ring[r.next]
	*ld = LoadContext{Event: ev, Process: proc, Parent: parent, Load: ml}
	r.next = (r.next + 1) % maxRecentLoads
	return ld
}

// IsModuleLoad reports whether ev is an init_module or finit_module call.
func IsModuleLoad(ev *auditevent.Event) bool {
	if !ev.HasSyscall {
		return false
	}
	switch ev.Syscall.Name {
	case "init_module", "finit_module":
		return true
	}
	return false
}

// Find returns the newest load of module within KernelLogWindow around
// at, matched by KERN_MODULE name, by the name in its module file, or by
// the .ko argument's name ('-' and '_' are the same in module names). An
// empty module (a rejection line that names none) matches the newest load
// the kernel refused for a signature or lockdown reason. A zero at
// matches any time. The result is a copy with Match set.
func (r *RecentLoads) Find(module string, at time.Time) *LoadContext {
	if r == nil {
		return nil
	}
	for i := 1; i <= maxRecentLoads; i++ {
		ld := &r.ring[(r.next-i+maxRecentLoads)%maxRecentLoads]
		if ld.Event == nil {
			break
		}
		if d := at.Sub(time.UnixMilli(ld.Event.UnixMilli())); !at.IsZero() && (d > KernelLogWindow || d < -KernelLogWindow) {
			continue
		}
		if how := MatchLoad(module, ld); how != "" {
			c := *ld
			c.Match = how
			return &c
		}
	}
	return nil
}

// Match kinds of a kernel log line and a load (LoadContext.Match).
const (
	MatchKernModule = "kern-module-name" // the KERN_MODULE record's name
	MatchModuleFile = "module-file-name" // the struct module name in the file read
	MatchKoArgument = "ko-argument"      // the .ko argument's file name
	MatchRefused    = "refused-load"     // a line naming no module, and a load refused for a signature or lockdown
)

// MatchLoad says how a kernel log line about module (empty: a rejection
// naming none) belongs to the load ld, or "".
func MatchLoad(module string, ld *LoadContext) string {
	ev := ld.Event
	if module == "" {
		if ev.HasSyscall && ev.Syscall.Success == auditevent.SuccessNo && refusedBySignature(ev.Syscall.Exit) {
			return MatchRefused
		}
		return ""
	}
	want := normModule(module)
	if ev.HasModule && normModule(ev.Module) == want {
		return MatchKernModule
	}
	if ml := ld.Load; ml != nil && ml.File != "" && ml.FileInfo != nil && ml.FileInfo.ThisModuleName != "" &&
		normModule(ml.FileInfo.ThisModuleName) == want {
		return MatchModuleFile
	}
	p := &ld.Process
	if ko := ModuleFileArg(p.Exe, p.Comm, p.Args, p.Cwd); ko != "" && normModule(moduleFileName(ko)) == want {
		return MatchKoArgument
	}
	return ""
}

// refusedBySignature reports an exit code of a load the kernel refused
// for its signature or lockdown: EKEYREJECTED, ENOKEY, EBADMSG, ENOPKG,
// EPERM.
func refusedBySignature(exit int64) bool {
	switch exit {
	case -129, -126, -74, -65, -1:
		return true
	}
	return false
}

func normModule(s string) string { return strings.ReplaceAll(s, "-", "_") }

// moduleFileName returns "x" for ".../x.ko", ".../x.ko.xz" and the like.
func moduleFileName(p string) string {
	b := p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		b = p[i+1:]
	}
	if i := strings.Index(b, ".ko"); i > 0 {
		return b[:i]
	}
	return b
}
