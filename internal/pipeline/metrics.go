package pipeline

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count what the detections decided. A nil *Metrics counts nothing.
type Metrics struct {
	alerts      *prometheus.CounterVec
	suppressedC *prometheus.CounterVec
	refusedC    *prometheus.CounterVec
	writeErrors prometheus.Counter
	aggregatedC *prometheus.CounterVec
	kernelLogC  *prometheus.CounterVec

	// Resolved children by rule id: alerts come in bursts, and a label
	// lookup per alert is measurable. Used from the processor's goroutine.
	alertBy, aggregatedBy map[string]prometheus.Counter
}

// NewMetrics registers the detection and output metrics with reg; ruleIDs
// pre-creates the per-rule series so they read 0 before the first alert.
func NewMetrics(reg prometheus.Registerer, ruleIDs []string) (*Metrics, error) {
	m := &Metrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "detections", Name: "alerts_total",
			Help: "Alerts emitted, by detection id."}, []string{"rule_id"}),
		suppressedC: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "detections", Name: "suppressed_total",
			Help: "Alerts suppressed by an exclusion, by detection id and exclusion reason."}, []string{"rule_id", "reason"}),
		refusedC: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "detections", Name: "exclusions_refused_total",
			Help: "Alerts raised although an exclusion's criteria matched, because what the exclusion requires was not proven (the program is not package-owned, was modified, no package manager in the ancestry, no package database ...), by detection id, exclusion reason and why."},
			[]string{"rule_id", "reason", "why"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "output", Name: "write_errors_total",
			Help: "Alerts that could not be written to the output."}),
		aggregatedC: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "detections", Name: "aggregated_total",
			Help: "Alerts held back by the alert-storm aggregation, by detection id; each is counted in a summary alert's auditd.aggregated_count."}, []string{"rule_id"}),
		kernelLogC: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "detections", Name: "kernel_log_held_total",
			Help: "Kernel-log alerts held for the load they are about, by outcome: held (the load had not come yet), tied (it came within the hold), expired (written without it: hold over, too many held, shutdown)."}, []string{"outcome"}),
	}
	for _, o := range []string{"held", "tied", "expired"} {
		m.kernelLogC.WithLabelValues(o)
	}
	for _, id := range ruleIDs {
		m.alerts.WithLabelValues(id)
		m.aggregatedC.WithLabelValues(id)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.alerts, m.suppressedC, m.refusedC, m.writeErrors, m.aggregatedC, m.kernelLogC} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register pipeline metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) alert(id string) {
	if m != nil {
		child(&m.alertBy, m.alerts, id).Inc()
	}
}

// child returns vec's child for id, resolved once.
func child(cache *map[string]prometheus.Counter, vec *prometheus.CounterVec, id string) prometheus.Counter {
	c, ok := (*cache)[id]
	if !ok {
		if *cache == nil {
			*cache = map[string]prometheus.Counter{}
		}
		c = vec.WithLabelValues(id)
		(*cache)[id] = c
	}
	return c
}

func (m *Metrics) suppressed(id, reason string) {
	if m != nil {
		m.suppressedC.WithLabelValues(id, reason).Inc()
	}
}

func (m *Metrics) refused(id, reason, why string) {
	if m != nil {
		m.refusedC.WithLabelValues(id, reason, why).Inc()
	}
}

func (m *Metrics) writeError() {
	if m != nil {
		m.writeErrors.Inc()
	}
}

func (m *Metrics) aggregated(id string) {
	if m != nil {
		child(&m.aggregatedBy, m.aggregatedC, id).Inc()
	}
}

func (m *Metrics) kernelLog(outcome string) {
	if m != nil {
		m.kernelLogC.WithLabelValues(outcome).Inc()
	}
}
