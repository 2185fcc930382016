package detections

import (
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/kmsg"
	"github.com/auditlkm/auditlkm/internal/modfile"
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
	KernelLog *kmsg.Line
	// KernelLogModule is the module a kernel-log line names ("" when it
	// names none); KernelLogTie says the alert may be tied to a load (the
	// pipeline holds it briefly for a load that comes after the line).
	KernelLogModule string
	KernelLogTie    bool
	// Ancestors are the process's known ancestors, parent first, at most
	// MaxAncestors (from State.Ancestry). The pipeline fills them for an
	// alert that has none.
	Ancestors []auditevent.Process
	// Related are the earlier events a correlating detection links to
	// this one (the write of the loaded file, of configuration naming it).
	Related []Related
	// FirstSeen lists the values this host had never seen before the event.
	FirstSeen []SeenValue
	// ModuleFile is what the module file of the load said about itself
	// (internal/modfile), read when the load was processed; nil when the
	// event is not a load or its file was not looked at.
	ModuleFile *ModuleFile
	// CrossView is the finding a cross-view detection reported (the audit
	// trail joined with the kernel's module views, internal/inventory);
	// Event is nil then.
	CrossView *CrossViewFinding
	// Aggregated, on a summary alert of an alert storm, is how many
	// identical alerts (same detection, process and file) it stands for,
	// itself included; 0 on an ordinary alert (which stands for one).
	Aggregated int
}

// ModuleFile is the module file of a load as read when the load was
// processed.
type ModuleFile struct {
	Path string
	// Info is what the file says (hash, .modinfo, signature); nil when it
	// could not be read at all. Shared between alerts: read only.
	Info *modfile.Info
	// Error says why the file was not read, or read only in part.
	Error string
	// Mismatch lists where the file disagrees with the load: another
	// inode than the loader opened, another module name than the kernel
	// registered (KERN_MODULE).
	Mismatch []string
	// KernelHash is the hash of the file the kernel read, "algo:hex",
	// from IMA's record of the load (correlate.ModuleLoad.KernelHash); it
	// stands when the file could not be read (deleted since).
	KernelHash string
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
	SHA256   string             // of Path, when known (hex)
}

// Roles of a Related event.
const (
	RoleModuleFileWrite   = "module-file-write"
	RoleModuleConfigWrite = "module-config-write"
)

// SeenValue is one value seen for the first time: its kind (module,
// ko_path, kmod_args) and the value. It is the correlation store's type.
type SeenValue = correlate.SeenValue

// State is the read-only view of the long-lived correlation state that
// detections may query (the process table). What the store learned about
// the event itself comes in Input.Facts. Implementations must not block.
type State interface {
	// Process returns the process table's entry for pid as of the event.
	Process(pid int) (auditevent.Process, bool)
	// Parent returns the parent of the process pid is now, never a newer
	// process that reused the parent's pid.
	Parent(pid int) (auditevent.Process, bool)
	// Ancestry returns pid's ancestors, parent first, at most max of them.
	Ancestry(pid int, max int) []auditevent.Process
	// AppendAncestry appends what Ancestry returns to dst, so that a
	// caller can reuse one buffer from alert to alert.
	AppendAncestry(dst []auditevent.Process, pid int, max int) []auditevent.Process
}

// Detection is one detection over audit events: a declaration and a pure
// evaluation of one event. Evaluate appends its alerts for in to dst and
// returns the extended slice; it must not keep in, its event or their
// slices after returning, except through the alerts.
type Detection interface {
	Definition() *Definition
	Evaluate(dst []Alert, in *Input) []Alert
}

// ModuleFileOf returns the module file the correlation store read for the
// load ev, whose store resolution is ml (Facts.Load; nil when ev is not a
// load), nil when its file was not looked at (Config.ReadModuleFiles).
// The result is new per call: the alerts of one event share it.
func ModuleFileOf(ev *auditevent.Event, ml *correlate.ModuleLoad) *ModuleFile {
	if ml == nil || ml.File == "" || (ml.FileInfo == nil && ml.FileErr == "" && ml.KernelHash == "") {
		return nil
	}
	mf := &ModuleFile{Path: ml.File, Info: ml.FileInfo, Error: ml.FileErr, Mismatch: ml.FileMismatch, KernelHash: ml.KernelHash}
	if in := ml.FileInfo; in != nil && in.Modinfo.Name != "" && in.ThisModuleName != "" &&
		normModule(in.Modinfo.Name) != normModule(in.ThisModuleName) {
		mf.Mismatch = append(mf.Mismatch[:len(mf.Mismatch):len(mf.Mismatch)],
			"the file's .modinfo name "+strconvQuote(in.Modinfo.Name)+" is not its struct module name "+
				strconvQuote(in.ThisModuleName)+": forged .modinfo")
	}
	if in := ml.FileInfo; in != nil && ev.HasModule && ev.Module != "" && in.ThisModuleName != "" &&
		normModule(in.ThisModuleName) != normModule(ev.Module) {
		mf.Mismatch = append(mf.Mismatch[:len(mf.Mismatch):len(mf.Mismatch)],
			"the file's struct module is named "+strconvQuote(in.ThisModuleName)+", the kernel registered "+
				strconvQuote(ev.Module)+": the file at this path is not the one loaded")
	}
	return mf
}

// AttachModuleFile gives a the module file of its load: as its File when
// it has none, and as ModuleFile.
func AttachModuleFile(a *Alert, mf *ModuleFile) {
	if mf == nil {
		return
	}
	a.ModuleFile = mf
	if a.File == nil && (mf.Info != nil || mf.KernelHash != "") {
		a.File = &File{Path: mf.Path}
	}
}
