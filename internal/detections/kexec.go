package detections

import (
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// KexecID is the stable id of the kexec detection.
const KexecID = "kexec-kernel-load"

// kexecArgs are E13's argument list.
var kexecArgs = []string{"--exec", "-e", "--load", "-l", "--unload", "-u"}

// E13Exclusions is E13's list, as shipped (kdump's own scripts).
func E13Exclusions() []Exclusion {
	return []Exclusion{
		{Reason: "kdump", Source: "E13", Require: []string{RequirePackage}, ParentName: []string{"kdumpctl", "unload.sh"},
			Note: "the parent's program (kdumpctl, unload.sh are scripts: the script an interpreter runs) package-owned and unchanged"},
		{Reason: "kdump", Source: "E13", Require: []string{RequirePackage}, ParentExe: []string{"/usr/bin/kdumpctl", "/usr/sbin/kdump-config", "/usr/lib/kdump/unload.sh"},
			Note: "matched on the parent's program, not on any parent argument (was: a substring anywhere in the parent's argv)"},
	}
}

// kexecLoad is E13: the kexec tool run to load, exec or unload a kernel,
// and beyond E13 the kexec_load/kexec_file_load syscalls themselves, from
// any program and either ABI.
type kexecLoad struct {
	def        Definition
	exclusions []Exclusion
}

func newKexecLoad(extra []Exclusion) *kexecLoad {
	return &kexecLoad{
		def: Definition{
			ID:   KexecID,
			Name: "Kernel Load or Unload via Kexec",
			Description: "kexec was run with --load/-l, --exec/-e or --unload/-u, or a process called kexec_load or " +
				"kexec_file_load: the running kernel can be replaced by one with a module built in.",
			Severity: Medium, RiskScore: 47, Threat: T1547006,
			Covers: []string{"E13"},
			Needs:  []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_EXECVE},
		},
		exclusions: append(E13Exclusions(), extra...),
	}
}

func (r *kexecLoad) Definition() *Definition { return &r.def }

func (r *kexecLoad) Evaluate(dst []Alert, in *Input) []Alert {
	ev, st := in.Event, in.State
	if !ev.HasSyscall {
		return dst
	}
	var a Alert
	switch {
	case isKexecSyscall(ev.Syscall.Name):
		proc, parent := in.Actor()
		a = newAlert(&r.def, ev, proc, parent)
		a.Category, a.Type, a.Action = categoryDriver, typeStart, strings.TrimPrefix(ev.Syscall.Name, "sys_")
		if ev.Syscall.Success == auditevent.SuccessNo {
			a.Reason = orUnknown(proc.Exe) + " tried " + ev.Syscall.Name + " (refused, exit " + itoa(ev.Syscall.Exit) + ")"
		} else if kexecUnload(ev) {
			// kexec -u: the staged image is dropped, nothing new is loaded.
			a.Reason = orUnknown(proc.Exe) + " unloaded the staged kexec kernel image (" + ev.Syscall.Name + " with no segments)"
		} else {
			a.Severity, a.RiskScore = High, 73
			a.Reason = orUnknown(proc.Exe) + " loaded a new kernel image with " + ev.Syscall.Name
		}
	case successfulExec(ev) && (ev.Syscall.Comm == "kexec" || argv0Name(ev) == "kexec"):
		proc, parent := in.Actor()
		if !anyArg(kexecArgs, proc.Args) {
			return dst
		}
		a = newAlert(&r.def, ev, proc, parent)
		a.Category, a.Type, a.Action = []string{"process"}, []string{"start"}, "kexec-tool"
		a.Reason = "kexec run by " + parentDesc(parent)
	default:
		return dst
	}
	s := subjectOf(&a.Process, a.Parent, st)
	suppress(&a, r.exclusions, &s)
	return append(dst, a)
}

// kexecUnload reports a kexec_load call that unloads (nr_segments, the
// second argument, is 0), as `kexec -u` makes it. kexec_file_load's
// unload flag is its fifth argument, which audit does not record.
func kexecUnload(ev *auditevent.Event) bool {
	return strings.TrimPrefix(ev.Syscall.Name, "sys_") == "kexec_load" && ev.Syscall.Args[1] == 0
}
