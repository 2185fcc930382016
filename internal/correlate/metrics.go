package correlate

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Table names, the values of the table label.
const (
	tableProcesses = "processes"
	tableFiles     = "files"
	tableSeen      = "seen"
)

// Eviction reasons, the values of the reason label.
const (
	reasonCapacity = "capacity"
	reasonTTL      = "ttl"
	reasonBytes    = "bytes"
)

// Metrics are the correlation state's metrics. They are safe for
// concurrent use (the scrape reads them while the owner goroutine writes).
type Metrics struct {
	entries   *prometheus.GaugeVec
	bytes     *prometheus.GaugeVec
	evictions *prometheus.CounterVec
	procReads prometheus.Counter
	budgetVec *prometheus.CounterVec
	// cmdlineAbandoned: /proc/PID/cmdline reads given up after CmdlineWait.
	cmdlineAbandoned prometheus.Counter
	loadErrors       prometheus.Counter
	saveErrors       prometheus.Counter
	configReads      prometheus.Counter
	// configReadsSkipped: writes whose file a later event of the same
	// batch deleted or renamed away before it was read.
	configReadsSkipped prometheus.Counter
	moduleReads        *prometheus.CounterVec

	// Children cached at construction: the hot path never looks a label
	// up (tables in tableIndex order, reasons capacity then ttl).
	entryGauges [3]prometheus.Gauge
	byteGauges  [3]prometheus.Gauge
	evictCount  [3][3]prometheus.Counter
	// budgetExceeded: the children of budgetVec, by readClass.
	budgetExceeded [numReadClasses]prometheus.Counter
}

// Table and reason indexes into the cached children.
const (
	tiProcesses = iota
	tiFiles
	tiSeen
)

const (
	riCapacity = iota
	riTTL
	riBytes
)

var (
	tableLabels  = [...]string{tableProcesses, tableFiles, tableSeen}
	reasonLabels = [...]string{reasonCapacity, reasonTTL, reasonBytes}
)

func (m *Metrics) evicted(table, reason int) { m.evictCount[table][reason].Inc() }

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, fmt.Errorf("create correlate metrics: registerer is nil")
	}
	const ns, sub = "auditlkm", "correlate"
	m := &Metrics{
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "entries",
			Help: "Entries held in each correlation table.",
		}, []string{"table"}),
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "bytes",
			Help: "Estimated bytes held by each correlation table; each table is kept under its byte budget by evicting (reason bytes).",
		}, []string{"table"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "evictions_total",
			Help: "Correlation entries dropped, by table and reason (capacity: the table was full; ttl: expired; bytes: the table was over its byte budget).",
		}, []string{"table", "reason"}),
		procReads: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "proc_reads_total",
			Help: "Processes read from /proc (seeding and lazy lookups of unknown pids).",
		}),
		budgetVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "proc_budget_exceeded_total",
			Help: "/proc reads skipped because their per-second budget was spent, by budget: process (lazy lookups of unknown pids and pid checks, ProcReadBudget), load (a module load's fd, loader and file, LoadReadBudget: a load then alerted without its file), refused_load (a load the kernel refused for want of privilege, RefusedLoadReadBudget).",
		}, []string{"budget"}),
		cmdlineAbandoned: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "cmdline_reads_abandoned_total",
			Help: "Reads of /proc/PID/cmdline given up after 100 ms (the process's memory did not answer: before Linux 4.17 a FUSE-backed argument area could make it wait for ever); the process is then known without its command line, and while 4 such reads still wait no cmdline is read.",
		}),
		loadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "state_load_errors_total",
			Help: "State files that could not be loaded and were set aside.",
		}),
		saveErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "state_save_errors_total",
			Help: "State saves that failed.",
		}),
		configReads: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "config_reads_total",
			Help: "Module configuration files read to learn the modules they name.",
		}),
		configReadsSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "config_reads_skipped_total",
			Help: "Module configuration files written and then deleted or renamed away by a later event of the same batch of records, before they were read: not opened (the kernel had already removed them).",
		}),
		moduleReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "module_file_reads_total",
			Help: "Module files of loads read for the alert, by result: read, cached (same device, inode, size, mtime and ctime as an earlier read), error (gone, unreadable, too large, not a regular file, on FUSE or a network filesystem), budget (a load's file skipped: more than ModuleFileReadBudget reads or ModuleFileReadTime of reading in a second), budget_refused (the same for loads the kernel refused for want of privilege, which have budgets of their own: RefusedModuleFileReadBudget, RefusedModuleFileReadTime).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.entries, m.bytes, m.evictions, m.procReads, m.budgetVec, m.cmdlineAbandoned, m.loadErrors, m.saveErrors, m.configReads, m.configReadsSkipped, m.moduleReads} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register correlate metrics: %w", err)
		}
	}
	// Make every series exist from the start, so rates work from zero.
	for ti, t := range tableLabels {
		m.entryGauges[ti] = m.entries.WithLabelValues(t)
		m.byteGauges[ti] = m.bytes.WithLabelValues(t)
		for ri, r := range reasonLabels {
			m.evictCount[ti][ri] = m.evictions.WithLabelValues(t, r)
		}
	}
	for _, r := range moduleReadResults {
		m.moduleReads.WithLabelValues(r)
	}
	for c, name := range readClassNames {
		m.budgetExceeded[c] = m.budgetVec.WithLabelValues(name)
	}
	return m, nil
}

// Results of a module file read (auditlkm_correlate_module_file_reads_total).
const (
	moduleReadOK     = "read"
	moduleReadCached = "cached"
	moduleReadError  = "error"
	moduleReadBudget = "budget"
	// moduleReadRefusedBudget: the budget of loads refused for want of
	// privilege was spent.
	moduleReadRefusedBudget = "budget_refused"
)

var moduleReadResults = [...]string{moduleReadOK, moduleReadCached, moduleReadError, moduleReadBudget, moduleReadRefusedBudget}
