package logfile

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	metricsNamespace = "auditlkm"
	metricsSubsystem = "logfile"
)

// Metrics are the Prometheus counters of the logfile package. A nil
// *Metrics is valid and counts nothing. The Reader adds to them in batches
// (see the package doc), never once per line.
type Metrics struct {
	lines     prometheus.Counter
	records   prometheus.Counter
	bytesRead prometheus.Counter
	skipped   [numReasons]prometheus.Counter
}

// NewMetrics creates the counters and registers them with reg. A nil reg
// leaves them unregistered (useful in tests and benchmarks). Registering
// twice with one registry is an error.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		lines: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem,
			Name: "lines_total",
			Help: "Lines read from audit log inputs, blank and skipped lines included.",
		}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem,
			Name: "records_total",
			Help: "Audit records parsed from audit log inputs.",
		}),
		bytesRead: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem,
			Name: "bytes_read_total",
			Help: "Bytes read from audit log inputs (compressed bytes for gzip files).",
		}),
	}
	skipped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "skipped_lines_total",
		Help: "Non-blank lines of audit log inputs that did not parse as audit records, by reason.",
	}, []string{"reason"})
	for _, r := range Reasons() {
		m.skipped[r-1] = skipped.WithLabelValues(r.String())
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.lines, m.records, m.bytesRead, skipped} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register logfile metrics: %w", err)
			}
		}
	}
	return m, nil
}

// add publishes a batch of counts.
func (m *Metrics) add(c *counts, bytesRead int64) {
	if m == nil {
		return
	}
	if c.lines != 0 {
		m.lines.Add(float64(c.lines))
	}
	if c.records != 0 {
		m.records.Add(float64(c.records))
	}
	if bytesRead != 0 {
		m.bytesRead.Add(float64(bytesRead))
	}
	for i, n := range c.skipped {
		if n != 0 {
			m.skipped[i].Add(float64(n))
		}
	}
}
