package detections

import (
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
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
		Description: "A process called init_module or finit_module (any ABI, 32-bit included). A successful call " +
			"inserted code into the running kernel; a failed one shows the attempt (no signature, modules disabled, " +
			"lockdown). A non-root caller (E3) raises it; a load the kernel itself requested (request_module running " +
			"modprobe as a usermode helper) is marked as such and lowered; the authencesn crypto module loaded " +
			"through modprobe (Copy-Fail, S2) is raised. Every alert carries the KERN_MODULE name and executable " +
			"a per-host rarity count (H1) aggregates on.",
		Severity: High, RiskScore: 73, Threat: T1547006,
		Covers: []string{"E2", "E3", "S2", "H1"},
		Needs:  []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_KERN_MODULE, auparse.AUDIT_PROCTITLE},
	}}
}

func (r *moduleLoad) Definition() *Definition { return &r.def }

func (r *moduleLoad) Evaluate(dst []Alert, in *Input) []Alert {
	ev := in.Event
	if !ev.HasSyscall {
		return dst
	}
	if !isModuleLoadSyscall(ev.Syscall.Name) {
		return dst
	}
	proc, parent := in.Actor()
	dst = append(dst, newAlert(&r.def, ev, proc, parent))
	a := &dst[len(dst)-1]
	a.Category, a.Type, a.Action = categoryDriver, typeStart, "loaded-kernel-module"
	whatA, whatB := "a kernel module", ""
	if ev.HasModule {
		whatA, whatB = "kernel module ", quoteIfOdd(ev.Module)
	}
	if ko := in.koArgument(); ko != "" {
		a.File = &File{Path: ko}
		if !ev.HasModule {
			whatA, whatB = "kernel module file ", ko
		}
	}
	var uidA, uid, uidB string
	if ev.Syscall.UID != 0 && ev.Syscall.UID != auditevent.Unset {
		uidA, uid, uidB = " (uid ", itoa(int64(ev.Syscall.UID)), ", not root)"
	}
	var m *joinMemo
	if in.memo != nil {
		m = &in.memo.loadReason
	}
	if ev.Syscall.Success == auditevent.SuccessNo {
		// Refused by the kernel: still an attempt, one step lower.
		a.Severity, a.RiskScore = Medium, 47
		a.Reason = m.join(orUnknown(proc.Exe), uidA, uid, uidB, " tried to load ", whatA, whatB, " with ",
			ev.Syscall.Name, " (refused, exit ", in.memo.itoa(ev.Syscall.Exit), ")")
	} else {
		a.Reason = m.join(orUnknown(proc.Exe), uidA, uid, uidB, " loaded ", whatA, whatB, " with ", ev.Syscall.Name)
	}
	if ev.Syscall.UID != 0 && ev.Syscall.UID != auditevent.Unset && a.Severity < High {
		a.Severity, a.RiskScore = High, 73 // E3: only root should ever get this far
	}
	if name, ok := kernelAutoload(&proc, parent); ok {
		a.Action, a.Autoload = ActionKernelAutoload, true
		a.Reason = "the kernel requested module " + quoteIfOdd(name) + " (modprobe run as a usermode helper, no login session): " + a.Reason
		if a.Severity > Low {
			a.Severity, a.RiskScore = Low, 21
		}
	}
	if ml := in.Facts.Load; ml != nil && ml.HasMeta {
		a.Reason += fileAge(ml)
	} else if ml != nil && ml.File == "" && ml.FileUnknown != "" && !correlate.RefusedLoad(&ev.Syscall) {
		// Why a load that got past the kernel's privilege check has no
		// file. Not for a refused one: it loaded nothing, and its reasons
		// would split the summary of a user's flood of them.
		a.Reason += "; file unknown, " + ml.FileUnknown
	}
	if copyFailModule(ev, &proc) {
		a.Severity, a.RiskScore = Critical, 90
		a.Reason = "authencesn crypto module requested through modprobe (CVE-2026-31431 Copy-Fail indicator): " + a.Reason
	}
	return dst
}

// ActionKernelAutoload is event.action for module loads the kernel itself
// requested (request_module), so they are never mistaken for a person
// running modprobe.
const ActionKernelAutoload = "kernel-requested-module-load"

// copyFailModule is Sigma S2's condition on audit data: modprobe loading
// authencesn, by KERN_MODULE name or by the crypto-authencesn( argument.
func copyFailModule(ev *auditevent.Event, p *auditevent.Process) bool {
	if ev.HasModule && ev.Module == "authencesn" && (p.Comm == "modprobe" || p.Name() == "modprobe") {
		return true
	}
	if p.Name() != "modprobe" && !(auditevent.BaseName(p.Exe) == "kmod" && hasArg(p.Args, "modprobe")) {
		return false
	}
	for _, a := range p.Args {
		if strings.Contains(a, "crypto-authencesn(") {
			return true
		}
	}
	return false
}

func hasArg(args []string, s string) bool {
	for _, a := range args {
		if a == s {
			return true
		}
	}
	return false
}

// koArgument returns the module file p's command line loads, made
// absolute against its working directory (correlate.ModuleFileArg).
func koArgument(p *auditevent.Process) string {
	return correlate.ModuleFileArg(p.Exe, p.Comm, p.Args, p.Cwd)
}

func isModuleFile(s string) bool { return correlate.ModuleSuffix(s) != "" }

func quoteIfOdd(s string) string {
	for _, c := range []byte(s) {
		if c < 0x21 || c > 0x7e || c == '"' {
			return strconvQuote(s)
		}
	}
	return s
}

// fileAge says, from the module file's own metadata read at load time,
// who owns it and how long before the load it was created (birth time,
// else last status change), and whether it was already unlinked.
func fileAge(ml *correlate.ModuleLoad) string {
	m := &ml.Meta
	var b strings.Builder
	b.WriteString("; the file (")
	if m.Unlinked {
		b.WriteString("already unlinked, ")
	}
	b.WriteString("owner uid ")
	b.WriteString(itoa(int64(m.UID)))
	b.WriteString(", mode ")
	b.WriteString(strconv.FormatUint(uint64(m.Mode&0o7777), 8))
	b.WriteString(") was ")
	t, what := m.Birth, "created"
	if t.IsZero() {
		t, what = m.Change, "last changed"
	}
	b.WriteString(what)
	b.WriteByte(' ')
	d := ml.At.Sub(t)
	switch {
	case d < 0:
		b.WriteString("after the load (replaced since)")
		return b.String()
	case d < time.Second:
		b.WriteString(strconv.FormatInt(d.Milliseconds(), 10) + " ms")
	default:
		b.WriteString(strconv.FormatInt(int64(d/time.Second), 10) + " s")
	}
	b.WriteString(" before the load")
	return b.String()
}
