package detections

import (
	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/toolargs"
)

// ModuleUnloadID is the stable id of the delete_module detection.
const ModuleUnloadID = "kernel-module-unload"

// moduleUnload fires on every delete_module call, whichever program makes
// it: rmmod, modprobe -r, or a direct syscall that no tool-name rule sees.
type moduleUnload struct{ def Definition }

func newModuleUnload() *moduleUnload {
	return &moduleUnload{def: Definition{
		ID:   ModuleUnloadID,
		Name: "Kernel Module Unload Attempt",
		Description: "A process called delete_module (any ABI). Removing a module can disable a security or " +
			"monitoring driver; the KERN_MODULE record names it when the kernel writes one.",
		Severity: Medium, RiskScore: 47, Threat: T1547006,
		Covers: []string{"E5", "P3"},
		Needs:  []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_KERN_MODULE, auparse.AUDIT_PROCTITLE},
	}}
}

func (r *moduleUnload) Definition() *Definition { return &r.def }

func (r *moduleUnload) Evaluate(dst []Alert, in *Input) []Alert {
	ev := in.Event
	if !ev.HasSyscall || ev.Syscall.Name != "delete_module" {
		return dst
	}
	proc, parent := in.Actor()
	a := newAlert(&r.def, ev, proc, parent)
	a.Category, a.Type, a.Action = []string{"driver"}, []string{"end"}, "unloaded-kernel-module"
	what := "a kernel module"
	if ev.HasModule {
		what = "kernel module " + quoteIfOdd(ev.Module)
	} else if c := kmodInvocation(&proc); c.Op == toolargs.Unload && len(c.Modules) > 0 {
		what = "kernel module " + quoteIfOdd(c.Modules[0])
	}
	if ev.Syscall.Success == auditevent.SuccessNo {
		a.Severity, a.RiskScore = Low, 21
		a.Reason = orUnknown(proc.Exe) + " tried to unload " + what + " (refused, exit " + itoa(ev.Syscall.Exit) + ")"
	} else {
		a.Reason = orUnknown(proc.Exe) + " unloaded " + what
	}
	return append(dst, a)
}
