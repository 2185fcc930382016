package detections

import (
	"path"
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"
)

// ConfigThenLoadID is the stable id of the "config then load" detection.
const ConfigThenLoadID = "lkm-config-then-load"

// configThenLoad links a module load to earlier writes of module
// configuration (modprobe.d, modules-load.d, /etc/modules) that name the
// module, the module's file (an install command), or the module its
// modprobe ancestor was asked for. Its exclusions match the WRITER of the
// configuration; a link whose writer is excluded is dropped, and the alert
// is suppressed only when every link is.
type configThenLoad struct {
	def        Definition
	exclusions []Exclusion
}

func newConfigThenLoad(extra []Exclusion) *configThenLoad {
	return &configThenLoad{
		def: Definition{
			ID:   ConfigThenLoadID,
			Name: "Kernel Module Configuration Written Then Module Loaded",
			Description: "Module configuration (modprobe.d, modules-load.d, /etc/modules) naming a module was written, " +
				"and that module was then loaded within the link window: an install command, options or an autoload " +
				"entry put in place and exercised. The alert names the configuration writes, their writers and the load.",
			Severity: High, RiskScore: 73, Threat: T1547006,
			Covers: []string{"E9", "E2", "H1"},
			Needs: []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_PATH, auparse.AUDIT_CWD,
				auparse.AUDIT_EXECVE, auparse.AUDIT_KERN_MODULE},
		},
		exclusions: append(packageManagerWriters(), extra...),
	}
}

func (r *configThenLoad) Definition() *Definition { return &r.def }

func (r *configThenLoad) Evaluate(dst []Alert, in *Input) []Alert {
	ml := in.Facts.Load
	if ml == nil || len(ml.Configs) == 0 || ml.Repeat {
		return dst
	}
	ev := in.Event
	proc, parent := in.Actor()
	a := newAlert(&r.def, ev, proc, parent)
	a.Category, a.Type, a.Action = categoryDriver, typeStart, "loaded-configured-kernel-module"
	if ml.File != "" {
		a.File = &File{Path: ml.File}
	}
	var excluded string
	var confs []string
	for i := range ml.Configs {
		cl := &ml.Configs[i]
		ws := subjectOf(&cl.Write.Process, nil, nil)
		ws.Path, ws.FileName = cl.Write.Path, path.Base(cl.Write.Path)
		ws.otherHost = ev.Node != ""
		if reason, ok := firstMatch(r.exclusions, &ws); ok {
			excluded = reason
			continue
		}
		a.Related = append(a.Related, relatedWrite(RoleModuleConfigWrite, &cl.Write, cl.Match, cl.Module))
		confs = append(confs, corrQuote(cl.Write.Path)+" (by "+corrWho(&cl.Write.Process)+", "+corrAgo(ml.At.Sub(cl.Write.At))+" earlier)")
	}
	if len(a.Related) == 0 {
		a.Suppressed = excluded
		return append(dst, a)
	}
	what := "a kernel module"
	if ml.Name != "" {
		what = "module " + corrQuote(ml.Name)
	}
	a.Reason = corrWho(&proc) + " " + loadVerb(ev) + " " + what + " named by module configuration written before: " +
		strings.Join(confs, "; ")
	return append(dst, a)
}
