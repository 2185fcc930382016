package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/auditlkm/auditlkm/internal/auditrules"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/guard"
	"github.com/auditlkm/auditlkm/internal/inventory"
	"github.com/auditlkm/auditlkm/internal/kmsg"
	"github.com/auditlkm/auditlkm/internal/netlink"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/priority"
	"github.com/auditlkm/auditlkm/internal/web"
)

// Config is what the daemon runs with (auditlkm run's flags).
type Config struct {
	Audit     netlink.Config
	LoadRules bool // load the wanted audit rules at start, remove them at exit
	Guard     guard.Config
	Correlate correlate.Config
	SaveEvery time.Duration // correlation state snapshots
	Records   string        // also append every raw record to this file
	Web       web.Config    // empty ListenAddress: no web server
	Kmsg      kmsg.Config
	KmsgOn    bool
	// Inventory is the module inventory (cross-view); its StateDir is
	// Correlate.StateDir.
	Inventory   inventory.Config
	InventoryOn bool
	Boost       int      // nice -N for every thread (0: as started)
	MaxProcs    int      // GOMAXPROCS while running; 0: one, or the runtime's default while records wait (procsGovernor)
	CPUProf     string   // write a Go CPU profile of the run here
	Watches     []string // the configuration's watches, as auditctl lines
}

// Outputs are where alerts go; the daemon reopens them on SIGUSR1 and
// closes them after the processor has stopped.
type Outputs interface {
	Reopen() error
	Close() error
}

// Deps are what the command gives the daemon besides settings.
type Deps struct {
	Log      *slog.Logger
	Registry *prometheus.Registry
	// BaseRules are the audit rules the daemon always wants (the embedded
	// snippets for this machine); the configuration's watches are added.
	BaseRules guard.WantFunc
	// Open builds the outputs and the processor over store. It is called
	// once the kernel session is open.
	Open func(store pipeline.Store) (*pipeline.Processor, Outputs, error)
	// Reload re-reads the configuration on SIGHUP. An error leaves the
	// running configuration as it is.
	Reload func() (Reload, error)
}

// Reload is a new configuration that takes effect without a restart.
type Reload struct {
	Catalog *detections.Catalog // the new detection catalog
	Watches []string            // the configuration's watches, as auditctl lines
	Path    string              // the file it came from, for the log
}

// daemon is one run: what Run opened, for its goroutines.
type daemon struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	store   *correlate.Store
	ks      *session
	outs    Outputs
	watches atomic.Value // []string
	reloads chan *detections.Catalog
	procs   *procsGovernor // nil with a fixed --process.max-procs
}

// Run runs the daemon until ctx is cancelled or a part of it fails, then
// hands the kernel back and closes what it opened.
func Run(ctx context.Context, cfg Config, deps Deps) (err error) {
	d := &daemon{cfg: cfg, deps: deps, log: deps.Log, reloads: make(chan *detections.Catalog, 1)}
	d.watches.Store(cfg.Watches)
	var stopProcs func()
	d.procs, stopProcs = startProcs(cfg.MaxProcs, d.log)
	defer stopProcs()
	boostPriority(cfg.Boost, d.log)
	stopProf, err := startCPUProfile(cfg.CPUProf)
	if err != nil {
		return err
	}
	defer stopProf()
	if d.store, err = openStore(ctx, cfg.Correlate, deps.Registry, d.log); err != nil {
		return err
	}
	defer d.store.Close()
	if cfg.Correlate.StateDir != "" {
		// Restart accounting: what the kernel lost while no auditlkm ran.
		d.cfg.Audit.StateFile = filepath.Join(cfg.Correlate.StateDir, "netlink.json")
	}
	// The raw record file is the netlink reader's hook from its first
	// batch on: it keeps what the kernel sent, including the records a
	// full queue then drops.
	closeRecords, err := d.openRecords()
	if err != nil {
		return err
	}
	defer closeRecords()
	if d.ks, err = openSession(d.cfg, d.wantedRules, deps.Registry, d.log); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, d.ks.Close()) }()
	p, outs, err := deps.Open(d.store)
	if err != nil {
		return err
	}
	d.outs = outs
	defer func() { err = errors.Join(err, outs.Close()) }()
	return d.serve(ctx, d.loop(p))
}

// openRecords opens the raw record file (--output.records), if any, and
// makes it a hook of the netlink reader (pipeline.Tee).
func (d *daemon) openRecords() (closeRecords func(), err error) {
	if d.cfg.Records == "" {
		return func() {}, nil
	}
	rf, err := os.OpenFile(d.cfg.Records, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open record output: %w", err)
	}
	d.cfg.Audit.Hooks = append(slices.Clip(d.cfg.Audit.Hooks), netlink.BatchHook(pipeline.Tee(rf)))
	return func() { _ = rf.Close() }, nil // append-only; written per batch
}

// loop builds the processor loop over the kernel session, with the
// store's maintenance on ticks.
func (d *daemon) loop(p *pipeline.Processor) *loop {
	l := &loop{src: d.ks.client, p: p, stop: d.ks.Close, reloads: d.reloads, log: d.log, afterBatch: d.store.ReadConfigs, procs: d.procs}
	lastSave := time.Now()
	l.onTick = func(now time.Time) {
		d.store.Maintain(now)
		if now.Sub(lastSave) >= d.cfg.SaveEvery {
			lastSave = now
			d.saveState()
		}
	}
	return l
}

// serve runs every goroutine of the daemon in one errgroup.
func (d *daemon) serve(ctx context.Context, l *loop) error {
	var ln net.Listener // before any goroutine: a failure here leaves none behind
	if d.cfg.Web.ListenAddress != "" {
		var err error
		if ln, err = web.Listen(d.cfg.Web); err != nil {
			return err
		}
		d.log.Info("serving metrics", "address", ln.Addr().String(), "path", d.cfg.Web.MetricsPath)
	}
	g, gctx := errgroup.WithContext(ctx)
	if gd := d.ks.guard; gd != nil {
		g.Go(func() error { return gd.Run(gctx) })
	}
	if ln != nil {
		g.Go(func() error { return web.Serve(gctx, ln, d.cfg.Web, d.deps.Registry, d.log.With("component", "web")) })
	}
	l.klog = d.startKmsg(gctx, g)
	xview, saveInventory := d.startInventory(gctx, g, l.p)
	l.xview = xview
	g.Go(func() error { return d.handleSignals(gctx) })
	g.Go(func() error {
		defer d.saveState()
		defer saveInventory()
		return l.run(gctx)
	})
	d.log.Info("auditlkm started", "mode", d.ks.client.Mode(), "max_procs", runtime.GOMAXPROCS(0))
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	d.log.Info("auditlkm stopped")
	return err
}

// wantedRules are the rules the daemon wants in the kernel: the base
// rules plus the configuration's watches, which a reload may change.
func (d *daemon) wantedRules() ([]auditrules.Rule, error) {
	out, err := d.deps.BaseRules()
	if err != nil {
		return nil, err
	}
	lines, _ := d.watches.Load().([]string)
	if len(lines) == 0 {
		return out, nil
	}
	extra, err := auditrules.ParseFile("configuration watches", strings.NewReader(strings.Join(lines, "\n")), auditrules.DefaultParseOptions())
	if err != nil {
		return nil, err
	}
	return append(out, extra...), nil
}

func (d *daemon) saveState() {
	if err := d.store.Save(); err != nil {
		d.log.Error("save state", "err", err)
	}
}

// openStore opens the correlation store, loads its saved state and seeds
// its process table from /proc; failing to load or seed is not fatal.
func openStore(ctx context.Context, cfg correlate.Config, reg prometheus.Registerer, log *slog.Logger) (*correlate.Store, error) {
	cm, err := correlate.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	store, err := correlate.New(cfg, log.With("component", "correlate"), cm)
	if err != nil {
		return nil, err
	}
	if err := store.Load(); err != nil {
		log.Warn("state not loaded; starting empty", "err", err)
	}
	if err := store.Seed(ctx); err != nil {
		log.Warn("seed process table", "err", err)
	}
	return store, nil
}

// boostPriority applies Config.Boost; failing is not fatal.
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

// startCPUProfile starts a CPU profile into path ("": none) and returns
// the function that stops it.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	pf, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		_ = pf.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); _ = pf.Close() }, nil
}
