package rules

import (
	"path"
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// ModuleLoadID is the stable id of the module load attempt detection.
const ModuleLoadID = "kernel-module-load"

// moduleLoad fires on every init_module/finit_module call, whether the
// kernel accepted it or not: a refused attempt is still an attempt.
type moduleLoad struct{ def Definition }

func newModuleLoad() *moduleLoad {
	return &moduleLoad{def: Definition{
		ID:   ModuleLoadID,
		Name: "Kernel Module Load Attempt",
		Description: "A process called init_module or finit_module. A successful call inserted code into the " +
			"running kernel; a failed one shows the attempt (no signature, modules disabled, lockdown).",
		Severity: High, RiskScore: 73, Threat: T1547006,
		Covers: []string{"E2", "S1"},
		Needs:  []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_KERN_MODULE, auparse.AUDIT_PROCTITLE},
	}}
}

func (r *moduleLoad) Definition() *Definition { return &r.def }

func (r *moduleLoad) Evaluate(ev *auditevent.Event, st State) []Alert {
	if !ev.HasSyscall {
		return nil
	}
	switch ev.Syscall.Name {
	case "init_module", "finit_module":
	default:
		return nil
	}
	proc, parent := actor(ev, st)
	a := newAlert(&r.def, ev, proc, parent)
	a.Category, a.Type, a.Action = []string{"driver"}, []string{"start"}, "loaded-kernel-module"
	what := "a kernel module"
	if ev.HasModule {
		what = "kernel module " + quoteIfOdd(ev.Module)
	}
	if ko := koArgument(proc.Args, proc.Cwd); ko != "" {
		a.File = &File{Path: ko}
		if !ev.HasModule {
			what = "kernel module file " + ko
		}
	}
	if ev.Syscall.Success == auditevent.SuccessNo {
		// Refused by the kernel: still an attempt, one step lower.
		a.Severity, a.RiskScore = Medium, 47
		a.Reason = orUnknown(proc.Exe) + " tried to load " + what + " with " + ev.Syscall.Name + " (refused, exit " + itoa(ev.Syscall.Exit) + ")"
	} else {
		a.Reason = orUnknown(proc.Exe) + " loaded " + what + " with " + ev.Syscall.Name
	}
	return []Alert{a}
}

// koArgument returns the first argument naming a module file, made
// absolute against cwd.
func koArgument(args []string, cwd string) string {
	for i, arg := range args {
		if i == 0 || !isModuleFile(arg) {
			continue
		}
		if !strings.HasPrefix(arg, "/") && strings.HasPrefix(cwd, "/") {
			return path.Join(cwd, arg)
		}
		return path.Clean(arg)
	}
	return ""
}

func isModuleFile(s string) bool {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(s, ext) {
			return true
		}
	}
	return false
}

func quoteIfOdd(s string) string {
	for _, c := range []byte(s) {
		if c < 0x21 || c > 0x7e || c == '"' {
			return strconvQuote(s)
		}
	}
	return s
}
