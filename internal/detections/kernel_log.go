package detections

import (
	"strings"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// KernelLogLine is one kernel log record (from /dev/kmsg), decoded.
type KernelLogLine struct {
	Seq      uint64
	Facility uint8 // 0 = kernel; anything else was written by a user process
	Level    uint8 // 0 emerg .. 7 debug
	// Monotonic is the kernel's timestamp: time since boot.
	Monotonic time.Duration
	// Time is the wall-clock time of Monotonic, estimated by the reader.
	Time    time.Time
	Message string   // unescaped
	Dict    []string // continuation lines, "KEY=value"
}

// FacilityKernel is the facility of messages the kernel itself wrote;
// /dev/kmsg forces LOG_USER onto lines user space writes, so a line with
// facility 0 cannot be forged from user space.
const FacilityKernel = 0

// KernelLogDetection is a detection over kernel log lines. Kernel-log rules are
// also Rules (listed in the catalog, configured by id); their Evaluate over
// audit events returns nothing.
type KernelLogDetection interface {
	Detection
	EvaluateKernelLog(l *KernelLogLine, loads *RecentLoads) []Alert
}

// Kernel log detection ids.
const (
	KernelLogUnsignedID   = "kernel-log-unsigned-module"
	KernelLogOutOfTreeID  = "kernel-log-out-of-tree-module"
	KernelLogBPFWriteID   = "kernel-log-bpf-probe-write-user"
	KernelLogTaintID      = "kernel-log-module-taint"
	KernelLogRejectedID   = "kernel-log-module-rejected"
	reasonNotFromKernel   = "not-from-kernel"
	kernelLogCorrelateWin = 10 * time.Second
)

// kernelLogMatch returns the module (or process) a message is about and
// whether it matches.
type kernelLogMatch func(msg string) (string, bool)

type kernelLogRule struct {
	def   Definition
	match kernelLogMatch
	// process: the subject is a process name (comm[pid]), not a module.
	process bool
}

func (r *kernelLogRule) Definition() *Definition                   { return &r.def }
func (r *kernelLogRule) Evaluate(*auditevent.Event, State) []Alert { return nil }

// EvaluateKernelLog matches one line and, when it names a module, ties it
// to the audit event of that module's load if that was already seen (the
// pipeline holds the alert briefly for a load that comes after the line).
func (r *kernelLogRule) EvaluateKernelLog(l *KernelLogLine, loads *RecentLoads) []Alert {
	subject, ok := r.match(l.Message)
	if !ok {
		return nil
	}
	a := Alert{Rule: &r.def, Severity: r.def.Severity, RiskScore: r.def.RiskScore, KernelLog: l}
	a.Category, a.Type, a.Action = []string{"driver"}, []string{"info"}, "kernel-log-message"
	a.Reason = "kernel: " + l.Message
	if !r.process {
		a.KernelLogModule = subject
		a.KernelLogTie = true
		if ld := loads.Find(subject, l.Time); ld != nil {
			TieKernelLog(&a, ld)
		}
	}
	if l.Facility != FacilityKernel {
		// Written to /dev/kmsg by a user process: a forgery or a test.
		a.Suppressed = reasonNotFromKernel
	}
	return []Alert{a}
}

// LoadContext is a module load as the kernel-log correlation keeps it:
// the event, its acting process as the detections resolved it, and its
// module file.
type LoadContext struct {
	Event   *auditevent.Event
	Process auditevent.Process
	Parent  *auditevent.Process
	File    *ModuleFile // nil when not read
	// Match says how a kernel log line was tied to it (Related.Match).
	Match string
}

// RoleModuleLoad is the Related role of the load a kernel log line is
// about.
const RoleModuleLoad = "module-load"

// TieKernelLog makes a kernel-log alert name the load it belongs to: its
// event, process and parent, module file, and the load under Related.
func TieKernelLog(a *Alert, ld *LoadContext) {
	ev := ld.Event
	a.Event = ev
	a.Process, a.Parent = ld.Process, ld.Parent
	a.Reason += " (audit event " + itoa(int64(ev.Serial)) + ", " + orUnknown(ev.Syscall.Exe) + ")"
	path := ""
	if ld.File != nil {
		AttachModuleFile(a, ld.File)
		path = ld.File.Path
	}
	if path == "" {
		if ko := koArgument(&a.Process); ko != "" {
			path = ko
			if a.File == nil {
				a.File = &File{Path: ko}
			}
		}
	}
	linked := a.KernelLogModule
	if linked == "" && ev.HasModule {
		linked = ev.Module
	}
	a.Related = append(a.Related[:len(a.Related):len(a.Related)], Related{
		Role: RoleModuleLoad, Serial: ev.Serial, AtMilli: ev.UnixMilli(), Syscall: ev.Syscall.Name,
		Path: path, Process: ld.Process, Match: ld.Match, LinkedBy: linked,
	})
}

// modulePrefix returns the module name of "name<suffix>"; suffix starts
// with ": ". A module name has no space.
func modulePrefix(msg, suffix string) (string, bool) {
	if !strings.HasSuffix(msg, suffix) {
		return "", false
	}
	name := msg[:len(msg)-len(suffix)]
	if name == "" || strings.ContainsAny(name, " \t") {
		return "", false
	}
	return name, true
}

func newKernelLogRules() []Detection {
	return []Detection{
		&kernelLogRule{def: Definition{
			ID: KernelLogUnsignedID, Name: "Tainted Kernel Module Load (unsigned)",
			Description: "The kernel loaded a module without a valid signature and tainted itself " +
				"(printed once per boot, for the first such module).",
			Severity: Medium, RiskScore: 47, Threat: T1547006, Covers: []string{"E10"},
		}, match: func(m string) (string, bool) {
			return modulePrefix(m, ": module verification failed: signature and/or required key missing - tainting kernel")
		}},
		&kernelLogRule{def: Definition{
			ID: KernelLogOutOfTreeID, Name: "Tainted Out-Of-Tree Kernel Module Load",
			Description: "The kernel loaded a module built outside its source tree (printed until the first " +
				"out-of-tree module of the boot sets the O taint).",
			Severity: Medium, RiskScore: 47, Threat: T1547006, Covers: []string{"E12"},
		}, match: func(m string) (string, bool) { return modulePrefix(m, ": loading out-of-tree module taints kernel.") }},
		&kernelLogRule{def: Definition{
			ID: KernelLogBPFWriteID, Name: "Suspicious Usage of bpf_probe_write_user Helper",
			Description: "A BPF program using bpf_probe_write_user (which can rewrite user memory, a rootkit " +
				"technique) was installed. Rate-limited by the kernel; removed from kernels after late 2024.",
			Severity: High, RiskScore: 73, Threat: T1547006, Covers: []string{"E6"},
		}, process: true, match: func(m string) (string, bool) {
			if !strings.Contains(m, "bpf_probe_write_user") {
				return "", false
			}
			if i := strings.IndexByte(m, '['); i > 0 {
				return m[:i], true // comm[pid] is installing ...
			}
			return "", true
		}},
		&kernelLogRule{def: Definition{
			ID: KernelLogTaintID, Name: "Kernel Module Taints the Kernel",
			Description: "The kernel tainted itself loading a module: proprietary licence, staging driver, test " +
				"module or live patch. No public rule matches these lines.",
			Severity: Medium, RiskScore: 47, Threat: T1547006,
		}, match: func(m string) (string, bool) {
			if i := strings.Index(m, ": module license '"); i > 0 && strings.HasSuffix(m, "' taints kernel.") {
				return m[:i], true
			}
			if n, ok := modulePrefix(m, ": module is from the staging directory, the quality is unknown, you have been warned."); ok {
				return n, true
			}
			if n, ok := modulePrefix(m, ": loading test module taints kernel."); ok {
				return n, true
			}
			if n, ok := modulePrefix(m, ": tainting kernel with TAINT_LIVEPATCH"); ok {
				return n, true
			}
			return "", false
		}},
		&kernelLogRule{def: Definition{
			ID: KernelLogRejectedID, Name: "Kernel Module Load Rejected",
			Description: "The kernel refused a module: signature enforcement, lockdown, wrong version magic or " +
				"unresolved symbols. Someone tried to load a module not built for this kernel.",
			Severity: Medium, RiskScore: 47, Threat: T1547006,
		}, match: func(m string) (string, bool) {
			switch {
			case strings.HasPrefix(m, "Loading of ") && strings.HasSuffix(m, " is rejected"):
				return "", true
			case strings.HasPrefix(m, "Lockdown: ") && strings.Contains(m, "unsigned module loading is restricted"):
				return "", true
			}
			for _, s := range []string{": version magic '", ": Unknown symbol ", ": disagrees about version of symbol "} {
				if i := strings.Index(m, s); i > 0 {
					return m[:i], true
				}
			}
			return "", false
		}},
	}
}

// maxRecentLoads bounds the module load events kept for kernel log
// correlation.
const maxRecentLoads = 64

// RecentLoads keeps the last module load events (init_module,
// finit_module) so a kernel log line about a module can point at the audit
// event of its load. It is owned by one goroutine (the pipeline's).
type RecentLoads struct {
	ring [maxRecentLoads]LoadContext
	next int
}

// Observe keeps ev if it is a module load, with its acting process as
// st resolves it and the module file mf; other events cost one compare.
// It returns the kept load, nil for any other event.
func (r *RecentLoads) Observe(ev *auditevent.Event, st State, mf *ModuleFile) *LoadContext {
	if r == nil || !ev.HasSyscall || !isModuleLoadSyscall(ev.Syscall.Name) {
		return nil
	}
	ld := &r.ring[r.next]
	*ld = LoadContext{Event: ev, File: mf}
	if st != nil {
		ld.Process, ld.Parent = actor(ev, st)
	} else {
		ld.Process = ev.Process()
	}
	r.next = (r.next + 1) % maxRecentLoads
	return ld
}

// Find returns the newest load of module within the correlation window
// around at, matched by KERN_MODULE name, by the name in its module file,
// or by the .ko argument's name ('-' and '_' are the same in module
// names). An empty module (a rejection line that names none) matches the
// newest load the kernel refused for a signature or lockdown reason.
// The result is a copy with Match set.
func (r *RecentLoads) Find(module string, at time.Time) *LoadContext {
	if r == nil {
		return nil
	}
	for i := 1; i <= maxRecentLoads; i++ {
		ld := &r.ring[(r.next-i+maxRecentLoads)%maxRecentLoads]
		if ld.Event == nil {
			break
		}
		if d := at.Sub(time.UnixMilli(ld.Event.UnixMilli())); !at.IsZero() && (d > kernelLogCorrelateWin || d < -kernelLogCorrelateWin) {
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
	if f := ld.File; f != nil && f.Info != nil && f.Info.ThisModuleName != "" && normModule(f.Info.ThisModuleName) == want {
		return MatchModuleFile
	}
	if ko := koArgument(&ld.Process); ko != "" && normModule(moduleFileName(ko)) == want {
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
	b := BaseName(p)
	if i := strings.Index(b, ".ko"); i > 0 {
		return b[:i]
	}
	return b
}
