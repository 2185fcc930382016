package detections

import (
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
)

// FirstSeenID is the stable id of the first-seen detection.
const FirstSeenID = "lkm-first-seen"

// firstSeen raises a low-severity alert when a module load names a module
// or a module file, or a kmod tool runs with an argument list, that this
// host has never seen before (the single-host form of the H1 and H2
// rarity hunts). Nothing is raised during the correlation store's learning
// period. Writes of new module files are not alerted on (a kernel update
// writes thousands); the file is first-seen when it is first loaded.
type firstSeen struct {
	def        Definition
	exclusions []Exclusion
}

func newFirstSeen(extra []Exclusion) *firstSeen {
	return &firstSeen{
		def: Definition{
			ID:   FirstSeenID,
			Name: "Kernel Module, Module File or kmod Command Line First Seen",
			Description: "A module name or module file was loaded, or a kmod tool (insmod, modprobe, rmmod, kmod) ran " +
				"with arguments, for the first time on this host since auditlkm began keeping history (after its " +
				"learning period).",
			Severity: Low, RiskScore: 21, Threat: T1547006,
			Covers: []string{"H1", "H2"},
			Needs:  []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_EXECVE, auparse.AUDIT_KERN_MODULE},
		},
		exclusions: extra,
	}
}

func (r *firstSeen) Definition() *Definition { return &r.def }

func (r *firstSeen) Evaluate(dst []Alert, in *Input) []Alert {
	ev, st := in.Event, in.State
	if ev == nil || !ev.HasSyscall {
		return dst
	}
	var kinds []string
	switch ev.Syscall.Name {
	case "init_module", "finit_module":
		kinds = []string{correlate.SeenModule, correlate.SeenKoPath}
	case "execve", "execveat":
		if ev.Syscall.Success != auditevent.SuccessYes {
			return dst
		}
		kinds = []string{correlate.SeenKmodArgs}
	default:
		return dst
	}
	f := &in.Facts
	if f.Learning || len(f.FirstSeen) == 0 {
		return dst
	}
	var fresh []SeenValue
	for _, v := range f.FirstSeen {
		for _, k := range kinds {
			if v.Kind == k {
				val := v.Value
				if k == correlate.SeenKmodArgs {
					val = strings.ReplaceAll(val, "\x00", " ")
				}
				fresh = append(fresh, SeenValue{Kind: k, Value: val})
			}
		}
	}
	if len(fresh) == 0 {
		return dst
	}
	proc, parent := in.Actor()
	a := newAlert(&r.def, ev, proc, parent)
	a.FirstSeen = fresh
	parts := make([]string, len(fresh))
	for i, v := range fresh {
		parts[i] = v.Kind + " " + corrQuote(v.Value)
	}
	if ev.Syscall.Name == "execve" || ev.Syscall.Name == "execveat" {
		a.Category, a.Type, a.Action = []string{"process"}, []string{"start"}, "first-seen-kmod-command"
	} else {
		a.Category, a.Type, a.Action = categoryDriver, typeStart, "first-seen-kernel-module"
		if ml := f.Load; ml != nil && ml.File != "" {
			a.File = &File{Path: ml.File}
		}
	}
	a.Reason = corrWho(&proc) + ": first seen on this host: " + strings.Join(parts, ", ")
	s := subjectOf(&proc, parent, st)
	if a.File != nil {
		s.Path = a.File.Path
	}
	if reason, ok := firstMatch(r.exclusions, &s); ok {
		a.Suppressed = reason
	}
	return append(dst, a)
}
