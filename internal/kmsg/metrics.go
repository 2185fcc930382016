package kmsg

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count what a Reader read. A nil *Metrics counts nothing.
type Metrics struct {
	lines, overruns, parseErrors prometheus.Counter
}

// NewMetrics registers the kernel log reader's metrics with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		lines: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "kmsg", Name: "lines_total",
			Help: "Kernel log records read from /dev/kmsg."}),
		overruns: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "kmsg", Name: "overruns_total",
			Help: "Times the kernel ring buffer overwrote records before they were read (EPIPE)."}),
		parseErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "kmsg", Name: "parse_errors_total",
			Help: "Kernel log records that could not be parsed."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.lines, m.overruns, m.parseErrors} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register kmsg metrics: %w", err)
			}
		}
	}
	return m, nil
}

type prometheusCounter = prometheus.Counter

func (m *Metrics) inc(c func(*Metrics) prometheusCounter) {
	if m != nil {
		c(m).Inc()
	}
}
