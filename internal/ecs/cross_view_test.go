package ecs

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
)

func crossViewAlert(t *testing.T, f *detections.CrossViewFinding) *detections.Alert {
	t.Helper()
	catalog, err := detections.NewCatalog(detections.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range catalog.CrossView {
		if as := r.EvaluateCrossView(f); len(as) == 1 {
			return &as[0]
		}
	}
	t.Fatalf("no alert for %s", f.Kind)
	return nil
}

func TestCrossViewDocument(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 0, 3, 0, time.UTC)
	load := &detections.ModuleLoadRecord{Serial: 4242, At: at.Add(-2 * time.Second), Syscall: "finit_module", Module: "hideme",
		File: "/root/hideme.ko", SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Process: auditevent.Process{PID: 201, PPID: 180, Exe: "/usr/bin/kmod", Comm: "insmod", Args: []string{"insmod", "/root/hideme.ko"}, UID: 0, AUID: 0},
		Parent:  &auditevent.Process{PID: 180, Exe: "/bin/busybox", Args: []string{"/bin/sh", "/init"}}}
	hidden := crossViewAlert(t, &detections.CrossViewFinding{Kind: detections.FindingHidden, At: at, Trace: "sysfs", Load: load,
		Module: detections.KernelModuleView{Name: "hideme", InSysfs: true, InitState: "live", Taint: "OE", Refcount: 0, Sections: 13, Size: 16384}})
	taint := crossViewAlert(t, &detections.CrossViewFinding{Kind: detections.FindingTaint, At: at, TaintAfter: 12288, Load: load,
		NewTaint: []detections.TaintBit{{Bit: 12, Letter: "O", Name: "OOT_MODULE", About: "out-of-tree", Module: "hideme"}}})
	for _, a := range []*detections.Alert{hidden, taint} {
		var out bytes.Buffer
		if err := newTestEncoder(t, &out).WriteAlert(a); err != nil {
			t.Fatal(err)
		}
		doc := decode(t, out.Bytes())
		for path, want := range map[string]any{
			"@timestamp":                          "2026-12-04T12:00:03.000Z",
			"process.pid":                         float64(201),
			"process.parent.pid":                  float64(180),
			"file.path":                           "/root/hideme.ko",
			"rule.id":                             a.Rule.ID,
			"auditd.kernel_view.finding":          a.CrossView.Kind,
			"auditd.related.0.role":               "module-load",
			"auditd.related.0.sequence":           float64(4242),
			"auditd.related.0.file.hash.sha256":   load.SHA256,
			"auditd.related.0.process.executable": "/usr/bin/kmod",
		} {
			if got, ok := get(doc, path); !ok || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: %s = %v, want %v", a.Rule.ID, path, got, want)
			}
		}
		if w, ok := get(doc, "auditd.warnings"); ok {
			t.Errorf("warnings: %v", w)
		}
	}
	var out bytes.Buffer
	if err := newTestEncoder(t, &out).WriteAlert(hidden); err != nil {
		t.Fatal(err)
	}
	doc := decode(t, out.Bytes())
	for path, want := range map[string]any{
		"threat.technique.id.0":                     "T1014",
		"threat.tactic.id.0":                        "TA0005",
		"event.severity":                            float64(4),
		"auditd.kernel_view.trace":                  "sysfs",
		"auditd.kernel_view.module.in_proc_modules": false,
		"auditd.kernel_view.module.in_sysfs":        true,
		"auditd.kernel_view.module.taint":           "OE",
	} {
		if got, ok := get(doc, path); !ok || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	out.Reset()
	if err := newTestEncoder(t, &out).WriteAlert(taint); err != nil {
		t.Fatal(err)
	}
	doc = decode(t, out.Bytes())
	for path, want := range map[string]any{
		"auditd.kernel_view.taint.after":        "12288",
		"auditd.kernel_view.taint.new.0.letter": "O",
		"auditd.kernel_view.taint.new.0.name":   "OOT_MODULE",
		"auditd.kernel_view.taint.new.0.module": "hideme",
		"rule.id":                               detections.KernelTaintID,
	} {
		if got, ok := get(doc, path); !ok || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	fields := loadTestFields(t)
	for _, err := range ValidateDocument(doc, fields) {
		t.Error(err)
	}
}
