package detections

import (
	"bytes"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// BPFProgramLoadID is the stable id of the BPF record detection.
const BPFProgramLoadID = "bpf-program-load"

// BPFExclusions are the programs that load BPF programs as routine:
// systemd (cgroup device and firewall programs) and its helpers.
func BPFExclusions() []Exclusion {
	return []Exclusion{
		{Reason: "init-system", Source: "auditlkm", Exe: []string{"/usr/lib/systemd/systemd", "/lib/systemd/systemd",
			"/usr/lib/systemd/systemd-*", "/lib/systemd/systemd-*"}},
	}
}

// bpfProgramLoad reads the kernel's BPF record (type 1334, op=LOAD): every
// eBPF program load, whichever tool made it (E7's note). With the bpf
// syscall audited (46-auditlkm-bpf.rules) the record carries the process.
type bpfProgramLoad struct {
	def        Definition
	exclusions []Exclusion
}

func newBPFProgramLoad(extra []Exclusion) *bpfProgramLoad {
	return &bpfProgramLoad{
		def: Definition{
			ID:   BPFProgramLoadID,
			Name: "eBPF Program Loaded",
			Description: "The kernel recorded an eBPF program load (BPF record op=LOAD), whatever program made it: " +
				"bpftool, a loader library or a direct bpf(2) call, 32-bit included.",
			Severity: Low, RiskScore: 21, Threat: T1547006,
			Covers: []string{"E7"},
			Needs:  []auparse.AuditMessageType{auparse.AUDIT_BPF, auparse.AUDIT_SYSCALL},
		},
		exclusions: append(BPFExclusions(), extra...),
	}
}

func (r *bpfProgramLoad) Definition() *Definition { return &r.def }

func (r *bpfProgramLoad) Evaluate(dst []Alert, in *Input) []Alert {
	ev, st := in.Event, in.State
	if ev.HasSyscall && ev.Syscall.Name != "bpf" {
		return dst
	}
	for i := range ev.Records {
		rec := &ev.Records[i]
		if rec.Type != auparse.AUDIT_BPF {
			continue
		}
		body := rec.Body()
		if !bytes.Contains(body, []byte("op=LOAD")) {
			continue
		}
		proc, parent := in.Actor()
		a := newAlert(&r.def, ev, proc, parent)
		a.Category, a.Type, a.Action = categoryDriver, typeStart, "loaded-bpf-program"
		id := "?"
		if f, ok := auditevent.Lookup(body, "prog-id"); ok {
			id = string(f.Value)
		}
		a.Reason = "eBPF program " + id + " loaded by " + orUnknown(proc.Exe)
		s := subjectOf(&proc, parent, st)
		suppress(&a, r.exclusions, &s)
		return append(dst, a)
	}
	return dst
}
