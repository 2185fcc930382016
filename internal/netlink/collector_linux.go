package netlink

import (
	"os"

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
	kernelLostDesc = prometheus.NewDesc("auditlkm_kernel_lost_total",
		"Audit records the kernel dropped since boot (backlog full, rate limit, memory).", nil, nil)
	kernelPIDDesc = prometheus.NewDesc("auditlkm_kernel_audit_pid",
		"Pid of the process holding kernel audit unicast delivery, 0 if none.", nil, nil)
	kernelPIDHeldDesc = prometheus.NewDesc("auditlkm_kernel_pid_held",
		"1 if this process holds the kernel audit pid.", nil, nil)
	// scrapeSuccessDesc is shared by auditlkm's scrape-time collectors;
	// its help text must stay identical everywhere it is declared.
	scrapeSuccessDesc = prometheus.NewDesc("auditlkm_scrape_collector_success",
		"Whether a scrape-time collector succeeded (1) or failed (0).", []string{"collector"}, nil)
)

// statusCollectorName is the collector label of the kernel status collector.
const statusCollectorName = "kernel_status"

// statusCollector reads the kernel audit status at scrape time.
type statusCollector struct {
	c   *Control
	pid uint32
}

// NewStatusCollector returns a collector that reads the kernel audit
// status through c on every scrape. A failed read exports only
// auditlkm_scrape_collector_success{collector="kernel_status"} 0, so
// /metrics keeps working. It is safe for concurrent use.
func NewStatusCollector(c *Control) prometheus.Collector {
	return &statusCollector{c: c, pid: uint32(os.Getpid())}
}

func (sc *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- kernelEnabledDesc
	ch <- kernelBacklogDesc
	ch <- kernelBacklogLimitDesc
	ch <- kernelLostDesc
	ch <- kernelPIDDesc
	ch <- kernelPIDHeldDesc
	ch <- scrapeSuccessDesc
}

func (sc *statusCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := sc.c.Status()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, 0, statusCollectorName)
		return
	}
	held := 0.0
	if st.PID != 0 && st.PID == sc.pid {
		held = 1
	}
	ch <- prometheus.MustNewConstMetric(kernelEnabledDesc, prometheus.GaugeValue, float64(st.Enabled))
	ch <- prometheus.MustNewConstMetric(kernelBacklogDesc, prometheus.GaugeValue, float64(st.Backlog))
	ch <- prometheus.MustNewConstMetric(kernelBacklogLimitDesc, prometheus.GaugeValue, float64(st.BacklogLimit))
	ch <- prometheus.MustNewConstMetric(kernelLostDesc, prometheus.CounterValue, float64(st.Lost))
	ch <- prometheus.MustNewConstMetric(kernelPIDDesc, prometheus.GaugeValue, float64(st.PID))
	ch <- prometheus.MustNewConstMetric(kernelPIDHeldDesc, prometheus.GaugeValue, held)
	ch <- prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, 1, statusCollectorName)
}
