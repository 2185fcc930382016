package output

import "github.com/prometheus/client_golang/prometheus"

// Metrics count deliveries per output. The label "output" takes the names
// the caller gives its outputs (a bounded set: stdout, file, syslog,
// events). A nil *Metrics counts nothing.
//
// auditlkm_output_lost_total counts, per output, every line that output
// did not deliver, once. auditlkm_output_errors_total is per output; the pipeline's unlabelled
// auditlkm_output_write_errors_total counts alerts whose write failed in
// any output.
type Metrics struct {
	written    *prometheus.CounterVec
	errors     *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	reconnects *prometheus.CounterVec
	truncated  *prometheus.CounterVec
	lost       *prometheus.CounterVec
}

// NewMetrics registers the output metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	vec := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "output", Name: name, Help: help}, []string{"output"})
	}
	m := &Metrics{
		written:    vec("written_total", "Lines delivered to the output: written whole (stdout, files), taken by the server (syslog: acknowledged by its TCP, read from a local stream socket, queued as a datagram)."),
		errors:     vec("errors_total", "Lines an output failed to write, including drops."),
		dropped:    vec("dropped_total", "Lines an output dropped: queue full, or undeliverable after retries and reconnects."),
		reconnects: vec("reconnects_total", "Connections (re)established by a network output."),
		truncated:  vec("truncated_total", "Lines cut to the output's maximum message size."),
		lost:       vec("lost_total", "Lines (alerts, events) an output did not deliver: a failed or short write, a full queue, a server that did not take them, the shutdown deadline. Every line is counted once."),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.written, m.errors, m.dropped, m.reconnects, m.truncated, m.lost} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// init creates the series of output so that they read 0 from the start.
func (m *Metrics) init(output string) {
	if m == nil {
		return
	}
	for _, v := range []*prometheus.CounterVec{m.written, m.errors, m.dropped, m.lost} {
		v.WithLabelValues(output)
	}
}

func (m *Metrics) inc(v func(*Metrics) *prometheus.CounterVec, output string) {
	if m != nil {
		v(m).WithLabelValues(output).Inc()
	}
}

func (m *Metrics) add(v func(*Metrics) *prometheus.CounterVec, output string, n int) {
	if m != nil && n > 0 {
		v(m).WithLabelValues(output).Add(float64(n))
	}
}

func writtenV(m *Metrics) *prometheus.CounterVec   { return m.written }
func lostV(m *Metrics) *prometheus.CounterVec      { return m.lost }
func written(m *Metrics) *prometheus.CounterVec    { return m.written }
func errs(m *Metrics) *prometheus.CounterVec       { return m.errors }
func dropped(m *Metrics) *prometheus.CounterVec    { return m.dropped }
func reconnects(m *Metrics) *prometheus.CounterVec { return m.reconnects }
func truncated(m *Metrics) *prometheus.CounterVec  { return m.truncated }
