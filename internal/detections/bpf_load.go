package detections

import (
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/toolargs"
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

func (r *bpftoolLoad) Evaluate(dst []Alert, in *Input) []Alert {
	ev := in.Event
	if !successfulExec(ev) || (ev.Syscall.Comm != "bpftool" && argv0Name(ev) != "bpftool" && !strings.HasSuffix(ev.Syscall.Exe, "/bpftool")) {
		return dst
	}
	proc, parent := in.Actor()
	b := toolargs.ParseBpftool(proc.Args)
	if !b.Loads() {
		return dst
	}
	a := newAlert(&r.def, ev, proc, parent)
	cmd := b.Object
	if b.Verb != "" {
		cmd += " " + b.Verb
	}
	a.Category, a.Type, a.Action = []string{"process"}, []string{"start"}, "bpftool-"+strings.ReplaceAll(cmd, " ", "-")
	a.Reason = "bpftool " + cmd + " run by " + parentDesc(parent)
	if b.Object == "batch" {
		a.Reason += " (commands from a file audit does not show)"
	}
	return append(dst, a)
}
