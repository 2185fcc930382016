package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/auditlkm/auditlkm/internal/auditrules"
	"github.com/auditlkm/auditlkm/internal/config"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/daemon"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/guard"
	"github.com/auditlkm/auditlkm/internal/kmsg"
	"github.com/auditlkm/auditlkm/internal/netlink"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/priority"
	"github.com/auditlkm/auditlkm/internal/reassemble"
	"github.com/auditlkm/auditlkm/internal/web"
)

type runOptions struct {
	log  *logOptions
	out  outputOptions
	d    daemon.Config
	file *config.File          // --config.file, if any
	prov detections.Provenance // verifies excluded programs on this host
	// dropRules: --audit.drop-rules (false leaves 48-auditlkm-drops.rules out)
	dropRules bool
}

func newRunCmd(lo *logOptions) *cobra.Command {
	o := &runOptions{log: lo, d: daemon.Config{Audit: netlink.DefaultConfig(), Web: web.DefaultConfig(),
		Correlate: correlate.DefaultConfig(), Guard: guard.DefaultConfig(), Kmsg: kmsg.DefaultConfig()}}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the live daemon on the kernel audit stream (as root)",
		Long: `run reads the kernel audit stream over netlink. In unicast mode it claims the
audit pid, replacing auditd and its dispatcher; in multicast mode it reads beside a
running auditd and changes nothing but its own rules. --audit.mode=auto (the
default) takes unicast when the pid is free and multicast when another daemon holds
it. By default it loads its embedded audit rules (auditlkm rules print shows them)
and removes exactly those on exit; on SIGINT or SIGTERM it stops reading, releases
the pid, restores every kernel audit setting it changed, and handles every event
already received before exiting.`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) (err error) {
			if o.file, err = loadConfigFile(cmd, o.log); err != nil {
				return err
			}
			return o.validate()
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	o.out.bind(cmd.Flags())
	o.bind(cmd.Flags())
	bindInventory(cmd.Flags(), &o.d) // module inventory, cross-view
	return cmd
}

// bind declares run's own flags.
func (o *runOptions) bind(f *pflag.FlagSet) {
	d := &o.d
	f.StringVar(&d.Audit.Mode, "audit.mode", d.Audit.Mode, "How to read the kernel: auto, unicast (claim the audit pid) or multicast (read-only beside auditd).")
	f.Uint32Var(&d.Audit.BacklogLimit, "audit.backlog-limit", d.Audit.BacklogLimit, "Kernel backlog limit to set in unicast mode (0 leaves the kernel's).")
	f.Int32Var(&d.Audit.BacklogWaitTime, "audit.backlog-wait-time", d.Audit.BacklogWaitTime, "Kernel backlog wait time in jiffies to set in unicast mode; 0 never stalls a syscall (the kernel drops and counts instead), -1 leaves the kernel's.")
	f.Uint32Var(&d.Audit.RateLimit, "audit.rate-limit", d.Audit.RateLimit, "Kernel message rate limit per second in unicast mode (0 = unlimited).")
	f.IntVar(&d.Audit.ReceiveBufferBytes, "audit.receive-buffer-bytes", d.Audit.ReceiveBufferBytes, "Netlink socket receive buffer in bytes (SO_RCVBUFFORCE).")
	f.IntVar(&d.Audit.QueueRecords, "audit.queue-records", d.Audit.QueueRecords, "Records queued between the netlink reader and the pipeline; a full queue drops and counts (auditlkm_netlink_queue_dropped_total).")
	f.DurationVar(&d.Audit.ReceiveLinger, "audit.receive-linger", d.Audit.ReceiveLinger, "After a netlink read that found the socket drained, wait this long before the next one, so that under load the kernel queues records without waking the reader for each and one read takes hundreds (0: read again at once). Records wait at most this much longer.")
	f.IntVar(&d.Boost, "process.priority-boost", 4, "Run every thread at nice -N (like auditd's priority_boost), so that under an audit storm the reader keeps up with the processes it audits; 0 leaves the priority as started, and a higher priority given by the service manager is kept. Needs CAP_SYS_NICE unless the unit sets Nice=.")
	bindMaxProcs(f, &d.MaxProcs)
	f.DurationVar(&d.Audit.StatusPollInterval, "audit.status-poll-interval", d.Audit.StatusPollInterval, "How often the kernel audit status (lost counter) is polled between scrapes.")
	f.BoolVar(&d.LoadRules, "audit.load-rules", true, "Load the embedded audit rules into the kernel at start and remove exactly those at exit.")
	f.BoolVar(&o.dropRules, "audit.drop-rules", true, "Include the rules recording file creations in /tmp, /var/tmp and /dev/shm (48-auditlkm-drops.rules), which link a module dropped there and loaded to its drop. A host that creates thousands of files a second there (a build server) may turn them off; every load still says how old its file is.")
	f.BoolVar(&d.Guard.Repair, "audit.repair", d.Guard.Repair, "Put back auditlkm's audit rules when someone removes them (and switch auditing back on in unicast mode); off, differences are only logged and measured.")
	f.DurationVar(&d.Guard.Interval, "audit.check-interval", d.Guard.Interval, "How often the kernel's audit rule list is compared with auditlkm's (auditlkm_auditrules_missing), besides the check a CONFIG_CHANGE record triggers.")
	f.StringVar(&d.Web.ListenAddress, "web.listen-address", d.Web.ListenAddress, "Address for /metrics and /healthz; empty disables.")
	f.StringVar(&d.Web.MetricsPath, "web.telemetry-path", d.Web.MetricsPath, "Path of the metrics endpoint.")
	f.StringVar(&d.Web.ConfigFile, "web.config.file", "", "Exporter-toolkit web configuration file for TLS and basic authentication (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md); none: plain HTTP.")
	f.StringVar(&d.Correlate.StateDir, "state.dir", d.Correlate.StateDir, "Directory for state kept across restarts (first-seen history); empty keeps it in memory.")
	f.StringVar(&d.Records, "output.records", "", "Also write every raw audit record received to this file, in audit.log format (replayable with auditlkm replay). It is written as records are received, before the queue to the detections, so it also holds what a full queue dropped.")
	f.DurationVar(&d.SaveEvery, "state.save-interval", time.Minute, "How often to save the state.")
	f.BoolVar(&d.KmsgOn, "kmsg.enable", kmsg.Readable(d.Kmsg.Path), "Read the kernel log (/dev/kmsg) for module taint, signature, rejection and bpf_probe_write_user messages; on by default when /dev/kmsg is readable.")
	f.StringVar(&d.Kmsg.Path, "kmsg.path", d.Kmsg.Path, "Kernel log device.")
	f.BoolVar(&d.Kmsg.Backlog, "kmsg.backlog", d.Kmsg.Backlog, "Also match the kernel log records already in the ring buffer at start (taint messages are printed once per boot).")
	f.StringVar(&d.CPUProf, "debug.cpu-profile", "", "Write a Go CPU profile of the whole run to this file (for performance work).")
	_ = f.MarkHidden("debug.cpu-profile")
	f.DurationVar(&d.Correlate.LearningPeriod, "correlate.learning-period", d.Correlate.LearningPeriod, "How long after the first start on this host (kept in --state.dir) first-seen alerts are held back; 0 raises them from the start.")
	f.DurationVar(&d.Correlate.LinkWindow, "correlate.link-window", d.Correlate.LinkWindow, "How long before a module load a write of its file or of configuration naming it is linked to it.")
	f.BoolVar(&d.Correlate.ReadModuleFiles, "correlate.read-module-files", d.Correlate.ReadModuleFiles, "Read the module file of each load when the load is processed (at most 64 MiB and 2s a file, 16 files and 500ms of reading a second; not on FUSE or network filesystems) and put its sha256, .modinfo and signature in the alert.")
}

func (o *runOptions) validate() error {
	if err := rulesConfig(o.file, nil).Validate(); err != nil {
		return fmt.Errorf("detections: %w", err)
	}
	if o.d.Boost < 0 || o.d.Boost > priority.MaxBoost {
		return fmt.Errorf("process priority boost %d: want 0..%d", o.d.Boost, priority.MaxBoost)
	}
	for _, err := range []error{validateMaxProcs(o.d.MaxProcs), o.d.Audit.Validate(), o.d.Web.Validate(), o.d.Correlate.Validate(), o.out.validate(), o.d.Guard.Validate()} {
		if err != nil {
			return err
		}
	}
	if o.d.SaveEvery < time.Second {
		return fmt.Errorf("--state.save-interval %s: must be at least 1s", o.d.SaveEvery)
	}
	return nil
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	v, rev := buildVersion()
	bi := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "auditlkm", Name: "build_info",
		Help: "Build information; the value is always 1."}, []string{"version", "revision", "goversion"})
	bi.WithLabelValues(v, orDash(rev), goVersion()).Set(1)
	reg.MustRegister(bi, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// run hands the settings to the daemon.
func (o *runOptions) run(cmd *cobra.Command) error {
	log, err := o.log.logger()
	if err != nil {
		return err
	}
	reg := newRegistry()
	o.d.Watches = watchLines(o.file)
	return daemon.Run(cmd.Context(), o.d, daemon.Deps{
		Log: log, Registry: reg, BaseRules: o.baseRules,
		Open: func(store pipeline.Store) (*pipeline.Processor, daemon.Outputs, error) {
			return o.openOutputs(cmd.OutOrStdout(), store, reg, log)
		},
		Reload: func() (daemon.Reload, error) { return o.reload(cmd, log) },
	})
}

// openOutputs builds the alert and event outputs and the processor that
// writes to them.
func (o *runOptions) openOutputs(stdout io.Writer, store pipeline.Store, reg prometheus.Registerer, log *slog.Logger) (*pipeline.Processor, daemon.Outputs, error) {
	o.out.stateDir = o.d.Correlate.StateDir
	sink, err := o.out.build(stdout, reg, log)
	if err != nil {
		return nil, nil, err
	}
	o.prov = hostProvenance(log)
	p, err := buildProcessor(sink, rulesConfig(o.file, o.prov), reassemble.DefaultConfig(), store, reg, log)
	if err != nil {
		return nil, nil, errors.Join(err, sink.Close())
	}
	sink.attach(p)
	return p, sink, nil
}

// dropKey keys the rules of 48-auditlkm-drops.rules.
const dropKey = "auditlkm-drop"

// baseRules are the embedded snippets for this machine, without the
// drop-place rules when --audit.drop-rules=false.
func (o *runOptions) baseRules() ([]auditrules.Rule, error) {
	out, err := embeddedRules()
	if err != nil || o.dropRules {
		return out, err
	}
	kept := out[:0]
	for _, r := range out {
		if keys, err := auditrules.Keys(r.Wire); err == nil && slices.Contains(keys, dropKey) {
			continue
		}
		kept = append(kept, r)
	}
	return kept, nil
}
