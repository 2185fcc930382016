package netlink

import (
	"fmt"
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Label values for auditlkm_netlink_receive_errors_total{errno}.
const (
	errnoENOBUFS = "ENOBUFS"
	errnoEINTR   = "EINTR"
	errnoEAGAIN  = "EAGAIN"
	errnoOther   = "other"
)

// Label values for auditlkm_netlink_parse_errors_total{reason}.
const (
	reasonShort     = "short"
	reasonNoHeader  = "no_header"
	reasonTooLong   = "too_long"
	reasonNotKernel = "not_from_kernel"
	reasonOther     = "other"
)

// typeOther is the record type label for numbers go-libaudit has no name for.
const typeOther = "other"

// Metrics counts the record flow through the socket reader. A nil
// *Metrics is valid and counts nothing. Metrics is safe for concurrent use.
type Metrics struct {
	received      *prometheus.CounterVec
	receiveErrors *prometheus.CounterVec
	truncated     prometheus.Counter
	queueDropped  *prometheus.CounterVec
	parseErrors   *prometheus.CounterVec
	replaceProbes prometheus.Counter
	queueLength   prometheus.Gauge

	// receivedBy caches the received counter's child per record type
	// (1000..2999); only the reader goroutine uses it.
	receivedBy [2000]prometheus.Counter
}

// NewMetrics creates the package's metrics and registers them with reg
// (if reg is not nil); registering twice with one registry is an error.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlkm_netlink_records_received_total",
			Help: "Audit records received from the kernel, by record type (other: a number without a known name).",
		}, []string{"type"}),
		receiveErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlkm_netlink_receive_errors_total",
			Help: "Errors from recvmsg on the audit netlink socket, by errno (ENOBUFS: the socket buffer overflowed and records were lost).",
		}, []string{"errno"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auditlkm_netlink_truncated_total",
			Help: "Audit netlink messages dropped because they were larger than the read buffer.",
		}),
		queueDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlkm_netlink_queue_dropped_total",
			Help: "Audit records received from the kernel (so also counted in auditlkm_netlink_records_received_total) and dropped because the queue to the pipeline was full, by record type.",
		}, []string{"type"}),
		parseErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlkm_netlink_parse_errors_total",
			Help: "Audit netlink messages that could not be parsed into a record, by reason.",
		}, []string{"reason"}),
		replaceProbes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auditlkm_netlink_replace_probes_total",
			Help: "AUDIT_REPLACE probes received: another process tried to claim the audit pid.",
		}),
		queueLength: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "auditlkm_netlink_queue_length",
			Help: "Audit records waiting in the queue to the consumer.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.received, m.receiveErrors, m.truncated, m.queueDropped, m.parseErrors, m.replaceProbes, m.queueLength} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register netlink metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) recordReceived(t auparse.AuditMessageType) {
	if m == nil {
		return
	}
	if i := int(t) - 1000; i >= 0 && i < len(m.receivedBy) {
		c := m.receivedBy[i]
		if c == nil {
			c = m.received.WithLabelValues(typeLabel(t))
			m.receivedBy[i] = c
		}
		c.Inc()
		return
	}
	m.received.WithLabelValues(typeLabel(t)).Inc()
}

// typeLabel bounds the type label to go-libaudit's table of names.
func typeLabel(t auparse.AuditMessageType) string {
	name := auditevent.TypeName(t)
	if strings.HasPrefix(name, "UNKNOWN[") {
		return typeOther
	}
	return name
}

func (m *Metrics) receiveError(errno string) {
	if m == nil {
		return
	}
	m.receiveErrors.WithLabelValues(errno).Inc()
}

func (m *Metrics) truncatedMessage() {
	if m == nil {
		return
	}
	m.truncated.Inc()
}

func (m *Metrics) queueDrop(t auparse.AuditMessageType) {
	if m == nil {
		return
	}
	m.queueDropped.WithLabelValues(typeLabel(t)).Inc()
}

func (m *Metrics) parseError(reason string) {
	if m == nil {
		return
	}
	m.parseErrors.WithLabelValues(reason).Inc()
}

func (m *Metrics) replaceProbe() {
	if m == nil {
		return
	}
	m.replaceProbes.Inc()
}

func (m *Metrics) setQueueLength(n int) {
	if m == nil {
		return
	}
	m.queueLength.Set(float64(n))
}
