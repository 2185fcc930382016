package detections

import (
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
)

// DroppedThenLoadedID is the stable id of the "dropped then loaded"
// detection.
const DroppedThenLoadedID = "lkm-dropped-then-loaded"

// packageManagerWriters are E9's package manager exclusions: a module
// file or configuration they wrote is expected to be loaded.
func packageManagerWriters() []Exclusion {
	var out []Exclusion
	for _, x := range E9Exclusions() {
		if x.Reason == "package-manager" {
			out = append(out, x)
		}
	}
	return out
}

// droppedThenLoaded links a module load to an earlier write of the same
// module file by another process: a .ko created, renamed or linked into
// place, then loaded with init_module or finit_module within the link
// window. Its exclusions match the WRITER (process.* of the subject is
// the writer, file.* the module file).
type droppedThenLoaded struct {
	def        Definition
	exclusions []Exclusion
}

func newDroppedThenLoaded(extra []Exclusion) *droppedThenLoaded {
	return &droppedThenLoaded{
		def: Definition{
			ID:   DroppedThenLoadedID,
			Name: "Kernel Module Dropped Then Loaded",
			Description: "A kernel module file was written (created, renamed or linked into place) by one process and " +
				"then loaded with init_module or finit_module by another, within the link window: the pattern of a " +
				"rootkit dropper. The alert names both events, both processes and the file.",
			Severity: High, RiskScore: 85, Threat: T1547006,
			Covers: []string{"E2", "H2"},
			Needs: []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_PATH, auparse.AUDIT_CWD,
				auparse.AUDIT_EXECVE, auparse.AUDIT_KERN_MODULE},
		},
		exclusions: append(packageManagerWriters(), extra...),
	}
}

func (r *droppedThenLoaded) Definition() *Definition { return &r.def }

func (r *droppedThenLoaded) Evaluate(dst []Alert, in *Input) []Alert {
	ml := in.Facts.Load
	if ml == nil || ml.Drop == nil || ml.DropBySameProcess || ml.Repeat {
		return dst
	}
	ev := in.Event
	w := ml.Drop
	proc, parent := in.Actor()
	a := newAlert(&r.def, ev, proc, parent)
	a.Category, a.Type, a.Action = categoryDriver, typeStart, "loaded-dropped-kernel-module"
	a.File = &File{Path: ml.File}
	a.Related = []Related{relatedWrite(RoleModuleFileWrite, w, "", "")}
	if ev.Syscall.Success == auditevent.SuccessNo {
		a.RiskScore = 73 // refused, still high: the drop and the attempt are the signal
	}
	a.Reason = corrWho(&proc) + " " + loadVerb(ev) + " " + corrQuote(ml.File) + ", written " +
		corrAgo(ml.At.Sub(w.At)) + " earlier by " + corrWho(&w.Process) + " (" + w.Syscall + ")"
	ws := subjectOf(&w.Process, nil, nil)
	ws.Path, ws.FileName = ml.File, path.Base(ml.File)
	ws.otherHost = ev.Node != ""
	if reason, ok := firstMatch(r.exclusions, &ws); ok {
		a.Suppressed = reason
	}
	return append(dst, a)
}

// relatedWrite renders a recorded write for Alert.Related.
func relatedWrite(role string, w *correlate.FileWrite, match, by string) Related {
	return Related{
		Role: role, Serial: w.Serial, AtMilli: w.At.UnixMilli(), Syscall: w.Syscall, Path: w.Path,
		Process: w.Process, Modules: w.Names, Match: match, LinkedBy: by,
	}
}

func loadVerb(ev *auditevent.Event) string {
	if ev.Syscall.Success == auditevent.SuccessNo {
		return "tried to load (" + ev.Syscall.Name + ", refused)"
	}
	return "loaded (" + ev.Syscall.Name + ")"
}

// corrWho names a process for a reason sentence: "/usr/bin/cp (pid 42)".
func corrWho(p *auditevent.Process) string {
	exe := p.Exe
	if exe == "" {
		exe = p.Comm
	}
	if exe == "" {
		exe = "an unknown process"
	}
	return corrQuote(exe) + " (pid " + strconv.Itoa(p.PID) + ")"
}

// corrQuote quotes a string that has spaces, quotes or bytes outside
// printable ASCII, so a reason sentence stays unambiguous.
func corrQuote(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}

// corrAgo renders a duration for a reason sentence, in whole seconds (or
// milliseconds below one second).
func corrAgo(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return strings.TrimSuffix(d.Truncate(time.Second).String(), "0m0s")
}
