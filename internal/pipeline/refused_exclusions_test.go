package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// TestRefusedExclusionsAreCounted: dpkg writing modprobe.d with no
// provenance verifier (fail closed) is alerted, and the refusal is counted
// by detection, exclusion reason and why.
func TestRefusedExclusionsAreCounted(t *testing.T) {
	src := lines{l: []string{
		`type=SYSCALL msg=audit(1700000000.100:42): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55d0 a2=241 a3=1b6 items=2 ppid=10 pid=11 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="dpkg" exe="/usr/bin/dpkg" key=(null)`,
		`type=CWD msg=audit(1700000000.100:42): cwd="/"`,
		`type=PATH msg=audit(1700000000.100:42): item=0 name="/etc/modprobe.d/" inode=100 dev=fd:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT`,
		`type=PATH msg=audit(1700000000.100:42): item=1 name="/etc/modprobe.d/x.conf" inode=101 dev=fd:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE`,
		`type=EOE msg=audit(1700000000.100:42): `,
	}}
	cat, err := detections.NewCatalog(detections.Config{Disabled: otherRules(t, detections.ConfigFileCreationID)})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	sink := &collect{}
	m, err := NewMetrics(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProcessor(reassemble.DefaultConfig(), cat, nil, sink, nil, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Replay(context.Background(), &src, p); err != nil {
		t.Fatal(err)
	}
	if len(sink.alerts) != 1 || sink.alerts[0].ExclusionRefused != "package-manager/no-provenance" {
		t.Fatalf("alerts: %d", len(sink.alerts))
	}
	want := `
# HELP auditlkm_detections_exclusions_refused_total Alerts raised although an exclusion's criteria matched, because what the exclusion requires was not proven (the program is not package-owned, was modified, no package manager in the ancestry, no package database ...), by detection id, exclusion reason and why.
# TYPE auditlkm_detections_exclusions_refused_total counter
auditlkm_detections_exclusions_refused_total{reason="package-manager",rule_id="lkm-config-file-creation",why="no-provenance"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "auditlkm_detections_exclusions_refused_total"); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.RefusedBy["lkm-config-file-creation/package-manager/no-provenance"] != 1 {
		t.Fatalf("stats: %v", st.RefusedBy)
	}
}
