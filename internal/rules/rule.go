package rules

import (
	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Severity is an alert's severity; ECS event.severity carries its number.
type Severity int

const (
	Low Severity = iota + 1
	Medium
	High
	Critical
)

var severityNames = [...]string{"", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s > 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "unknown"
}

// Threat is the MITRE ATT&CK classification of a detection.
type Threat struct {
	TacticID, TacticName       string // TA0003, Persistence
	TechniqueID, TechniqueName string // T1547, Boot or Logon Autostart Execution
	SubtechniqueID, SubName    string // T1547.006, Kernel Modules and Extensions
}

// T1547006 is the technique every detection in the catalog is about.
var T1547006 = Threat{
	TacticID: "TA0003", TacticName: "Persistence",
	TechniqueID: "T1547", TechniqueName: "Boot or Logon Autostart Execution",
	SubtechniqueID: "T1547.006", SubName: "Kernel Modules and Extensions",
}

// Definition declares a detection: what it is, what it covers and needs.
type Definition struct {
	ID          string // stable, e.g. "lkm-config-file-write"
	Name        string
	Description string
	Severity    Severity
	RiskScore   int // 0-100, as in Elastic's risk_score
	Threat      Threat
	// Covers lists the public rules it implements, by short ids (E9, S1,
	// ...: Elastic, Sigma, Splunk; the README's Detections table).
	Covers []string
	// Needs lists the record types the detection reads.
	Needs []auparse.AuditMessageType
}

// File is the file an alert is about.
type File struct {
	Path         string // absolute, cleaned; the raw name when unresolved
	OriginalPath string // for a rename: where it came from
}

// Alert is one detection hit. It points at the event; encoders read the
// process, records and time from there.
type Alert struct {
	Rule      *Definition
	Event     *auditevent.Event
	Severity  Severity // may differ from Rule.Severity (failed load: lower)
	RiskScore int
	// ECS event.category, event.type and event.action.
	Category []string
	Type     []string
	Action   string
	Reason   string // one sentence for event.reason
	Process  auditevent.Process
	Parent   *auditevent.Process // nil when unknown
	File     *File
	// Suppressed is set when an exclusion matched; the pipeline counts it
	// and does not emit it.
	Suppressed string
	// ExclusionRefused, on an alert that was not suppressed, names the
	// first exclusion whose criteria matched but whose provenance was not
	// proven, and why ("system-agent/not-package-owned"); the pipeline
	// counts it.
	ExclusionRefused string
	// Autoload is set when the kernel itself requested the module
	// (request_module ran modprobe as a usermode helper); Action is then
	// ActionKernelAutoload.
	Autoload bool
	// KernelLog is the kernel log line a kernel-log detection matched;
	// Event is then the audit event of the same load, or nil.
	KernelLog *KernelLogLine
	// Ancestors are the process's known ancestors, parent first, at most
	// MaxAncestors (from State.Ancestry). The pipeline fills them for an
	// alert that has none.
	Ancestors []auditevent.Process
	// Related are the earlier events a correlating detection links to
	// this one (the write of the loaded file, of configuration naming it).
	Related []Related
	// FirstSeen lists the values this host had never seen before the event.
	FirstSeen []SeenValue
	// Aggregated, on a summary alert of an alert storm, is how many
	// identical alerts (same detection, process and file) it stands for,
	// itself included; 0 on an ordinary alert (which stands for one).
	Aggregated int
}

// MaxAncestors bounds Alert.Ancestors.
const MaxAncestors = 16

// Related is an earlier event linked to an alert.
type Related struct {
	Role     string // RoleModuleFileWrite or RoleModuleConfigWrite
	Serial   uint32
	AtMilli  int64 // event time, ms since the epoch
	Syscall  string
	Path     string
	Process  auditevent.Process // the process that made the event
	Modules  []string           // module names the written configuration names
	Match    string             // how the link was made
	LinkedBy string             // the module name or file that matched
}

// Roles of a Related event.
const (
	RoleModuleFileWrite   = "module-file-write"
	RoleModuleConfigWrite = "module-config-write"
)

// SeenValue is one value seen for the first time: its kind (module,
// ko_path, kmod_args) and the value.
type SeenValue struct{ Kind, Value string }

// State is the read-only view of the correlation state that detections
// may use. Implementations must not block.
type State interface {
	// Process returns the process table's entry for pid as of the event.
	Process(pid int) (auditevent.Process, bool)
	// Parent returns the parent of the process pid is now, never a newer
	// process that reused the parent's pid.
	Parent(pid int) (auditevent.Process, bool)
	// Ancestry returns pid's ancestors, parent first, at most max of them.
	Ancestry(pid int, max int) []auditevent.Process
}

// Rule is one detection: a declaration and a pure evaluation over one
// event. Evaluate must not keep ev or its slices after returning, except
// through the returned alerts.
type Rule interface {
	Definition() *Definition
	Evaluate(ev *auditevent.Event, st State) []Alert
}
