package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/auditlkm/auditlkm/internal/auditrules"
	"github.com/auditlkm/auditlkm/internal/config"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/guard"
	"github.com/auditlkm/auditlkm/internal/netlink"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/priority"
	"github.com/auditlkm/auditlkm/internal/reassemble"
	"github.com/auditlkm/auditlkm/internal/rules"
	"github.com/auditlkm/auditlkm/internal/web"
)

type runOptions struct {
	log       *logOptions
	out       outputOptions
	audit     netlink.Config
	loadRules bool
	web       web.Config
	correlate correlate.Config
	saveEvery time.Duration
	records   string
	guard     guard.Config     // tamper guard (issue 5)
	kmsg      kmsgOptions      // kernel log source (issue 3)
	file      *config.File     // --config.file, if any
	prov      rules.Provenance // verifies excluded programs on this host
	cpuProf   string           // --debug.cpu-profile
	boost     int              // --process.priority-boost
}

func newRunCmd(lo *logOptions) *cobra.Command {
	o := &runOptions{log: lo, audit: netlink.DefaultConfig(), web: web.DefaultConfig(), correlate: correlate.DefaultConfig()}
	o.guard = guard.DefaultConfig()
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
	f := cmd.Flags()
	o.out.bind(f)
	f.StringVar(&o.audit.Mode, "audit.mode", o.audit.Mode, "How to read the kernel: auto, unicast (claim the audit pid) or multicast (read-only beside auditd). Default auto.")
	f.Uint32Var(&o.audit.BacklogLimit, "audit.backlog-limit", o.audit.BacklogLimit, "Kernel backlog limit to set in unicast mode (0 leaves the kernel's). Default 8192.")
	f.Int32Var(&o.audit.BacklogWaitTime, "audit.backlog-wait-time", o.audit.BacklogWaitTime, "Kernel backlog wait time in jiffies to set in unicast mode; 0 never stalls a syscall (the kernel drops and counts instead), -1 leaves the kernel's. Default 0.")
	f.Uint32Var(&o.audit.RateLimit, "audit.rate-limit", o.audit.RateLimit, "Kernel message rate limit per second in unicast mode (0 = unlimited). Default 0.")
	f.IntVar(&o.audit.ReceiveBufferBytes, "audit.receive-buffer-bytes", o.audit.ReceiveBufferBytes, "Netlink socket receive buffer (SO_RCVBUFFORCE). Default 8 MiB.")
	f.IntVar(&o.audit.QueueRecords, "audit.queue-records", o.audit.QueueRecords, "Records queued between the netlink reader and the pipeline; a full queue drops and counts (auditlkm_netlink_queue_dropped_total). Default 65536.")
	f.DurationVar(&o.audit.ReceiveLinger, "audit.receive-linger", o.audit.ReceiveLinger, "After a netlink read that found the socket drained, wait this long before the next one, so that under load the kernel queues records without waking the reader for each and one read takes hundreds (0: read again at once). Records wait at most this much longer. Default 1ms.")
	f.IntVar(&o.boost, "process.priority-boost", 4, "Run every thread at nice -N (like auditd's priority_boost), so that under an audit storm the reader keeps up with the processes it audits; 0 leaves the priority as started, and a higher priority given by the service manager is kept. Needs CAP_SYS_NICE unless the unit sets Nice=. Default 4.")
	f.DurationVar(&o.audit.StatusPollInterval, "audit.status-poll-interval", o.audit.StatusPollInterval, "How often the kernel audit status (lost counter) is polled between scrapes. Default 1s.")
	f.BoolVar(&o.loadRules, "audit.load-rules", true, "Load the embedded audit rules into the kernel at start and remove exactly those at exit. Default true.")
	f.BoolVar(&o.guard.Repair, "audit.repair", o.guard.Repair, "Put back auditlkm's audit rules when someone removes them (and switch auditing back on in unicast mode); off, differences are only logged and measured. Default true.")
	f.DurationVar(&o.guard.Interval, "audit.check-interval", o.guard.Interval, "How often the kernel's audit rule list is compared with auditlkm's (auditlkm_auditrules_missing), besides the check a CONFIG_CHANGE record triggers. Default 30s.")
	f.StringVar(&o.web.ListenAddress, "web.listen-address", o.web.ListenAddress, "Address for /metrics and /healthz; empty disables. Default 127.0.0.1:9847.")
	f.StringVar(&o.web.MetricsPath, "web.telemetry-path", o.web.MetricsPath, "Path of the metrics endpoint. Default /metrics.")
	f.StringVar(&o.web.ConfigFile, "web.config.file", "", "Exporter-toolkit web configuration file for TLS and basic authentication (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md). Default none (plain HTTP).")
	f.StringVar(&o.correlate.StateDir, "state.dir", o.correlate.StateDir, "Directory for state kept across restarts (first-seen history); empty keeps it in memory. Default /var/lib/auditlkm.")
	f.StringVar(&o.records, "output.records", "", "Also write every raw audit record received to this file, in audit.log format (replayable with auditlkm replay). Default none.")
	f.DurationVar(&o.saveEvery, "state.save-interval", time.Minute, "How often to save the state. Default 1m.")
	o.kmsg.bind(f) // kernel log source (issue 3)
	f.StringVar(&o.cpuProf, "debug.cpu-profile", "", "Write a Go CPU profile of the whole run to this file (for performance work). Default none.")
	_ = f.MarkHidden("debug.cpu-profile")
	f.DurationVar(&o.correlate.LearningPeriod, "correlate.learning-period", o.correlate.LearningPeriod, "How long after the first start on this host (kept in --state.dir) first-seen alerts are held back; 0 raises them from the start. Default 24h.")
	f.DurationVar(&o.correlate.LinkWindow, "correlate.link-window", o.correlate.LinkWindow, "How long before a module load a write of its file or of configuration naming it is linked to it. Default 24h.")
	return cmd
}

// boostPriority applies --process.priority-boost; failing is not fatal.
func boostPriority(boost int, log *slog.Logger) {
	if boost == 0 {
		return
	}
	res, err := priority.Boost(boost)
	nice, nerr := priority.Nice(0)
	if err = errors.Join(err, nerr); err != nil {
		log.Warn("scheduling priority not boosted (needs CAP_SYS_NICE, or Nice= in the unit)", "boost", boost, "nice", nice, "err", err)
		return
	}
	log.Info("scheduling priority", "nice", nice, "threads_changed", res.Threads)
}

func (o *runOptions) validate() error {
	if err := rulesConfig(o.file, nil).Validate(); err != nil {
		return fmt.Errorf("detections: %w", err)
	}
	if o.boost < 0 || o.boost > priority.MaxBoost {
		return fmt.Errorf("process priority boost %d: want 0..%d", o.boost, priority.MaxBoost)
	}
	for _, err := range []error{o.audit.Validate(), o.web.Validate(), o.correlate.Validate(), o.out.validate()} {
		if err != nil {
			return err
		}
	}
	if err := o.guard.Validate(); err != nil {
		return err
	}
	if o.saveEvery < time.Second {
		return fmt.Errorf("--state.save-interval %s: must be at least 1s", o.saveEvery)
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

func (o *runOptions) run(cmd *cobra.Command) (err error) {
	log, err := o.log.logger()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	reg := newRegistry()
	boostPriority(o.boost, log)
	if o.cpuProf != "" {
		pf, err := os.Create(o.cpuProf)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}

	cm, err := correlate.NewMetrics(reg)
	if err != nil {
		return err
	}
	store, err := correlate.New(o.correlate, log.With("component", "correlate"), cm)
	if err != nil {
		return err
	}
	if err := store.Load(); err != nil {
		log.Warn("state not loaded; starting empty", "err", err)
	}
	if err := store.Seed(ctx); err != nil {
		log.Warn("seed process table", "err", err)
	}

	if o.correlate.StateDir != "" {
		// Restart accounting: what the kernel lost while no auditlkm ran.
		o.audit.StateFile = filepath.Join(o.correlate.StateDir, "netlink.json")
	}
	client, err := netlink.Open(o.audit, log.With("component", "netlink"), netlink.NewMetrics(reg))
	if err != nil {
		return err
	}
	log.Info("reading the kernel audit stream", "mode", client.Mode())
	reg.MustRegister(client.Collector())

	if o.loadRules {
		// A locked kernel (auditctl -e 2) refuses every rule change: say so
		// and keep reading rather than fail.
		if st, serr := client.Control().Status(); serr == nil && st.Immutable() {
			log.Warn("not loading audit rules", "err", auditrules.CheckImmutable(st.Enabled))
			o.loadRules = false
		}
	}
	want := &wantedRules{}
	want.watches.Store(watchLines(o.file))
	var added [][]byte
	if o.loadRules {
		added, err = loadWantedRules(client.Control(), want.rules, log)
		if err != nil {
			_ = client.Close()
			return err
		}
	}
	// stop hands the kernel back: our rules out, pid released, settings
	// restored. It runs once, from the pipeline's shutdown or from here.
	var stopOnce sync.Once
	var gd *guard.Guard // tamper guard; stop disarms it before unloading
	var stopErr error
	stop := func() error {
		stopOnce.Do(func() {
			var errs []error
			if gd != nil { // the guard owns our rules: no repair of our own unload
				if err := gd.Unload(); err != nil {
					errs = append(errs, err)
				}
				added = nil
			}
			if len(added) > 0 {
				if err := auditrules.Unload(client.Control(), added); err != nil {
					errs = append(errs, fmt.Errorf("unload audit rules: %w", err))
				} else {
					log.Info("removed the audit rules auditlkm loaded", "rules", len(added))
				}
			}
			if err := client.Close(); err != nil {
				errs = append(errs, err)
			}
			stopErr = errors.Join(errs...)
		})
		return stopErr
	}
	defer func() { err = errors.Join(err, stop()) }()
	if o.loadRules {
		gcfg := o.guard
		gcfg.RestoreEnabled = client.Mode() == netlink.ModeUnicast
		g, err := guard.New(gcfg, client.Control(), want.rules, added, log.With("component", "guard"), guard.NewMetrics(reg))
		if err != nil {
			return err
		}
		gd = g
	}

	o.out.stateDir = o.correlate.StateDir
	sink, err := o.out.build(cmd.OutOrStdout(), reg, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, sink.Close()) }()
	o.prov = hostProvenance(log)
	p, err := buildProcessor(sink, rulesConfig(o.file, o.prov), reassemble.DefaultConfig(), store, reg, log)
	if err != nil {
		return err
	}
	sink.attach(p)

	var src pipeline.Source = client
	if o.records != "" {
		rf, err := os.OpenFile(o.records, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("open record output: %w", err)
		}
		defer rf.Close()
		src = &pipeline.Tee{Src: client, W: rf}
	}
	if gd != nil {
		src = gd.Watch(src) // CONFIG_CHANGE records trigger a rule check
	}

	g, gctx := errgroup.WithContext(ctx)
	if gd != nil {
		g.Go(func() error { return gd.Run(gctx) })
	}
	if o.web.ListenAddress != "" {
		l, err := web.Listen(o.web)
		if err != nil {
			return err
		}
		log.Info("serving metrics", "address", l.Addr().String(), "path", o.web.MetricsPath)
		g.Go(func() error { return web.Serve(gctx, l, o.web, reg, log.With("component", "web")) })
	}
	klog := o.kmsg.start(gctx, g, reg, log) // kernel log lines (issue 3); nil when disabled
	do := make(chan func(*pipeline.Processor), 1)
	g.Go(func() error {
		return handleSignals(gctx, sink, func() { o.reload(cmd, want, gd, do, log) }, log)
	})
	lastSave := time.Now()
	g.Go(func() error {
		defer saveState(store, log)
		return pipeline.Live(gctx, src, p, pipeline.LiveOptions{
			Stop:      stop,
			KernelLog: klog,
			Do:        do,
			OnTick: func(now time.Time) {
				store.Maintain(now)
				if now.Sub(lastSave) >= o.saveEvery {
					lastSave = now
					saveState(store, log)
				}
			},
		})
	})
	log.Info("auditlkm started", "mode", client.Mode())
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("auditlkm stopped")
	return err
}

func saveState(store *correlate.Store, log *slog.Logger) {
	if err := store.Save(); err != nil {
		log.Error("save state", "err", err)
	}
}

// loadWantedRules loads what the kernel lacks of the wanted rules (the
// embedded audit.rules.d plus the configuration's watches), returning
// exactly what was added.
func loadWantedRules(l auditrules.Loader, want guard.WantFunc, log *slog.Logger) ([][]byte, error) {
	parsed, err := want()
	if err != nil {
		return nil, err
	}
	res, err := auditrules.Load(l, parsed)
	if err != nil {
		return nil, err
	}
	for _, r := range res.Skipped {
		log.Debug("audit rule line not loaded", "file", r.File, "line", r.Line, "text", r.Text)
	}
	log.Info("loaded audit rules", "added", len(res.Added), "skipped", len(res.Skipped), "wanted", len(parsed))
	return res.Added, nil
}
