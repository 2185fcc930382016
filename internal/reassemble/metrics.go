package reassemble

import (
	"fmt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Metrics are the reassembler's counters. A nil *Metrics counts nothing.
type Metrics struct {
	records prometheus.Counter
	events  [auditevent.CompleteLate + 1]prometheus.Counter
	gapsC   prometheus.Counter
	lateC   prometheus.Counter
	resets  prometheus.Counter
	incompl *prometheus.CounterVec
}

// NewMetrics registers the reassembly metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	const ns, sub = "auditlkm", "reassembly"
	ev := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "events_total",
		Help: "Events handed on by the reassembler, by why they were complete (eoe, standalone, idle, evicted, flushed, late).",
	}, []string{"completion"})
	m := &Metrics{
		records: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "records_total",
			Help: "Records pushed into the reassembler."}),
		gapsC: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sequence_gaps_total",
			Help: "Serials never seen: events lost before auditlkm received them (under-counts kernel loss; see auditlkm_kernel_lost_total)."}),
		lateC: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "late_records_total",
			Help: "Records that arrived for a serial already handed on; they are delivered as a late event, not dropped."}),
		resets: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "serial_resets_total",
			Help: "Serial jumps of more than 2^24 treated as a new stream (reboot in a replayed log)."}),
		incompl: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "incomplete_events_total",
			Help: "Events handed on without records they announce, by what is missing."}, []string{"reason"}),
	}
	for c := auditevent.CompleteEOE; c <= auditevent.CompleteLate; c++ {
		m.events[c] = ev.WithLabelValues(c.String())
	}
	for _, r := range []string{"path_missing", "execve_partial", "syscall_missing"} {
		m.incompl.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.records, ev, m.gapsC, m.lateC, m.resets, m.incompl} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register reassemble metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) record() {
	if m != nil {
		m.records.Inc()
	}
}

func (m *Metrics) event(c auditevent.Completion) {
	if m != nil {
		m.events[c].Inc()
	}
}

func (m *Metrics) gaps(n uint64) {
	if m != nil {
		m.gapsC.Add(float64(n))
	}
}

func (m *Metrics) late() {
	if m != nil {
		m.lateC.Inc()
	}
}

func (m *Metrics) reset() {
	if m != nil {
		m.resets.Inc()
	}
}

func (m *Metrics) incomplete(reason string) {
	if m != nil {
		m.incompl.WithLabelValues(reason).Inc()
	}
}
