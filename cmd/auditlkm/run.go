package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/auditlkm/auditlkm"
	"github.com/auditlkm/auditlkm/internal/auditrules"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/netlink"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/reassemble"
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
}

func newRunCmd(lo *logOptions) *cobra.Command {
	o := &runOptions{log: lo, audit: netlink.DefaultConfig(), web: web.DefaultConfig(), correlate: correlate.DefaultConfig()}
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
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error { return o.validate() },
		RunE:    func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	o.out.bind(f)
	f.StringVar(&o.audit.Mode, "audit.mode", o.audit.Mode, "How to read the kernel: auto, unicast (claim the audit pid) or multicast (read-only beside auditd). Default auto.")
	f.Uint32Var(&o.audit.BacklogLimit, "audit.backlog-limit", o.audit.BacklogLimit, "Kernel backlog limit to set in unicast mode (0 leaves the kernel's). Default 8192.")
	f.Int32Var(&o.audit.BacklogWaitTime, "audit.backlog-wait-time", o.audit.BacklogWaitTime, "Kernel backlog wait time in jiffies to set in unicast mode; 0 never stalls a syscall (the kernel drops and counts instead), -1 leaves the kernel's. Default 0.")
	f.Uint32Var(&o.audit.RateLimit, "audit.rate-limit", o.audit.RateLimit, "Kernel message rate limit per second in unicast mode (0 = unlimited). Default 0.")
	f.IntVar(&o.audit.ReceiveBufferBytes, "audit.receive-buffer-bytes", o.audit.ReceiveBufferBytes, "Netlink socket receive buffer (SO_RCVBUFFORCE). Default 8 MiB.")
	f.BoolVar(&o.loadRules, "audit.load-rules", true, "Load the embedded audit rules into the kernel at start and remove exactly those at exit. Default true.")
	f.StringVar(&o.web.ListenAddress, "web.listen-address", o.web.ListenAddress, "Address for /metrics and /healthz; empty disables. Default 127.0.0.1:9847.")
	f.StringVar(&o.web.MetricsPath, "web.telemetry-path", o.web.MetricsPath, "Path of the metrics endpoint. Default /metrics.")
	f.StringVar(&o.correlate.StateDir, "state.dir", o.correlate.StateDir, "Directory for state kept across restarts (first-seen history); empty keeps it in memory. Default /var/lib/auditlkm.")
	f.StringVar(&o.records, "output.records", "", "Also write every raw audit record received to this file, in audit.log format (replayable with auditlkm replay). Default none.")
	f.DurationVar(&o.saveEvery, "state.save-interval", time.Minute, "How often to save the state. Default 1m.")
	return cmd
}

func (o *runOptions) validate() error {
	for _, err := range []error{o.audit.Validate(), o.web.Validate(), o.correlate.Validate()} {
		if err != nil {
			return err
		}
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

	client, err := netlink.Open(o.audit, log.With("component", "netlink"), netlink.NewMetrics(reg))
	if err != nil {
		return err
	}
	log.Info("reading the kernel audit stream", "mode", client.Mode())
	reg.MustRegister(netlink.NewStatusCollector(client.Control()))

	var added [][]byte
	if o.loadRules {
		added, err = loadEmbeddedRules(client.Control(), log)
		if err != nil {
			_ = client.Close()
			return err
		}
	}
	// stop hands the kernel back: our rules out, pid released, settings
	// restored. It runs once, from the pipeline's shutdown or from here.
	var stopOnce sync.Once
	var stopErr error
	stop := func() error {
		stopOnce.Do(func() {
			var errs []error
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

	w, closeOut, err := o.out.open(cmd.OutOrStdout())
	if err != nil {
		return err
	}
	defer closeOut()
	p, err := buildProcessor(w, o.out, reassemble.DefaultConfig(), store, reg, log)
	if err != nil {
		return err
	}

	var src pipeline.Source = client
	if o.records != "" {
		rf, err := os.OpenFile(o.records, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("open record output: %w", err)
		}
		defer rf.Close()
		src = &pipeline.Tee{Src: client, W: rf}
	}

	g, gctx := errgroup.WithContext(ctx)
	if o.web.ListenAddress != "" {
		l, err := web.Listen(o.web)
		if err != nil {
			return err
		}
		log.Info("serving metrics", "address", l.Addr().String(), "path", o.web.MetricsPath)
		g.Go(func() error { return web.Serve(gctx, l, o.web, reg, log.With("component", "web")) })
	}
	lastSave := time.Now()
	g.Go(func() error {
		defer saveState(store, log)
		return pipeline.Live(gctx, src, p, pipeline.LiveOptions{
			Stop: stop,
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

// loadEmbeddedRules parses the embedded audit.rules.d and loads what the
// kernel lacks, returning exactly what was added.
func loadEmbeddedRules(l auditrules.Loader, log *slog.Logger) ([][]byte, error) {
	sub, err := fs.Sub(auditlkm.RulesFS, "audit.rules.d")
	if err != nil {
		return nil, fmt.Errorf("embedded rules: %w", err)
	}
	parsed, err := auditrules.ParseFS(sub, auditrules.DefaultParseOptions())
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
