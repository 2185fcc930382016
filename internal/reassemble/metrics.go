package reassemble

import (
	"fmt"
	"strings"

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

	nodes      prometheus.Gauge
	untrackedC prometheus.Counter
	nodeGaps   *prometheus.CounterVec
	nodeLate   *prometheus.CounterVec
	nodeResets *prometheus.CounterVec
}

// nodeMetrics are one named node's series; the zero value counts nothing.
type nodeMetrics struct {
	gapsC, lateC, resets prometheus.Counter
}

// MaxNodeLabelBytes bounds the node label of the per-node series. Node
// names come from the records (anyone who can send to a collector can
// forge them): a label is the name made valid UTF-8 and cut to this
// length, and there are at most Config.MaxNodes of them.
const MaxNodeLabelBytes = 255

// NodeLabel is the label value of node name in the per-node series.
func NodeLabel(name string) string {
	if len(name) > MaxNodeLabelBytes {
		name = name[:MaxNodeLabelBytes]
	}
	return strings.ToValidUTF8(name, "\uFFFD")
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
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "nodes",
			Help: "Named nodes (node= of auditd's remote logging) whose serials are tracked, at most the node limit."}),
		untrackedC: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "untracked_records_total",
			Help: "Records of named nodes past the node limit: reassembled per node and serial, but no gaps, late records or resets counted for them."}),
		nodeGaps: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "node_sequence_gaps_total",
			Help: "Serials never seen, per named node (included in sequence_gaps_total)."}, []string{"node"}),
		nodeLate: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "node_late_records_total",
			Help: "Late records, per named node (included in late_records_total)."}, []string{"node"}),
		nodeResets: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "node_serial_resets_total",
			Help: "Serial resets, per named node (included in serial_resets_total)."}, []string{"node"}),
	}
	for c := auditevent.CompleteEOE; c <= auditevent.CompleteLate; c++ {
		m.events[c] = ev.WithLabelValues(c.String())
	}
	for _, r := range []string{"path_missing", "execve_partial", "syscall_missing"} {
		m.incompl.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.records, ev, m.gapsC, m.lateC, m.resets, m.incompl,
			m.nodes, m.untrackedC, m.nodeGaps, m.nodeLate, m.nodeResets} {
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

func (m *Metrics) forNode(name string) nodeMetrics {
	if m == nil {
		return nodeMetrics{}
	}
	l := NodeLabel(name)
	return nodeMetrics{gapsC: m.nodeGaps.WithLabelValues(l), lateC: m.nodeLate.WithLabelValues(l), resets: m.nodeResets.WithLabelValues(l)}
}

func (m *Metrics) nodeCount(n int) {
	if m != nil {
		m.nodes.Set(float64(n))
	}
}

func (m *Metrics) untracked() {
	if m != nil {
		m.untrackedC.Inc()
	}
}

func (n nodeMetrics) gaps(k uint64) {
	if n.gapsC != nil {
		n.gapsC.Add(float64(k))
	}
}

func (n nodeMetrics) late() {
	if n.lateC != nil {
		n.lateC.Inc()
	}
}

func (n nodeMetrics) reset() {
	if n.resets != nil {
		n.resets.Inc()
	}
}
