package detections

import (
	"strconv"
	"strings"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Cross-view detection ids: the audit trail's module loads joined with the
// kernel's own views of its modules (internal/inventory).
const (
	HiddenModuleID  = "kernel-module-hidden"
	UnknownModuleID = "kernel-module-unknown"
	KernelTaintID   = "kernel-taint-change"
)

// Kinds of CrossViewFinding.
const (
	FindingHidden  = "hidden"
	FindingUnknown = "unknown"
	FindingTaint   = "taint"
)

// T1014 is ATT&CK's Rootkit technique (Defense Evasion): a module that
// hides from the kernel's module list.
var T1014 = Threat{
	TacticID: "TA0005", TacticName: "Defense Evasion",
	TechniqueID: "T1014", TechniqueName: "Rootkit",
}

// ModuleLoadRecord is what the audit trail recorded of one successful
// module load, kept by the inventory beyond the event itself.
type ModuleLoadRecord struct {
	Serial  uint32
	At      time.Time
	Syscall string // init_module or finit_module
	Module  string // the KERN_MODULE name
	File    string // the module file, when the correlation store knew it
	// SHA256 is the hash of File read shortly after the load (hex); ""
	// when the file was unknown, gone or unreadable.
	SHA256 string
	// Taints are the taint letters the module file implies (O: not built
	// in the kernel tree, E: no signature, C: staging, K: live patch),
	// from the correlation store's read of it; "" when it was not read.
	Taints    string
	Process   auditevent.Process
	Parent    *auditevent.Process
	Ancestors []auditevent.Process
}

// KernelModuleView is what the kernel's own views say of one module.
type KernelModuleView struct {
	Name string
	// InProcModules: the module is in /proc/modules (the kernel's module
	// list, what lsmod and osquery read). InSysfs: /sys/module/<name> has
	// an initstate (the module's kobject).
	InProcModules, InSysfs bool
	State                  string // /proc/modules: Live, Loading, Unloading
	InitState              string // sysfs: live, coming, going
	Size                   uint64
	Refcount               int
	UsedBy, Holders        []string
	Sections               int
	Taint                  string
	Address                string
	SrcVersion, Version    string // sysfs, when the module has them
	// ReferencedBy is a module that names this one as its user (used-by,
	// holders/) while this one is in neither view.
	ReferencedBy string
}

// TaintBit is one bit of the kernel taint mask, named, and the module a
// load of which most likely set it ("" when none could be blamed).
type TaintBit struct {
	Bit                 int
	Letter, Name, About string
	Module              string
}

// CrossViewFinding is one inconsistency between the audit trail and the
// kernel's views, or a change of the kernel's taint mask.
type CrossViewFinding struct {
	Kind string
	At   time.Time // when the kernel was read
	// Module is the kernel's view of the module (hidden, unknown).
	Module KernelModuleView
	// Load is the audit trail's record of the load this finding is about
	// (hidden: the load of the module; taint: the load blamed), nil when
	// the trail never saw one.
	Load *ModuleLoadRecord
	// Trace says what still shows a hidden module ("sysfs" when it is
	// gone from /proc/modules, "proc-modules" when its sysfs directory is
	// gone); AtStart says the finding was made on the daemon's first look.
	Trace   string
	AtStart bool
	// LastSeen is when a module in no view was last in one (zero: never).
	LastSeen time.Time
	// Taint: the mask before and after, and the bits that appeared.
	TaintBefore, TaintAfter uint64
	NewTaint                []TaintBit
}

// CrossViewDetection is a detection over cross-view findings. The catalog
// lists them apart from the detections over audit events
// (Catalog.CrossView); they are configured and disabled by id like those.
type CrossViewDetection interface {
	Definition() *Definition
	EvaluateCrossView(f *CrossViewFinding) []Alert
}

type crossViewRule struct {
	def  Definition
	kind string
	eval func(d *Definition, f *CrossViewFinding) Alert
}

func (r *crossViewRule) Definition() *Definition { return &r.def }

func (r *crossViewRule) EvaluateCrossView(f *CrossViewFinding) []Alert {
	if f == nil || f.Kind != r.kind {
		return nil
	}
	return []Alert{r.eval(&r.def, f)}
}

func newCrossViewRules() []CrossViewDetection {
	return []CrossViewDetection{
		&crossViewRule{kind: FindingHidden, eval: hiddenAlert, def: Definition{
			ID: HiddenModuleID, Name: "Kernel Module Hidden From the Module List",
			Description: "A loaded kernel module is missing from one of the kernel's own views while another still " +
				"shows it: gone from /proc/modules (lsmod) while /sys/module/<name> remains, or the reverse. A rootkit " +
				"unlinks itself from the module list in its init. The alert carries the audit trail's record of the " +
				"load (process, parent, file, hash). ATT&CK T1014 (Rootkit) and T1547.006.",
			Severity: Critical, RiskScore: 99, Threat: T1014,
		}},
		&crossViewRule{kind: FindingUnknown, eval: unknownAlert, def: Definition{
			ID: UnknownModuleID, Name: "Kernel Module Loaded Without an Audit Trail",
			Description: "A module is in the kernel that the audit trail never saw load: loaded while auditing was " +
				"blind (rules removed, backlog overflow, daemon stopped) or by a path the rules do not watch. " +
				"Modules present at the daemon's first start are the baseline. ATT&CK T1547.006.",
			Severity: High, RiskScore: 73, Threat: T1547006,
		}},
		&crossViewRule{kind: FindingTaint, eval: taintAlert, def: Definition{
			ID: KernelTaintID, Name: "Kernel Taint Flags Changed",
			Description: "New bits appeared in /proc/sys/kernel/tainted (proprietary, forced, out-of-tree, unsigned " +
				"module, ...), each named and tied to the module load that most likely set it. ATT&CK T1547.006.",
			Severity: Medium, RiskScore: 47, Threat: T1547006, Covers: []string{"E11"},
		}},
	}
}

func crossViewAlert(d *Definition, f *CrossViewFinding) Alert {
	a := Alert{Rule: d, Severity: d.Severity, RiskScore: d.RiskScore, CrossView: f}
	a.Category, a.Type = categoryDriver, []string{"info"}
	if l := f.Load; l != nil {
		a.Process, a.Parent, a.Ancestors = l.Process, l.Parent, l.Ancestors
		if l.File != "" {
			a.File = &File{Path: l.File}
		}
		a.Related = []Related{{Role: RoleModuleLoad, Serial: l.Serial, AtMilli: l.At.UnixMilli(), Syscall: l.Syscall,
			Path: l.File, Process: l.Process, Modules: []string{l.Module}, Match: "module-name", LinkedBy: l.Module,
			SHA256: l.SHA256}}
	}
	return a
}

func hiddenAlert(d *Definition, f *CrossViewFinding) Alert {
	a := crossViewAlert(d, f)
	a.Action = "kernel-module-hidden"
	m := &f.Module
	var b strings.Builder
	b.WriteString("kernel module ")
	b.WriteString(corrQuote(m.Name))
	switch f.Trace {
	case "none":
		// Hidden from every view, or unloaded while auditing was blind:
		// the two cannot be told apart.
		a.Severity, a.RiskScore = High, 73
		if f.LastSeen.IsZero() {
			b.WriteString(" was loaded and is in no kernel view")
		} else {
			b.WriteString(" left every kernel view (last seen " + f.LastSeen.UTC().Format(time.RFC3339) + ")")
		}
		b.WriteString(" (not in /proc/modules, no /sys/module directory) with no audited unload: " +
			"hidden from every view, or unloaded while auditing was blind")
	case "used-by":
		b.WriteString(" is in neither /proc/modules nor /sys/module, yet module " + corrQuote(m.ReferencedBy) +
			" lists it as its user (used by, holders)")
	case "proc-modules":
		b.WriteString(" is in /proc/modules but its /sys/module directory is gone")
	default:
		b.WriteString(" is missing from /proc/modules while /sys/module/" + corrQuote(m.Name) + " remains")
		if m.InitState != "" {
			b.WriteString(" (initstate " + corrQuote(m.InitState) + ")")
		}
	}
	loadSentence(&b, f.Load)
	a.Reason = b.String()
	return a
}

func unknownAlert(d *Definition, f *CrossViewFinding) Alert {
	a := crossViewAlert(d, f)
	a.Action = "kernel-module-unknown"
	m := &f.Module
	var b strings.Builder
	b.WriteString("kernel module ")
	b.WriteString(corrQuote(m.Name))
	if f.AtStart {
		b.WriteString(" was loaded while auditlkm was not running (not in the previous run's inventory)")
	} else {
		b.WriteString(" appeared in the kernel without an audited load")
	}
	var views []string
	if m.InProcModules {
		views = append(views, "/proc/modules "+m.State)
	}
	if m.InSysfs {
		views = append(views, "sysfs "+m.InitState)
	}
	if len(views) > 0 {
		b.WriteString(" (" + strings.Join(views, ", "))
		if m.Taint != "" {
			b.WriteString(", taint " + m.Taint)
		}
		b.WriteString(")")
	}
	a.Reason = b.String()
	return a
}

func taintAlert(d *Definition, f *CrossViewFinding) Alert {
	a := crossViewAlert(d, f)
	a.Action = "kernel-tainted"
	var b strings.Builder
	b.WriteString("kernel taint changed from ")
	b.WriteString(strconv.FormatUint(f.TaintBefore, 10))
	b.WriteString(" to ")
	b.WriteString(strconv.FormatUint(f.TaintAfter, 10))
	b.WriteString(": ")
	for i, t := range f.NewTaint {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.Letter + " " + t.Name)
		if t.Module != "" {
			b.WriteString(" (" + corrQuote(t.Module) + ")")
		}
	}
	loadSentence(&b, f.Load)
	a.Reason = b.String()
	return a
}

func loadSentence(b *strings.Builder, l *ModuleLoadRecord) {
	if l == nil {
		b.WriteString("; the audit trail has no load of it")
		return
	}
	b.WriteString("; loaded " + l.At.UTC().Format(time.RFC3339) + " by " + corrWho(&l.Process) + " (" + l.Syscall)
	if l.File != "" {
		b.WriteString(" of " + corrQuote(l.File))
	}
	b.WriteString(", audit event " + itoa(int64(l.Serial)) + ")")
}
