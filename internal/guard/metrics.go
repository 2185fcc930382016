package guard

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Trigger labels of auditlkm_auditrules_checks_total.
const (
	TriggerPeriodic = "periodic"
	TriggerRecord   = "record"
	TriggerManual   = "manual"
)

// Metrics are the guard's counters and gauges. A nil *Metrics counts
// nothing.
type Metrics struct {
	missing   prometheus.Gauge
	others    prometheus.Gauge
	owned     prometheus.Gauge
	checks    *prometheus.CounterVec
	repairs   *prometheus.CounterVec
	failures  *prometheus.CounterVec
	lastCheck prometheus.Gauge
}

// NewMetrics registers the guard metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		missing: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "auditlkm", Subsystem: "auditrules", Name: "missing",
			Help: "auditlkm audit rules missing from the kernel at the last check (before any repair)."}),
		others: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "auditlkm", Subsystem: "auditrules", Name: "others",
			Help: "Kernel audit rules that are not auditlkm's, at the last check."}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "auditlkm", Subsystem: "auditrules", Name: "owned",
			Help: "Audit rules auditlkm added to the kernel and will remove at exit."}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "auditrules", Name: "checks_total",
			Help: "Comparisons of the kernel rule list with auditlkm's, by trigger (periodic, record, manual)."}, []string{"trigger"}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "auditrules", Name: "repairs_total",
			Help: "Repairs made: rule (a missing rule added back), replaced (a stale rule of ours removed after its replacement was added), enabled (auditing switched back on)."},
			[]string{"what"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "auditrules", Name: "repair_failures_total",
			Help: "Checks that found something to repair and could not, by reason (immutable, kernel, rules)."}, []string{"reason"}),
		lastCheck: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "auditlkm", Subsystem: "auditrules", Name: "last_check_timestamp_seconds",
			Help: "Time of the last completed check."}),
	}
	for _, t := range []string{TriggerPeriodic, TriggerRecord, TriggerManual} {
		m.checks.WithLabelValues(t)
	}
	for _, w := range []string{"rule", "replaced", "enabled"} {
		m.repairs.WithLabelValues(w)
	}
	for _, r := range []string{"immutable", "kernel", "rules"} {
		m.failures.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.missing, m.others, m.owned, m.checks, m.repairs, m.failures, m.lastCheck} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register guard metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) checked(trigger string, missing, others, owned int, unix float64) {
	if m == nil {
		return
	}
	m.checks.WithLabelValues(trigger).Inc()
	m.missing.Set(float64(missing))
	m.others.Set(float64(others))
	m.owned.Set(float64(owned))
	m.lastCheck.Set(unix)
}

func (m *Metrics) repaired(what string, n int) {
	if m != nil && n > 0 {
		m.repairs.WithLabelValues(what).Add(float64(n))
	}
}

func (m *Metrics) failed(reason string) {
	if m != nil {
		m.failures.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) setOwned(n int) {
	if m != nil {
		m.owned.Set(float64(n))
	}
}
