package detections

import (
	"strings"

	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/kmsg"
)

// KernelLogDetection is a detection over kernel log lines (/dev/kmsg).
// The catalog lists them apart from the detections over audit events
// (Catalog.KernelLog); they are configured and disabled by id like those.
// EvaluateKernelLog may tie an alert to the load the line is about, found
// in loads (nil: none known).
type KernelLogDetection interface {
	Definition() *Definition
	EvaluateKernelLog(l *kmsg.Line, loads *correlate.RecentLoads) []Alert
}

// Kernel log detection ids.
const (
	KernelLogUnsignedID  = "kernel-log-unsigned-module"
	KernelLogOutOfTreeID = "kernel-log-out-of-tree-module"
	KernelLogBPFWriteID  = "kernel-log-bpf-probe-write-user"
	KernelLogTaintID     = "kernel-log-module-taint"
	KernelLogRejectedID  = "kernel-log-module-rejected"
	reasonNotFromKernel  = "not-from-kernel"
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

func (r *kernelLogRule) Definition() *Definition { return &r.def }

// EvaluateKernelLog matches one line and, when it names a module, ties it
// to the audit event of that module's load if that was already seen (the
// pipeline holds the alert briefly for a load that comes after the line).
func (r *kernelLogRule) EvaluateKernelLog(l *kmsg.Line, loads *correlate.RecentLoads) []Alert {
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
	if l.Facility != kmsg.FacilityKernel {
		// Written to /dev/kmsg by a user process: a forgery or a test.
		a.Suppressed = reasonNotFromKernel
	}
	return []Alert{a}
}

// RoleModuleLoad is the Related role of the load a kernel log line is
// about.
const RoleModuleLoad = "module-load"

// TieKernelLog makes a kernel-log alert name the load it belongs to: its
// event, process and parent, module file, and the load under Related
// (matched as ld.Match says).
func TieKernelLog(a *Alert, ld *correlate.LoadContext) {
	ev := ld.Event
	a.Event = ev
	a.Process, a.Parent = ld.Process, ld.Parent
	a.Reason += " (audit event " + itoa(int64(ev.Serial)) + ", " + orUnknown(ev.Syscall.Exe) + ")"
	path := ""
	if mf := ModuleFileOf(ev, ld.Load); mf != nil {
		AttachModuleFile(a, mf)
		path = mf.Path
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

func newKernelLogRules() []KernelLogDetection {
	return []KernelLogDetection{
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

func normModule(s string) string { return strings.ReplaceAll(s, "-", "_") }
