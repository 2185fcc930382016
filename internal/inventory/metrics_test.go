package inventory

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(0, 0)
	tr.Check(snap(0, "a", "a", 0))
	tr.RecordLoad(load(1, "rk", 5))
	s := snap(2, "a u", "a rk u", 12288)
	tr.Check(s)
	m.observe(tr, s, triggerEvent, false)
	want := `
# HELP auditlkm_inventory_hidden_modules Modules confirmed hidden: in one kernel view and missing from another (or loaded and in none).
# TYPE auditlkm_inventory_hidden_modules gauge
auditlkm_inventory_hidden_modules 1
# HELP auditlkm_inventory_unknown_modules Present modules the audit trail never saw load (outside the baseline).
# TYPE auditlkm_inventory_unknown_modules gauge
auditlkm_inventory_unknown_modules 1
# HELP auditlkm_kernel_tainted The kernel taint mask (/proc/sys/kernel/tainted) at the last check.
# TYPE auditlkm_kernel_tainted gauge
auditlkm_kernel_tainted 12288
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "auditlkm_inventory_hidden_modules",
		"auditlkm_inventory_unknown_modules", "auditlkm_kernel_tainted"); err != nil {
		t.Error(err)
	}
	for labels, v := range map[[3]string]float64{{"12", "O", "OOT_MODULE"}: 1, {"13", "E", "UNSIGNED_MODULE"}: 1, {"0", "P", "PROPRIETARY_MODULE"}: 0} {
		if got := testutil.ToFloat64(m.taint.WithLabelValues(labels[:]...)); got != v {
			t.Errorf("taint %v = %v, want %v", labels, got, v)
		}
	}
	for view, v := range map[string]float64{"proc_modules": 2, "sysfs": 3, "inventory": 3} {
		if got := testutil.ToFloat64(m.modules.WithLabelValues(view)); got != v {
			t.Errorf("modules{view=%s} = %v, want %v", view, got, v)
		}
	}
}
