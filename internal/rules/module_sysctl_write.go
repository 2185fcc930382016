package rules

import (
	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// ModuleSysctlWriteID is the stable id of the module sysctl detection.
const ModuleSysctlWriteID = "kernel-module-sysctl-write"

// moduleSysctls are the module-loading knobs: the usermode helper path
// the kernel runs for request_module (a hijack makes the kernel run any
// program as root on the next autoload), and the one-way switch that
// disables module loading.
var moduleSysctls = []string{"/proc/sys/kernel/modprobe", "/proc/sys/kernel/modules_disabled"}

// moduleSysctlWrite fires when either is opened for writing (sysctl -w,
// echo > ..., sysctl.d at boot). No public rule covers it.
type moduleSysctlWrite struct{ def Definition }

func newModuleSysctlWrite() *moduleSysctlWrite {
	return &moduleSysctlWrite{def: Definition{
		ID:   ModuleSysctlWriteID,
		Name: "Kernel Module Loading Sysctl Written",
		Description: "kernel.modprobe (the program the kernel runs to autoload modules: a modprobe_path hijack " +
			"runs an attacker's program as root) or kernel.modules_disabled was written.",
		Severity: High, RiskScore: 73, Threat: T1547006,
		Needs: []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_PATH},
	}}
}

func (r *moduleSysctlWrite) Definition() *Definition { return &r.def }

func (r *moduleSysctlWrite) Evaluate(ev *auditevent.Event, st State) []Alert {
	if !ev.HasSyscall || len(ev.Paths) == 0 || ev.Syscall.Success == auditevent.SuccessNo {
		return nil
	}
	for i := range ev.Paths {
		p := &ev.Paths[i]
		if p.Resolved == "" || !exactAny(moduleSysctls, p.Resolved) || normalWrite(ev) != writeContent {
			continue
		}
		proc, parent := actor(ev, st)
		a := newAlert(&r.def, ev, proc, parent)
		a.Category, a.Type, a.Action = []string{"configuration"}, []string{"change"}, "sysctl-write"
		a.File = &File{Path: p.Resolved}
		a.Reason = p.Resolved + " written by " + orUnknown(proc.Exe)
		if p.Resolved == "/proc/sys/kernel/modprobe" {
			a.Severity, a.RiskScore = Critical, 90
			a.Reason = "modprobe_path changed: " + a.Reason
		}
		return []Alert{a}
	}
	return nil
}
