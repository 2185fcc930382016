package detections

import (
	"strings"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

func TestCrossViewRules(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	load := &ModuleLoadRecord{Serial: 4242, At: at.Add(-2 * time.Second), Syscall: "finit_module", Module: "hideme",
		File: "/root/hide me.ko", SHA256: strings.Repeat("0f", 32),
		Process: auditevent.Process{PID: 201, PPID: 180, Exe: "/usr/bin/kmod", Comm: "insmod", Args: []string{"insmod", "/root/hide me.ko"}},
		Parent:  &auditevent.Process{PID: 180, Exe: "/bin/sh"}}
	tests := []struct {
		name     string
		f        CrossViewFinding
		id       string
		severity Severity
		reason   []string
	}{
		{"hidden, sysfs trace", CrossViewFinding{Kind: FindingHidden, At: at, Trace: "sysfs", Load: load,
			Module: KernelModuleView{Name: "hideme", InSysfs: true, InitState: "live", Taint: "OE"}},
			HiddenModuleID, Critical, []string{"hideme is missing from /proc/modules while /sys/module/hideme remains (initstate live)",
				`by /usr/bin/kmod (pid 201) (finit_module of "/root/hide me.ko", audit event 4242)`}},
		{"hidden, sysfs gone", CrossViewFinding{Kind: FindingHidden, At: at, Trace: "proc-modules", Load: load,
			Module: KernelModuleView{Name: "hideme", InProcModules: true, State: "Live"}},
			HiddenModuleID, Critical, []string{"is in /proc/modules but its /sys/module directory is gone"}},
		{"hidden, no trace left", CrossViewFinding{Kind: FindingHidden, At: at, Trace: "none", Load: load,
			Module: KernelModuleView{Name: "hideme"}},
			HiddenModuleID, High, []string{"hideme was loaded and is in no kernel view", "unloaded while auditing was blind", "audit event 4242"}},
		{"hidden, only another module's reference left", CrossViewFinding{Kind: FindingHidden, At: at, Trace: "used-by", Load: load,
			Module: KernelModuleView{Name: "hideme", ReferencedBy: "nf_tables"}},
			HiddenModuleID, Critical, []string{"hideme is in neither /proc/modules nor /sys/module, yet module nf_tables lists it as its user"}},
		{"unknown at start", CrossViewFinding{Kind: FindingUnknown, At: at, AtStart: true,
			Module: KernelModuleView{Name: "blind", InProcModules: true, State: "Live", InSysfs: true, InitState: "live", Taint: "OE"}},
			UnknownModuleID, High, []string{"blind was loaded while auditlkm was not running", "(/proc/modules Live, sysfs live, taint OE)"}},
		{"taint", CrossViewFinding{Kind: FindingTaint, At: at, TaintBefore: 0, TaintAfter: 12288, Load: load,
			NewTaint: []TaintBit{{Bit: 12, Letter: "O", Name: "OOT_MODULE", Module: "hideme"}, {Bit: 13, Letter: "E", Name: "UNSIGNED_MODULE", Module: "hideme"}}},
			KernelTaintID, Medium, []string{"from 0 to 12288: O OOT_MODULE (hideme), E UNSIGNED_MODULE (hideme)", "audit event 4242"}},
		{"taint without a load", CrossViewFinding{Kind: FindingTaint, At: at, TaintBefore: 0, TaintAfter: 512,
			NewTaint: []TaintBit{{Bit: 9, Letter: "W", Name: "WARN"}}},
			KernelTaintID, Medium, []string{"W WARN; the audit trail has no load of it"}},
	}
	catalog, err := NewCatalog(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []Alert
			for _, r := range catalog.CrossView {
				got = append(got, r.EvaluateCrossView(&tc.f)...)
			}
			if len(got) != 1 {
				t.Fatalf("%d alerts, want 1", len(got))
			}
			a := got[0]
			if a.Rule.ID != tc.id || a.Severity != tc.severity || a.CrossView != &tc.f || a.Event != nil {
				t.Errorf("alert %s %v", a.Rule.ID, a.Severity)
			}
			for _, want := range tc.reason {
				if !strings.Contains(a.Reason, want) {
					t.Errorf("reason %q lacks %q", a.Reason, want)
				}
			}
			if tc.f.Load != nil {
				if a.Process.PID != 201 || a.Parent == nil || a.Parent.PID != 180 || a.File == nil || a.File.Path != load.File ||
					len(a.Related) != 1 || a.Related[0].Role != RoleModuleLoad || a.Related[0].Serial != 4242 || a.Related[0].SHA256 != load.SHA256 {
					t.Errorf("load not carried: %+v", a)
				}
			} else if a.Process.PID != 0 || len(a.Related) != 0 {
				t.Errorf("a process without a load: %+v", a)
			}
		})
	}
	// Disabled by id like any detection.
	catalog, err = NewCatalog(Config{Disabled: []string{HiddenModuleID}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range catalog.Definitions() {
		if d.ID == HiddenModuleID {
			t.Error("disabled detection still in the catalog")
		}
	}
	if HiddenThreat := T1014; HiddenThreat.TechniqueID != "T1014" || HiddenThreat.TacticID != "TA0005" {
		t.Error("T1014")
	}
}
