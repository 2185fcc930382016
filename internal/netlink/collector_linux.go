package netlink

import (
	"fmt"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Descriptors of the kernel status read at scrape time.
var (
	kernelEnabledDesc = prometheus.NewDesc("auditlkm_kernel_enabled",
		"Kernel audit enabled flag: 0 off, 1 on, 2 on and immutable until reboot.", nil, nil)
	kernelBacklogDesc = prometheus.NewDesc("auditlkm_kernel_backlog",
		"Audit records queued in the kernel, waiting for the audit daemon.", nil, nil)
	kernelBacklogLimitDesc = prometheus.NewDesc("auditlkm_kernel_backlog_limit",
		"Kernel audit backlog limit (records).", nil, nil)
	kernelBacklogWaitDesc = prometheus.NewDesc("auditlkm_kernel_backlog_wait_time_jiffies",
		"Kernel audit backlog wait time: how long an audited syscall may sleep for backlog space (0: never, the record is dropped and counted as lost).", nil, nil)
	kernelRateLimitDesc = prometheus.NewDesc("auditlkm_kernel_rate_limit_per_second",
		"Kernel audit message rate limit (messages per second, 0 unlimited).", nil, nil)
	kernelLostDesc = prometheus.NewDesc("auditlkm_kernel_lost_total",
		"Audit records the kernel dropped since auditlkm started (backlog full, rate limit, no daemon, memory): the sum of the increases of the kernel's lost counter, polled; exact unless the counter is reset and grows again between two polls.", nil, nil)
	kernelLostRawDesc = prometheus.NewDesc("auditlkm_kernel_lost_records",
		"The kernel's own lost counter as last read: since boot or its last reset, so it may go down.", nil, nil)
	kernelLostResetsDesc = prometheus.NewDesc("auditlkm_kernel_lost_resets_total",
		"Times the kernel's lost counter went down between two polls (reset by auditctl --reset-lost or wrapped).", nil, nil)
	kernelPIDDesc = prometheus.NewDesc("auditlkm_kernel_audit_pid",
		"Pid of the process holding kernel audit unicast delivery, 0 if none.", nil, nil)
	kernelPIDHeldDesc = prometheus.NewDesc("auditlkm_kernel_pid_held",
		"1 if this process holds the kernel audit pid.", nil, nil)
	socketDropsDesc = prometheus.NewDesc("auditlkm_netlink_socket_drops_total",
		"Audit messages the kernel could not queue on the data socket because its receive buffer was full (SO_MEMINFO drops; each one is a lost record, reported to the reader as ENOBUFS). Unicast never drops here: kauditd waits instead and the backlog fills.", nil, nil)
	socketRcvbufDesc = prometheus.NewDesc("auditlkm_netlink_socket_receive_buffer_bytes",
		"Receive buffer size of the data socket as the kernel reports it.", nil, nil)
	socketQueuedDesc = prometheus.NewDesc("auditlkm_netlink_socket_queued_bytes",
		"Bytes waiting in the data socket's receive buffer.", nil, nil)
	restartLostDesc = prometheus.NewDesc("auditlkm_restart_kernel_lost_records",
		"Increase of the kernel's lost counter between the previous run's last poll and this run's start (same boot only).", nil, nil)
	restartSerialsDesc = prometheus.NewDesc("auditlkm_restart_missed_serials",
		"Audit serials between the last record of the previous run and the first record of this run (same boot only): events nobody received across the restart.", nil, nil)
	// scrapeSuccessDesc is shared by auditlkm's scrape-time collectors;
	// its help text must stay identical everywhere it is declared.
	scrapeSuccessDesc = prometheus.NewDesc("auditlkm_scrape_collector_success",
		"Whether a scrape-time collector succeeded (1) or failed (0).", []string{"collector"}, nil)
)

// Collector names for auditlkm_scrape_collector_success.
const (
	statusCollectorName = "kernel_status"
	socketCollectorName = "netlink_socket"
)

// lostTracker turns the kernel's lost counter (since boot, resettable)
// into a counter of what was lost since the tracker started.
type lostTracker struct {
	started bool
	last    uint32
	total   uint64
	resets  uint64
}

// observe folds one reading in. The first reading sets the base: loss
// before the start is not ours. A reading lower than the last is a reset
// (or a wrap): everything after it counts.
func (l *lostTracker) observe(v uint32) {
	switch {
	case !l.started:
		l.started = true
	case v >= l.last:
		l.total += uint64(v - l.last)
	default:
		l.resets++
		l.total += uint64(v)
	}
	l.last = v
}

// StatusCollector exports the kernel audit status, read at scrape time,
// and the kernel's lost counter as a counter since the collector started.
// Poll folds in a reading between scrapes so that a reset of the kernel's
// counter is not missed. StatusCollector is safe for concurrent use.
type StatusCollector struct {
	c   *Control
	pid uint32

	mu   sync.Mutex
	lost lostTracker
	// client, if set, adds the data socket's figures and the restart gap.
	client *Client
}

var _ prometheus.Collector = (*StatusCollector)(nil)

// NewStatusCollector returns a collector that reads the kernel audit
// status through c on every scrape; its lost counter starts at the first
// reading, taken now. A failed read exports only
// auditlkm_scrape_collector_success{collector="kernel_status"} 0, so
// /metrics keeps working.
func NewStatusCollector(c *Control) *StatusCollector {
	sc := &StatusCollector{c: c, pid: uint32(os.Getpid())}
	_, _ = sc.Poll()
	return sc
}

// Poll reads the status and folds the lost counter in.
func (sc *StatusCollector) Poll() (Status, error) {
	if sc.c == nil {
		return Status{}, fmt.Errorf("get audit status: %w", ErrClosed)
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	st, err := sc.c.Status()
	if err != nil {
		return Status{}, err
	}
	sc.lost.observe(st.Lost)
	return st, nil
}

// LostSinceStart returns the records the kernel lost since the collector
// started, as of the last reading.
func (sc *StatusCollector) LostSinceStart() uint64 {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.lost.total
}

func (sc *StatusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{kernelEnabledDesc, kernelBacklogDesc, kernelBacklogLimitDesc,
		kernelBacklogWaitDesc, kernelRateLimitDesc, kernelLostDesc, kernelLostRawDesc, kernelLostResetsDesc,
		kernelPIDDesc, kernelPIDHeldDesc, scrapeSuccessDesc} {
		ch <- d
	}
	if sc.client != nil {
		ch <- socketDropsDesc
		ch <- socketRcvbufDesc
		ch <- socketQueuedDesc
		ch <- restartLostDesc
		ch <- restartSerialsDesc
	}
}

func (sc *StatusCollector) Collect(ch chan<- prometheus.Metric) {
	sc.collectStatus(ch)
	if sc.client != nil {
		sc.client.collect(ch)
	}
}

func (sc *StatusCollector) collectStatus(ch chan<- prometheus.Metric) {
	st, err := sc.Poll()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, 0, statusCollectorName)
		return
	}
	sc.mu.Lock()
	lost, resets := sc.lost.total, sc.lost.resets
	sc.mu.Unlock()
	held := 0.0
	if st.PID != 0 && st.PID == sc.pid {
		held = 1
	}
	ch <- prometheus.MustNewConstMetric(kernelEnabledDesc, prometheus.GaugeValue, float64(st.Enabled))
	ch <- prometheus.MustNewConstMetric(kernelBacklogDesc, prometheus.GaugeValue, float64(st.Backlog))
	ch <- prometheus.MustNewConstMetric(kernelBacklogLimitDesc, prometheus.GaugeValue, float64(st.BacklogLimit))
	ch <- prometheus.MustNewConstMetric(kernelBacklogWaitDesc, prometheus.GaugeValue, float64(st.BacklogWaitTime))
	ch <- prometheus.MustNewConstMetric(kernelRateLimitDesc, prometheus.GaugeValue, float64(st.RateLimit))
	ch <- prometheus.MustNewConstMetric(kernelLostDesc, prometheus.CounterValue, float64(lost))
	ch <- prometheus.MustNewConstMetric(kernelLostRawDesc, prometheus.GaugeValue, float64(st.Lost))
	ch <- prometheus.MustNewConstMetric(kernelLostResetsDesc, prometheus.CounterValue, float64(resets))
	ch <- prometheus.MustNewConstMetric(kernelPIDDesc, prometheus.GaugeValue, float64(st.PID))
	ch <- prometheus.MustNewConstMetric(kernelPIDHeldDesc, prometheus.GaugeValue, held)
	ch <- prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, 1, statusCollectorName)
}
