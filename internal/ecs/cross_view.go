package ecs

import (
	"github.com/auditlkm/auditlkm/internal/detections"
)

// appendCrossView writes auditd.kernel_view: what the kernel's own views
// said of the module (hidden, unknown) or the taint change, for an alert
// of a cross-view detection.
func appendCrossView(w *writer, f *detections.CrossViewFinding) {
	if f == nil {
		return
	}
	w.open("kernel_view")
	w.str("finding", f.Kind)
	w.str("trace", f.Trace)
	if f.AtStart {
		w.bool("at_start", true)
	}
	if !f.LastSeen.IsZero() {
		w.field("last_seen")
		w.b = appendTime(w.b, f.LastSeen)
	}
	if m := &f.Module; m.Name != "" {
		w.open("module")
		w.str("name", m.Name)
		w.bool("in_proc_modules", m.InProcModules)
		w.bool("in_sysfs", m.InSysfs)
		w.str("state", m.State)
		w.str("initstate", m.InitState)
		if m.Size > 0 {
			w.uint("size", m.Size)
		}
		if m.InProcModules || m.InSysfs {
			w.int("refcount", int64(m.Refcount))
		}
		w.strs("used_by", m.UsedBy)
		w.strs("holders", m.Holders)
		if m.Sections > 0 {
			w.int("sections", int64(m.Sections))
		}
		w.str("taint", m.Taint)
		w.str("address", m.Address)
		w.str("srcversion", m.SrcVersion)
		w.str("version", m.Version)
		w.str("referenced_by", m.ReferencedBy)
		w.close()
	}
	if f.Kind == detections.FindingTaint {
		w.open("taint")
		w.uintStr("before", f.TaintBefore)
		w.uintStr("after", f.TaintAfter)
		w.objects("new", len(f.NewTaint), func(i int) {
			t := &f.NewTaint[i]
			w.int("bit", int64(t.Bit))
			w.str("letter", t.Letter)
			w.str("name", t.Name)
			w.str("description", t.About)
			w.str("module", t.Module)
		})
		w.close()
	}
	w.close()
}
