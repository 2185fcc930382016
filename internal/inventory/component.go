package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/modfile"
	"github.com/auditlkm/auditlkm/internal/statefile"
)

// Config configures a Component.
type Config struct {
	Views
	// Interval is how often the kernel's views are read besides the reads
	// after loads and unloads; 0 disables the periodic read.
	Interval time.Duration
	// Settle is how long after an audited load or unload the views are
	// read: the module's init has run by then.
	Settle time.Duration
	// Confirm is how much later a suspect (a module missing from one view,
	// a module without an audited load) is read again before it is
	// reported: the audit event of a load may arrive after the kernel
	// lists the module, and a module is briefly in one view only while it
	// is loaded or removed.
	Confirm time.Duration
	// TaintWindow is how far before a taint change a load is blamed for it.
	TaintWindow time.Duration
	// UnknownGrace is how long a module must be listed without an audited
	// load before it is reported unknown (the pipeline may lag under load).
	UnknownGrace time.Duration
	// StateDir keeps the inventory across restarts ("" keeps it in memory).
	StateDir string
	// MaxHashBytes bounds the module file read to hash it.
	MaxHashBytes int64
}

// DefaultConfig reads the live system every minute.
func DefaultConfig() Config {
	return Config{Views: Views{ProcRoot: "/proc", SysRoot: "/sys"}, Interval: time.Minute, Settle: 1500 * time.Millisecond,
		Confirm: 2 * time.Second, TaintWindow: 10 * time.Minute, UnknownGrace: 10 * time.Second, MaxHashBytes: 256 << 20}
}

// Validate checks c.
func (c Config) Validate() error {
	switch {
	case c.ProcRoot == "" || c.SysRoot == "":
		return errors.New("inventory: the proc and sys roots must be set")
	case c.Interval != 0 && c.Interval < time.Second:
		return fmt.Errorf("--inventory.interval %s: at least 1s, or 0 to read only after loads and unloads", c.Interval)
	case c.Settle < 0 || c.Settle > time.Minute:
		return fmt.Errorf("--inventory.settle %s: between 0 and 1m", c.Settle)
	case c.Confirm < 0 || c.Confirm > time.Minute:
		return fmt.Errorf("inventory confirm delay %s: between 0 and 1m", c.Confirm)
	case c.UnknownGrace < 0 || c.UnknownGrace > time.Hour:
		return fmt.Errorf("inventory unknown grace %s: between 0 and 1h", c.UnknownGrace)
	case c.TaintWindow < 0:
		return fmt.Errorf("inventory taint window %s: negative", c.TaintWindow)
	}
	return nil
}

// Component keeps the module inventory of a live daemon: Observe takes the
// audit trail's loads and unloads (on the pipeline's goroutine), Run reads
// the kernel's views after each and on an interval and hands every
// finding to emit.
type Component struct {
	cfg  Config
	log  *slog.Logger
	m    *Metrics
	emit func(context.Context, *detections.CrossViewFinding)

	saveMu sync.Mutex // one Save at a time
	mu     sync.Mutex
	tr     *Tracker
	due    time.Time // the next check asked for; zero when none
	why    string    // its trigger
	kick   chan struct{}
	now    func() time.Time
}

// New builds a component and restores the previous run's inventory from
// cfg.StateDir. emit is called on Run's goroutine with each finding; it
// should hand it to the pipeline (Processor.CrossView) and may block
// until ctx ends.
func New(cfg Config, log *slog.Logger, m *Metrics, emit func(context.Context, *detections.CrossViewFinding)) (*Component, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Component{cfg: cfg, log: log, m: m, emit: emit, tr: NewTracker(cfg.Confirm, cfg.TaintWindow),
		kick: make(chan struct{}, 1), now: time.Now}
	c.tr.UnknownGrace = cfg.UnknownGrace
	if cfg.StateDir != "" {
		sf, err := ReadState(cfg.StateDir)
		if err != nil {
			log.Warn("inventory state not read; every module present now is the baseline", "err", err)
		} else if sf != nil {
			snap, _ := cfg.Views.Read(c.now()) // only the boot id matters here
			c.tr.restore(sf, snap.BootID)
			log.Info("inventory restored", "modules", len(sf.Modules), "same_boot", sf.BootID != "" && sf.BootID == snap.BootID)
		}
	}
	return c, nil
}

// Observe takes one event: a successful init_module or finit_module is
// recorded as a load of its KERN_MODULE name (with the file the
// correlation store resolved, ml, nil when none, and the process and
// parent st knows), a successful delete_module as an unload; both ask for
// a check Settle later. Other events, and events of another host (a node
// name), cost a compare. It does not keep ev or ml.
func (c *Component) Observe(ev *auditevent.Event, ml *correlate.ModuleLoad, st detections.State) {
	if c == nil || !ev.HasSyscall || ev.Syscall.Success != auditevent.SuccessYes || ev.Node != "" {
		return // another host's events (auditd's node=) say nothing of this kernel
	}
	switch ev.Syscall.Name {
	case "init_module", "finit_module":
		rec := loadRecord(ev, ml, st)
		if rec.Module == "" {
			return
		}
		c.mu.Lock()
		c.tr.RecordLoad(rec)
		c.mu.Unlock()
	case "delete_module":
		c.mu.Lock()
		name := ""
		if ev.HasModule {
			name = ev.Module
		}
		c.tr.RecordUnload(time.UnixMilli(ev.UnixMilli()), name)
		c.mu.Unlock()
	default:
		return
	}
	c.schedule(c.now().Add(c.cfg.Settle), triggerEvent)
}

// schedule asks Run for a check at t (the earliest asked for wins).
func (c *Component) schedule(t time.Time, why string) {
	c.mu.Lock()
	if c.due.IsZero() || t.Before(c.due) {
		c.due, c.why = t, why
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// loadRecord copies what the event, the store's resolution of the load ml
// and the correlation state say of a load (strings cloned: the record
// outlives the event).
func loadRecord(ev *auditevent.Event, ml *correlate.ModuleLoad, st detections.State) *detections.ModuleLoadRecord {
	r := &detections.ModuleLoadRecord{Serial: ev.Serial, At: time.UnixMilli(ev.UnixMilli()), Syscall: ev.Syscall.Name}
	if ev.HasModule {
		r.Module = ev.Module
	}
	if ml != nil {
		r.File = ml.File
		if fi := ml.FileInfo; fi != nil {
			r.SHA256 = fi.SHA256 // read by the store as the load was observed
			r.Taints = impliedTaints(fi)
		}
		if r.Module == "" {
			r.Module = ml.Name
		}
	}
	p := ev.Process()
	if st != nil && p.PID > 0 {
		if known, ok := st.Process(p.PID); ok {
			if len(p.Args) == 0 {
				p.Args = known.Args
			}
			if p.Cwd == "" {
				p.Cwd = known.Cwd
			}
			p.StartMilli = known.StartMilli
		}
		if par, ok := st.Parent(p.PID); ok {
			pp := cloneProcess(par)
			r.Parent = &pp
		}
		for _, a := range st.Ancestry(p.PID, detections.MaxAncestors) {
			r.Ancestors = append(r.Ancestors, cloneProcess(a))
		}
	}
	if r.Parent == nil && p.PPID > 0 {
		r.Parent = &auditevent.Process{PID: p.PPID}
	}
	r.Process = cloneProcess(p)
	r.Module, r.File = strings.Clone(r.Module), strings.Clone(r.File)
	return r
}

// impliedTaints returns the taint letters the kernel sets loading the
// module file fi describes, as far as the file tells: O when it was not
// built in the kernel tree, E when it carries no signature (on a kernel
// that checks signatures), C for staging, K for a live patch.
func impliedTaints(fi *modfile.Info) string {
	if fi == nil || !fi.ELF {
		return ""
	}
	var b []byte
	if !fi.Modinfo.Intree {
		b = append(b, 'O')
	}
	if fi.Signature == nil {
		b = append(b, 'E')
	}
	if fi.Modinfo.Staging {
		b = append(b, 'C')
	}
	if fi.Modinfo.Livepatch {
		b = append(b, 'K')
	}
	return string(b)
}

func cloneProcess(p auditevent.Process) auditevent.Process {
	p.Exe, p.Comm, p.Cwd = strings.Clone(p.Exe), strings.Clone(p.Comm), strings.Clone(p.Cwd)
	if p.Args != nil {
		args := make([]string, len(p.Args))
		for i, a := range p.Args {
			args[i] = strings.Clone(a)
		}
		p.Args = args
	}
	return p
}

// Run reads the kernel's views at once (the baseline, or the comparison
// with the previous run's inventory), then after every observed load and
// unload, on a confirmation, and every Interval, until ctx ends; it saves
// the inventory after each check and on the way out.
func (c *Component) Run(ctx context.Context) error {
	c.check(ctx, triggerStart)
	var tick <-chan time.Time
	if c.cfg.Interval > 0 {
		t := time.NewTicker(c.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		c.mu.Lock()
		due := c.due
		c.mu.Unlock()
		if !due.IsZero() {
			timer.Reset(max(due.Sub(c.now()), 0))
		}
		select {
		case <-ctx.Done():
			if err := c.Save(); err != nil {
				c.log.Error("save inventory", "err", err)
			}
			return nil
		case <-c.kick:
			timer.Stop()
		case <-tick:
			c.check(ctx, triggerInterval)
		case <-timer.C:
			c.mu.Lock()
			trig := c.why
			c.due = time.Time{}
			c.mu.Unlock()
			c.check(ctx, trig)
		}
	}
}

// check reads the kernel's views, compares them with the inventory and
// emits what is confirmed.
func (c *Component) check(ctx context.Context, trigger string) {
	snap, err := c.cfg.Views.Read(c.now())
	if err != nil {
		c.log.Warn("kernel module views read in part", "trigger", trigger, "err", err)
	}
	c.hashLoads()
	c.mu.Lock()
	findings, recheck := c.tr.Check(&snap)
	c.m.observe(c.tr, &snap, trigger, err != nil)
	c.mu.Unlock()
	if trigger == triggerStart {
		c.log.Info("kernel module views read", "proc_modules", len(snap.Proc), "sysfs_modules", len(snap.Sys),
			"module_list", snap.ProcOK, "tainted", snap.Tainted)
	}
	if recheck {
		c.schedule(c.now().Add(c.cfg.Confirm), triggerConfirm)
	}
	for _, f := range findings {
		c.log.Info("cross-view finding", "kind", f.Kind, "module", f.Module.Name, "trace", f.Trace, "taint", f.TaintAfter)
		if c.emit != nil {
			c.emit(ctx, f)
		}
	}
	if err := c.Save(); err != nil {
		c.log.Error("save inventory", "err", err)
	}
}

// hashLoads hashes the files of the loads the correlation store did not
// read (outside the lock: a file may be large).
func (c *Component) hashLoads() {
	c.mu.Lock()
	var todo []*Entry
	for _, e := range c.tr.entries {
		if e.Load != nil && !e.hashTried && e.Load.File != "" {
			e.hashTried = true
			todo = append(todo, e)
		}
	}
	files := make([]string, len(todo))
	for i, e := range todo {
		files[i] = e.Load.File
	}
	c.mu.Unlock()
	for i, f := range files {
		sum, err := hashFile(f, c.cfg.MaxHashBytes)
		if err != nil {
			c.log.Debug("module file not hashed", "file", f, "err", err)
			continue
		}
		c.mu.Lock()
		if l := todo[i].Load; l != nil && l.File == f {
			l.SHA256 = sum
		}
		c.mu.Unlock()
	}
}

// hashFile returns the SHA-256 of the regular file p, at most max bytes
// (never through a symbolic link, never a FIFO: internal/statefile opens
// it).
func hashFile(p string, max int64) (string, error) {
	f, _, err := statefile.Open(p, max)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, max+1))
	if err != nil {
		return "", err
	}
	if n > max {
		return "", fmt.Errorf("%s: larger than %d bytes", p, max)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Save writes the inventory to the state directory.
func (c *Component) Save() error {
	if c == nil || c.cfg.StateDir == "" {
		return nil
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	data, err := c.tr.encodeState(c.now())
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return writeState(c.cfg.StateDir, data)
}

// Entries returns a copy of the inventory.
func (c *Component) Entries() []Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tr.Entries()
}
