package correlate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/modfile"
)

// Store is auditlkm's correlation state: the process table, the
// provenance of module files and module configuration, and the history of
// values seen on this host. The pipeline feeds it every event with Observe
// before the detections read it through their State view.
//
// A Store must be used from one goroutine, except SaveSnapshot, which may
// run on any goroutine, and its Metrics, which are safe for concurrent use.
type Store struct {
	cfg Config
	log *slog.Logger
	m   *Metrics
	now func() time.Time // wall clock; tests replace it

	procs procTable
	files fileTable
	seen  seenTable

	cmdline cmdlineReader // the /proc/PID/cmdline reads (see CmdlineWait)

	firstStart time.Time // the very first start of auditlkm on this host

	bootMilli int64 // btime in ms; 0 until read
	bootErr   bool  // btime could not be read: do not retry per event

	// budgets bound the /proc reads a second and fileBudgets the module
	// files read, per class of event (budget.go); class is the class of
	// the event being observed.
	budgets     [numReadClasses]readBudget
	fileBudgets [numReadClasses]fileBudget
	class       readClass

	cur eventRef // the event being observed

	dirs     loaderDirs     // open /proc/<pid> directories of loaders (procdir.go)
	modCache *modfile.Cache // module files read for loads (modulefile.go)
	modDep   modulesDep     // the running kernel's modules.dep (modulesdep.go)

	// fresh collects the values the event being observed marks for the
	// first time; Observe hands it on in Facts.FirstSeen and reuses it.
	fresh []SeenValue

	firstEvent int64 // time of the first event observed (ms); 0 before
}

// Close releases what the store holds open (loaderDirs). Call it from
// the owner goroutine when done; the store still works after it, and
// opens again what it needs.
func (s *Store) Close() { s.dirs.closeAll() }

// eventRef names one event for the first-seen history.
type eventRef struct {
	serial uint32
	milli  int64
}

// New returns an empty Store. It does not read /proc or the state dir:
// call Load and Seed.
func New(cfg Config, log *slog.Logger, m *Metrics) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("create correlation store: %w", err)
	}
	if log == nil {
		return nil, errors.New("create correlation store: logger is nil")
	}
	if m == nil {
		return nil, errors.New("create correlation store: metrics are nil")
	}
	s := &Store{cfg: cfg, log: log.With("component", "correlate"), m: m, now: time.Now}
	s.initBudgets()
	s.cmdline.wait, s.cmdline.abandoned = CmdlineWait, m.cmdlineAbandoned.Inc
	s.reset()
	return s, nil
}

// reset empties every table. The first start becomes now.
func (s *Store) reset() {
	s.procs.init()
	s.files.init()
	s.seen.init()
	s.firstStart = s.now()
	s.updateGauges()
}

func (s *Store) updateGauges() {
	s.m.entryGauges[tiProcesses].Set(float64(len(s.procs.byID)))
	s.m.entryGauges[tiFiles].Set(float64(s.files.n))
	s.m.entryGauges[tiSeen].Set(float64(len(s.seen.m)))
	s.m.byteGauges[tiProcesses].Set(float64(s.procs.bytes))
	s.m.byteGauges[tiFiles].Set(float64(s.files.bytes))
	s.m.byteGauges[tiSeen].Set(float64(s.seen.bytes))
}

// Facts is what the store learned about one event while observing it,
// computed once there: the detections and the pipeline read it, never the
// store's tables.
type Facts struct {
	// Load is the store's resolution of a module load (init_module,
	// finit_module): its file, name, the earlier writes it links to;
	// nil for any other event.
	Load *ModuleLoad
	// FirstSeen lists the values the event marked for the first time on
	// this host (kind and value), at most maxFreshPerEvent. The slice is
	// reused by the next Observe.
	FirstSeen []SeenValue
	// Learning says the store is in its learning period as of the event
	// (see Store.Learning): first-seen alerts are held back.
	Learning bool
}

// Observe updates the state from one reassembled event and returns what
// it learned about it. Call it for every event, before the detections
// evaluate that event. Event times (not the wall clock) date every entry,
// so replays age correctly. The entry gauges follow Maintain, Seed and
// Load, not every event.
func (s *Store) Observe(ev *auditevent.Event) Facts {
	s.fresh = s.fresh[:0]
	if ev == nil {
		return Facts{Learning: s.learning()}
	}
	at := ev.UnixMilli()
	s.cur = eventRef{serial: ev.Serial, milli: at}
	if s.firstEvent == 0 {
		s.firstEvent = at
	}
	var f Facts
	s.observe(ev, at, &f)
	f.FirstSeen, f.Learning = s.fresh, s.learning()
	return f
}

// observe updates the tables from ev, observed at, and fills f.Load.
func (s *Store) observe(ev *auditevent.Event, at int64, f *Facts) {
	if !ev.HasSyscall || ev.Syscall.PID <= 0 {
		return
	}
	var e *proc
	sc := &ev.Syscall
	ok := sc.Success != auditevent.SuccessNo
	switch sc.Name {
	case "execve", "execveat":
		e = s.actor(ev, at, sc.Success == auditevent.SuccessYes)
		if sc.Success == auditevent.SuccessYes {
			s.exec(e, ev)
		}
	case "fork", "vfork", "clone", "clone3":
		e = s.actor(ev, at, false)
		const cloneThread = 0x00010000
		thread := sc.Name == "clone" && sc.Args[0]&cloneThread != 0
		if ok && sc.Exit > 0 && sc.Exit <= 1<<22 && !thread {
			s.fork(e, int(sc.Exit), at)
		}
	case "exit", "exit_group":
		e = s.actor(ev, at, false)
		s.markExited(e, at)
	case "init_module", "finit_module":
		// The load's reads, its process's included, draw from the budgets
		// of its class (budget.go); every other event's from classProcess.
		s.class = loadClass(sc)
		e = s.actor(ev, at, false)
		f.Load = s.observeLoad(e, ev, at)
		s.class = classProcess
	default:
		e = s.actor(ev, at, false)
	}
	if len(ev.Paths) > 0 {
		s.observeFiles(ev, e)
	}
	// The event may have changed e (a new image, argv, cwd, opened file):
	// account for it, then keep the table within its byte budget.
	s.resizeProc(e)
	s.fitProcs(e)
}

// actor returns the table entry of the process that made the event's
// syscall, creating it (from /proc when live, else from the event) and
// refreshing what the event says about it.
func (s *Store) actor(ev *auditevent.Event, at int64, exec bool) *proc {
	sc := &ev.Syscall
	e := s.procs.pid(sc.PID)
	if e != nil && !s.sameProcess(e, sc, at, exec) {
		e = nil
	}
	if e == nil {
		e = s.lookupProc(sc.PID, at)
		if e == nil {
			e = &proc{p: auditevent.Process{PID: sc.PID, StartMilli: at}}
			s.imageFromEvent(e, ev)
			s.insertProc(e, at)
		} else if e.p.Exe != sc.Exe && sc.Exe != "" {
			// /proc shows a later image than the event's.
			s.imageFromEvent(e, ev)
		}
	} else if !exec && sc.Exe != "" && (e.p.Exe != sc.Exe || e.p.Comm != sc.Comm) {
		// The image (or comm) changed without an exec we saw.
		if e.p.Exe != sc.Exe {
			s.imageFromEvent(e, ev)
		}
		e.p.Comm = strings.Clone(sc.Comm)
	}
	if e.p.PPID != sc.PPID && sc.PPID > 0 {
		e.p.PPID, e.parentID, e.parentLooked = sc.PPID, 0, false // reparented
	}
	e.p.UID = sc.UID
	if !sc.IsURing { // a URINGOP record carries no auid: keep the known one
		e.p.AUID = sc.AUID
	}
	s.linkParent(e)
	s.touch(e)
	return e
}

func (s *Store) imageFromEvent(e *proc, ev *auditevent.Event) {
	sc := &ev.Syscall
	e.p.Exe, e.p.Comm, e.p.PPID = strings.Clone(sc.Exe), strings.Clone(sc.Comm), sc.PPID
	e.p.Args, e.p.ArgsFromExec = boundArgs(ev.Args()), ev.HasExecve
	if ev.HasCwd {
		e.p.Cwd = strings.Clone(ev.Cwd)
	}
}

// sameProcess reports whether the event's process is e's incarnation of
// the pid rather than a newer process that reused it.
func (s *Store) sameProcess(e *proc, sc *auditevent.Syscall, at int64, exec bool) bool {
	if e.exited {
		if at <= e.exitMilli {
			return true // a late event of the exited process
		}
		if exec || at > e.exitMilli+lateSlackMilli {
			return false
		}
		return sc.PPID == e.p.PPID
	}
	if sc.PPID == e.p.PPID || sc.PPID <= 0 {
		return true
	}
	// Another parent: the process was reparented, or the pid was reused
	// after an exit we did not see. /proc tells when it can.
	if e.startTicks != 0 && s.cfg.ProcRoot != "" && s.spendBudget() {
		s.m.procReads.Inc()
		st, err := readStartTicks(s.cfg.ProcRoot, e.p.PID)
		if err == nil {
			return st == e.startTicks
		}
	}
	return false
}

func (s *Store) boot() int64 {
	if s.bootMilli == 0 && !s.bootErr && s.cfg.ProcRoot != "" {
		b, err := readBootMilli(s.cfg.ProcRoot)
		if err != nil {
			s.bootErr = true
			s.log.Warn("process start times unavailable", "err", err)
		}
		s.bootMilli = b
	}
	return s.bootMilli
}

// lookupProc reads an unknown pid from /proc, within the budget, and
// inserts it, unless /proc describes a process that started after the
// event at (the pid was reused since). It returns nil when it cannot.
func (s *Store) lookupProc(pid int, at int64) *proc {
	if s.cfg.ProcRoot == "" || pid <= 0 || !s.spendBudget() {
		return nil
	}
	s.m.procReads.Inc()
	pi, err := readProc(s.cfg.ProcRoot, pid, &s.cmdline)
	if err != nil {
		if !errors.Is(err, errNoProcess) {
			s.log.Debug("lazy process lookup failed", "pid", pid, "err", err)
		}
		return nil
	}
	start := s.startMilli(pi.startTicks)
	if start == 0 || start > at+startSlackMilli {
		return nil
	}
	if old := s.procs.pid(pid); old != nil && old.startTicks == pi.startTicks {
		s.revive(old) // the same process: an exit we marked was a thread's
		return old
	}
	e := s.procFromInfo(pi, start)
	s.insertProc(e, at)
	return e
}

func (s *Store) startMilli(ticks uint64) int64 {
	b := s.boot()
	if b == 0 {
		return 0
	}
	return b + int64(ticks*1000/userHZ)
}

func (s *Store) procFromInfo(pi procInfo, start int64) *proc {
	return &proc{
		p: auditevent.Process{
			PID: pi.pid, PPID: pi.ppid, Exe: pi.exe, Comm: pi.comm, Args: pi.args,
			Cwd: pi.cwd, UID: pi.uid, AUID: pi.auid, StartMilli: start,
		},
		startTicks: pi.startTicks,
		container:  pi.container,
	}
}

// linkParent finds e's parent incarnation, reading the parent from /proc
// when it is unknown.
func (s *Store) linkParent(e *proc) {
	if e.p.PPID <= 0 || (e.parentID != 0 && s.procs.byID[e.parentID] != nil) {
		return
	}
	if e.parentID != 0 {
		return // the parent was evicted; never adopt a newer process
	}
	par := s.procs.pid(e.p.PPID)
	if par == nil && !e.parentLooked {
		e.parentLooked = true // one /proc attempt per entry: the parent may be gone
		par = s.lookupProc(e.p.PPID, e.p.StartMilli)
	}
	if par != nil && plausibleParent(par, e) {
		e.parentID = par.id
		if e.container == "" {
			e.container = par.container
		}
		s.shortenAncestor(par)
	}
}

// exec replaces e's image with the one a successful execve installed.
func (s *Store) exec(e *proc, ev *auditevent.Event) {
	sc := &ev.Syscall
	e.p.Exe, e.p.Comm = strings.Clone(sc.Exe), strings.Clone(sc.Comm)
	e.p.Args, e.p.ArgsFromExec = boundArgs(ev.Args()), ev.HasExecve
	if ev.HasCwd {
		e.p.Cwd = strings.Clone(ev.Cwd)
	}
	at := time.UnixMilli(ev.UnixMilli())
	if sc.Exe != "" {
		s.MarkSeen(SeenExe, sc.Exe, at)
	}
	if v := kmodArgs(&e.p); v != "" {
		s.MarkSeen(SeenKmodArgs, v, at)
	}
}

// fork records the child a successful fork/clone returned.
func (s *Store) fork(par *proc, child int, at int64) {
	if old := s.procs.pid(child); old != nil && !old.exited && old.p.PPID == par.p.PID &&
		old.p.StartMilli+startSlackMilli >= at {
		// The child's own events came first; it is this fork's child.
		old.parentID = par.id
		return
	}
	c := &proc{p: par.p, parentID: par.id, container: par.container}
	c.p.PID, c.p.PPID, c.p.StartMilli = child, par.p.PID, at
	s.insertProc(c, at)
}

// Seed fills the process table from ProcRoot, up to the table cap. It is
// a no-op when ProcRoot is empty.
func (s *Store) Seed(ctx context.Context) error {
	if s.cfg.ProcRoot == "" {
		return nil
	}
	d, err := os.Open(s.cfg.ProcRoot)
	if err != nil {
		return fmt.Errorf("seed process table from %s: %w", s.cfg.ProcRoot, err)
	}
	defer d.Close()
	if s.boot() == 0 {
		return fmt.Errorf("seed process table from %s: no boot time", s.cfg.ProcRoot)
	}
	const batch = 256
	var added []*proc
	for len(added) < s.cfg.MaxProcesses {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("seed process table: %w", err)
		}
		ents, err := d.ReadDir(batch)
		for _, de := range ents {
			pid, perr := strconv.Atoi(de.Name())
			if perr != nil || pid <= 0 || len(added) >= s.cfg.MaxProcesses {
				continue
			}
			if cur := s.procs.pid(pid); cur != nil && !cur.exited {
				continue
			}
			s.m.procReads.Inc()
			pi, rerr := readProc(s.cfg.ProcRoot, pid, &s.cmdline)
			if rerr != nil {
				continue // exited while we walked
			}
			e := s.procFromInfo(pi, s.startMilli(pi.startTicks))
			s.insertProc(e, e.p.StartMilli)
			added = append(added, e)
		}
		if err != nil {
			break // io.EOF or a read error: what we have is what we get
		}
	}
	for _, e := range added {
		if par := s.procs.pid(e.p.PPID); par != nil && plausibleParent(par, e) {
			e.parentID = par.id
		}
	}
	s.log.Debug("seeded process table", "processes", len(added))
	s.updateGauges()
	return nil
}

// Process returns the newest known incarnation of pid: as of the event
// being evaluated, since Observe runs first. The Args slice is shared and
// must not be modified.
func (s *Store) Process(pid int) (auditevent.Process, bool) {
	if e := s.procs.pid(pid); e != nil {
		return e.p, true
	}
	return auditevent.Process{}, false
}

// Parent returns the parent of pid's newest incarnation. It is the exact
// parent incarnation (even if it exited since), never a newer process that
// reused the parent's pid.
func (s *Store) Parent(pid int) (auditevent.Process, bool) {
	if e := s.procs.pid(pid); e != nil {
		if par := s.parentOf(e); par != nil {
			return par.p, true
		}
	}
	return auditevent.Process{}, false
}

// Ancestry returns pid's ancestors, parent first, at most min(max,
// MaxAncestry) of them. The walk stops at an unknown parent or a loop.
func (s *Store) Ancestry(pid int, max int) []auditevent.Process {
	return s.AppendAncestry(nil, pid, max)
}

// AppendAncestry appends what Ancestry returns to dst and returns the
// extended slice (nil when dst is nil and pid has no known ancestor). A
// caller that reuses dst allocates nothing once it is large enough.
func (s *Store) AppendAncestry(dst []auditevent.Process, pid int, max int) []auditevent.Process {
	max = min(max, MaxAncestry)
	e := s.procs.pid(pid)
	if e == nil || max <= 0 {
		return dst
	}
	// The chain is collected first and copied out once: with a nil dst,
	// one allocation of the right size per alert.
	var chain [MaxAncestry]*proc
	n, start := 0, e.id
walk:
	for n < max {
		par := s.parentOf(e)
		if par == nil || par.id == start {
			break
		}
		for _, q := range chain[:n] {
			if q.id == par.id {
				break walk
			}
		}
		chain[n] = par
		n++
		e = par
	}
	if n == 0 {
		return dst
	}
	dst = slices.Grow(dst, n)
	for _, q := range chain[:n] {
		dst = append(dst, q.p)
	}
	return dst
}

// ContainerID returns the container runtime id of pid ("" when none or
// unknown). Forked children inherit their parent's.
func (s *Store) ContainerID(pid int) string {
	if e := s.procs.pid(pid); e != nil {
		return e.container
	}
	return ""
}

// Maintain drops expired entries of every table: exited processes after
// ProcessTTL, file writes after FileTTL, values not seen for SeenTTL. now
// must be on the events' clock (wall time live, the newest event time in
// a replay). Each call costs O(expired entries), plus the configuration
// reads still pending (ReadConfigs).
func (s *Store) Maintain(now time.Time) {
	s.ReadConfigs()
	nowMs := now.UnixMilli()
	ttl := s.cfg.ProcessTTL.Milliseconds()
	for el := s.procs.exits.Front(); el != nil; el = s.procs.exits.Front() {
		e := el.Value.(*proc)
		if e.exitMilli+ttl > nowMs {
			break
		}
		s.removeProc(e, riTTL)
	}
	s.expireFiles(nowMs)
	s.expireSeen(nowMs)
	s.updateGauges()
}

// Stats counts the entries of each table.
type Stats struct {
	Processes, ExitedProcesses, Files, Seen int
}

// Stats returns the table sizes.
func (s *Store) Stats() Stats {
	return Stats{
		Processes: len(s.procs.byID), ExitedProcesses: s.procs.exits.Len(),
		Files: s.files.n, Seen: len(s.seen.m),
	}
}
