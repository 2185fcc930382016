package detections

import (
	"strings"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/elastic/go-libaudit/v2/auparse"
)

// KmodUnloadToolID is the stable id of the kmod unload tool detection.
const KmodUnloadToolID = "kmod-unload-tool"

// E5Exclusions is Elastic's exclusion list for E5, as shipped.
func E5Exclusions() []Exclusion {
	return []Exclusion{
		{Reason: "rpm-scriptlet", Source: "E5", Require: []string{RequirePackageManager}, ParentExe: []string{"/var/tmp/rpm-tmp*"},
			Note: "the parent must run the scriptlet (was: any parent argument) and rpm must be an ancestor"},
		{Reason: "nvidia-installer", Source: "E5", Require: []string{RequireNever}, Cwd: []string{"/tmp/makeself*NVIDIA-Linux*", "/tmp/self*NVIDIA-Linux*"},
			Note: "the .run installer unpacks into a directory anybody can create under /tmp: nothing proves it, so its rmmod alerts (low)"},
	}
}

// interactiveShells is E5's parent.name list.
var interactiveShells = []string{"sudo", "bash", "dash", "ash", "sh", "tcsh", "csh", "zsh", "ksh", "fish"}

// kmodUnloadTool fires when rmmod or modprobe -r/--remove starts. E5 asks
// for a shell or sudo parent; Splunk P3/P4 ask for nothing more, so every
// unload alerts and a shell parent raises it.
type kmodUnloadTool struct {
	def        Definition
	exclusions []Exclusion
}

func newKmodUnloadTool(extra []Exclusion) *kmodUnloadTool {
	return &kmodUnloadTool{
		def: Definition{
			ID:   KmodUnloadToolID,
			Name: "Kernel Module Removal via Built-in Utility",
			Description: "rmmod or modprobe -r/--remove was executed (also as the last argument, combined with other " +
				"short options, through kmod or busybox). Unloading a security module disables it; from a shell " +
				"(E5's condition) the alert is raised.",
			Severity: Low, RiskScore: 21, Threat: T1547006,
			Covers: []string{"E5", "P3", "P4"},
			Needs:  []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_EXECVE, auparse.AUDIT_CWD},
		},
		exclusions: append(E5Exclusions(), extra...),
	}
}

func (r *kmodUnloadTool) Definition() *Definition { return &r.def }

func (r *kmodUnloadTool) Evaluate(dst []Alert, in *Input) []Alert {
	ev, st := in.Event, in.State
	proc, parent, c, ok := kmodRun(in, false)
	if !ok {
		return dst
	}
	a := newAlert(&r.def, ev, proc, parent)
	a.Category, a.Type, a.Action = categoryProcessDriver, typeStart, "unload-module-tool"
	a.Reason = c.Tool + " run to remove " + orNothing(strings.Join(c.Modules, " ")) + " by " + parentDesc(parent)
	if parent != nil && parent.Exe != "" && exactAny(interactiveShells, auditevent.BaseName(parent.Exe)) {
		a.Severity, a.RiskScore = Medium, 47
		a.Reason += " from an interactive shell"
	}
	s := subjectOf(&proc, parent, st)
	suppress(&a, r.exclusions, &s)
	return append(dst, a)
}
