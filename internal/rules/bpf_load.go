package rules

import (
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// BPFToolLoadID is the stable id of the bpftool detection.
const BPFToolLoadID = "bpftool-program-load"

// bpftoolLoad is E7 and Sigma S3: bpftool run to load, attach, pin or run
// a program, or create or pin a map or link.
type bpftoolLoad struct{ def Definition }

func newBPFToolLoad() *bpftoolLoad {
	return &bpftoolLoad{def: Definition{
		ID:   BPFToolLoadID,
		Name: "BPF Program or Map Load via bpftool",
		Description: "bpftool was run with prog load/loadall/attach/detach/run/pin, map create/pin or link pin. " +
			"eBPF programs can hide files and processes or rewrite user memory like a kernel module.",
		Severity: Medium, RiskScore: 47, Threat: T1547006,
		Covers: []string{"E7", "S3"},
		Needs:  []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_EXECVE},
	}}
}

func (r *bpftoolLoad) Definition() *Definition { return &r.def }

// bpftoolObjects maps bpftool objects to the verbs E7 and S3 list.
func bpftoolVerb(object, verb string) bool {
	switch object {
	case "prog", "p", "program":
		return verb == "load" || verb == "loadall" || verb == "attach" || verb == "run" || verb == "pin" || verb == "detach"
	case "map", "m":
		return verb == "create" || verb == "pin"
	case "link", "l":
		return verb == "pin"
	}
	return false
}

func (r *bpftoolLoad) Evaluate(ev *auditevent.Event, st State) []Alert {
	if !successfulExec(ev) || (ev.Syscall.Comm != "bpftool" && argv0Name(ev) != "bpftool" && !strings.HasSuffix(ev.Syscall.Exe, "/bpftool")) {
		return nil
	}
	proc, parent := actor(ev, st)
	// bpftool [options] OBJECT VERB ...: skip options (and -d/-j/-p/-f
	// style flags); a few take a value.
	var words []string
	for i := 1; i < len(proc.Args) && len(words) < 2; i++ {
		a := proc.Args[i]
		if strings.HasPrefix(a, "-") {
			if a == "--base-btf" || a == "-B" || a == "--bpffs" || a == "-L" {
				i++
			}
			continue
		}
		words = append(words, a)
	}
	if len(words) < 2 || !bpftoolVerb(words[0], words[1]) {
		return nil
	}
	a := newAlert(&r.def, ev, proc, parent)
	a.Category, a.Type, a.Action = []string{"process"}, []string{"start"}, "bpftool-"+words[0]+"-"+words[1]
	a.Reason = "bpftool " + words[0] + " " + words[1] + " run by " + parentDesc(parent)
	return []Alert{a}
}
