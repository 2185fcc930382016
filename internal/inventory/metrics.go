package inventory

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics expose the inventory and the taint mask. A nil *Metrics counts
// nothing.
type Metrics struct {
	modules          *prometheus.GaugeVec
	hidden, unknown  prometheus.Gauge
	tainted          prometheus.Gauge
	taint            *prometheus.GaugeVec
	checks           *prometheus.CounterVec
	checkErrors      prometheus.Counter
	unauditedUnloads prometheus.Gauge
}

// NewMetrics registers the inventory's metrics with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	ns, sub := "auditlkm", "inventory"
	m := &Metrics{
		modules: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "modules",
			Help: "Modules at the last check, by view: proc_modules (/proc/modules), sysfs (/sys/module with initstate), inventory (every module tracked)."},
			[]string{"view"}),
		hidden: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "hidden_modules",
			Help: "Modules confirmed hidden: in one kernel view and missing from another (or loaded and in none)."}),
		unknown: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "unknown_modules",
			Help: "Present modules the audit trail never saw load (outside the baseline)."}),
		tainted: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: "kernel", Name: "tainted",
			Help: "The kernel taint mask (/proc/sys/kernel/tainted) at the last check."}),
		taint: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: "kernel", Name: "taint",
			Help: "1 when the taint bit is set, by bit, letter and kernel name."}, []string{"bit", "letter", "name"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "checks_total",
			Help: "Reads of the kernel's module views, by what triggered them (start, event, confirm, interval)."}, []string{"trigger"}),
		checkErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "check_errors_total",
			Help: "Checks where a kernel view could not be read whole."}),
		unauditedUnloads: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "unaudited_unloads",
			Help: "Modules that left the kernel without an audited delete_module (kept across restarts of one boot)."}),
	}
	for _, f := range taintFlags {
		m.taint.WithLabelValues(strconv.Itoa(f.Bit), f.Letter, f.Name)
	}
	for _, t := range []string{triggerStart, triggerEvent, triggerConfirm, triggerInterval} {
		m.checks.WithLabelValues(t)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.modules, m.hidden, m.unknown, m.tainted, m.taint, m.checks, m.checkErrors, m.unauditedUnloads} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register inventory metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Check triggers.
const (
	triggerStart    = "start"
	triggerEvent    = "event"
	triggerConfirm  = "confirm"
	triggerInterval = "interval"
)

func (m *Metrics) observe(t *Tracker, s *Snapshot, trigger string, failed bool) {
	if m == nil {
		return
	}
	m.checks.WithLabelValues(trigger).Inc()
	if failed {
		m.checkErrors.Inc()
	}
	if s.ProcOK {
		m.modules.WithLabelValues("proc_modules").Set(float64(len(s.Proc)))
	}
	m.modules.WithLabelValues("sysfs").Set(float64(len(s.Sys)))
	var hidden, unknown, inv int
	for _, e := range t.entries {
		inv++
		if e.Hidden != "" {
			hidden++
		}
		if e.Unknown && e.Present {
			unknown++
		}
	}
	m.modules.WithLabelValues("inventory").Set(float64(inv))
	m.hidden.Set(float64(hidden))
	m.unknown.Set(float64(unknown))
	m.unauditedUnloads.Set(float64(t.unaudited))
	if s.TaintOK {
		m.tainted.Set(float64(s.Tainted))
		for b := 0; b < 64; b++ {
			f := Flag(b)
			set := s.Tainted&(1<<b) != 0
			if b >= len(taintFlags) && !set {
				continue
			}
			v := 0.0
			if set {
				v = 1
			}
			m.taint.WithLabelValues(strconv.Itoa(b), f.Letter, f.Name).Set(v)
		}
	}
}
