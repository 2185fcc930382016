package correlate

import (
	"container/list"
	"strings"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Bounds of the process table's walks and copies.
const (
	// MaxAncestry bounds Ancestry whatever the caller asks for.
	MaxAncestry = 64
	// touchAncestors is how many ancestors an event keeps warm in the LRU,
	// so long-lived parents (sshd, a login shell) outlive busy children.
	touchAncestors = 8
	// maxStoredArgs and maxStoredArgBytes bound the argv kept per process.
	maxStoredArgs     = 256
	maxStoredArgBytes = 16 << 10
	// startSlackMilli absorbs the difference between start times taken
	// from events and from /proc (btime has one-second resolution).
	startSlackMilli = 2000
	// lateSlackMilli is how long after an exit an event for the same pid
	// and parent is still taken as a late event of the exited process.
	lateSlackMilli = 1000
)

// proc is one process incarnation. Its identity is (pid, start); id is a
// table-local number that names the incarnation unambiguously even if two
// had the same start millisecond.
type proc struct {
	id         uint64
	p          auditevent.Process
	startTicks uint64 // from /proc; 0 when the start came from an event
	parentID   uint64 // incarnation of the parent; 0 when unknown
	// parentLooked: /proc was already asked for the unknown parent.
	parentLooked bool
	container    string
	exited       bool
	exitMilli    int64
	lru          *list.Element // in procTable.lru; front is least recently used
	exitEl       *list.Element // in procTable.exits while exited
	// The last module file this process opened (for finit_module, which
	// only has the fd), and when.
	opened, openedDev string
	openedInode       uint64
	openedMilli       int64
	// linkedLoad names the last load of this process that was linked to
	// earlier writes (file NUL name), so a retry is not linked twice.
	linkedLoad string
	// fdReads counts the loads whose fd was read through the path: the
	// second opens the process's /proc directory (loaderDirs).
	fdReads uint32
	size    int64 // procSize when last accounted in procTable.bytes
}

type procTable struct {
	byPID  map[int]*proc    // the newest incarnation of each pid
	byID   map[uint64]*proc // every incarnation held
	lru    list.List
	exits  list.List // exited incarnations in exit order
	nextID uint64
	bytes  int64 // sum of the entries' size
	// moves counts the changes of lru (inserts, removals, moves); with
	// touched it lets a storm from one process touch its chain once.
	moves   uint64
	touched touchMark

	// recent remembers the last two answers of byPID (pid, entry or nil):
	// an event asks for its process and its parent several times each.
	// insertProc and removeProc forget them.
	recent     [2]pidEntry
	recentNext int
}

type pidEntry struct {
	pid   int
	e     *proc
	valid bool
}

// pid returns byPID[pid], from recent when it was asked for last.
func (t *procTable) pid(pid int) *proc {
	for i := range t.recent {
		if r := &t.recent[i]; r.valid && r.pid == pid {
			return r.e
		}
	}
	e := t.byPID[pid]
	t.recent[t.recentNext] = pidEntry{pid: pid, e: e, valid: true}
	t.recentNext ^= 1
	return e
}

// forget drops what recent says of pid.
func (t *procTable) forget(pid int) {
	for i := range t.recent {
		if t.recent[i].pid == pid {
			t.recent[i] = pidEntry{}
		}
	}
}

func (t *procTable) init() {
	t.recent = [2]pidEntry{}
	t.byPID = make(map[int]*proc)
	t.byID = make(map[uint64]*proc)
	t.lru.Init()
	t.touched = touchMark{}
	t.exits.Init()
	t.bytes = 0
}

// insert adds a new incarnation as the pid's newest; the previous one, if
// any, stays reachable by id (for its children) and is marked exited so
// that its TTL runs.
func (s *Store) insertProc(e *proc, at int64) {
	t := &s.procs
	for len(t.byID) >= s.cfg.MaxProcesses {
		s.removeProc(s.procVictim(nil), riCapacity)
	}
	t.nextID++
	e.id = t.nextID
	if old := t.byPID[e.p.PID]; old != nil && !old.exited {
		s.markExited(old, at)
	}
	t.byPID[e.p.PID] = e
	t.forget(e.p.PID)
	t.byID[e.id] = e
	e.lru = t.lru.PushBack(e)
	t.moves++
	e.size = procSize(e)
	t.bytes += e.size
}

// procOverhead estimates what an entry costs besides its strings: the
// struct, its two map slots and list elements.
const procOverhead = 512

// procSize estimates the bytes e holds.
func procSize(e *proc) int64 {
	n := procOverhead + len(e.p.Exe) + len(e.p.Comm) + len(e.p.Cwd) + len(e.container) +
		len(e.opened) + len(e.openedDev) + len(e.linkedLoad)
	for _, a := range e.p.Args {
		n += 16 + len(a)
	}
	return int64(n)
}

// resizeProc accounts for a change of e's strings.
func (s *Store) resizeProc(e *proc) {
	if e == nil || s.procs.byID[e.id] != e {
		return
	}
	n := procSize(e)
	s.procs.bytes += n - e.size
	e.size = n
}

// procVictim picks the entry to evict: the process that exited first,
// else the least recently used one; never keep (the event's own process).
func (s *Store) procVictim(keep *proc) *proc {
	t := &s.procs
	for _, l := range []*list.List{&t.exits, &t.lru} {
		for el := l.Front(); el != nil; el = el.Next() {
			if e := el.Value.(*proc); e != keep {
				return e
			}
		}
	}
	return nil
}

// fitProcs evicts processes, exited and oldest first, until the table is
// within its byte budget (MaxProcessBytes). keep, the process of the
// event being handled, stays.
func (s *Store) fitProcs(keep *proc) {
	for n := 0; s.procs.bytes > s.cfg.MaxProcessBytes && n < maxEvictPerCall; n++ {
		v := s.procVictim(keep)
		if v == nil {
			return
		}
		s.removeProc(v, riBytes)
	}
}

// maxEvictPerCall bounds the evictions of one fit (each frees at least
// procOverhead bytes, so a budget overrun by one event is always undone).
const maxEvictPerCall = 1 << 16

// maxAncestorArgBytes bounds the argv kept for a process once it is known
// to be a parent: an ancestor's argv only shows in an alert's ancestry,
// and a process tree of long command lines must not multiply them.
const maxAncestorArgBytes = 1 << 10

// shortenAncestor cuts par's argv to maxAncestorArgBytes.
func (s *Store) shortenAncestor(par *proc) {
	total := 0
	for _, a := range par.p.Args {
		total += len(a)
	}
	if total <= maxAncestorArgBytes {
		return
	}
	par.p.Args = boundArgsTo(par.p.Args, maxAncestorArgBytes)
	s.resizeProc(par)
}

func (s *Store) removeProc(e *proc, reason int) {
	t := &s.procs
	delete(t.byID, e.id)
	if t.byPID[e.p.PID] == e {
		delete(t.byPID, e.p.PID)
		t.forget(e.p.PID)
	}
	t.lru.Remove(e.lru)
	t.moves++
	if e.exitEl != nil {
		t.exits.Remove(e.exitEl)
		e.exitEl = nil
	}
	t.bytes -= e.size
	s.m.evicted(tiProcesses, reason)
}

func (s *Store) markExited(e *proc, at int64) {
	if e.exited {
		return
	}
	e.exited, e.exitMilli = true, at
	e.exitEl = s.procs.exits.PushBack(e)
}

func (s *Store) revive(e *proc) {
	if !e.exited {
		return
	}
	e.exited, e.exitMilli = false, 0
	s.procs.exits.Remove(e.exitEl)
	e.exitEl = nil
}

// touchMark is what a touch of a chain depended on: the process, its
// parent link, and the table's moves after the touch.
type touchMark struct {
	e        *proc
	parentID uint64
	ppid     int
	moves    uint64
}

// touch marks e and a few of its ancestors as recently used. When e was
// the last one touched and nothing in the table moved since (a process
// calling one syscall in a loop), its chain is already the most recent.
func (s *Store) touch(e *proc) {
	t := &s.procs
	if e == nil || t.touched == (touchMark{e, e.parentID, e.p.PPID, t.moves}) {
		return
	}
	s.touchChain(e)
	t.touched = touchMark{e, e.parentID, e.p.PPID, t.moves}
}

func (s *Store) touchChain(e *proc) {
	var seen [touchAncestors + 1]uint64
	for i := 0; e != nil && i <= touchAncestors; i++ {
		for _, id := range seen[:i] {
			if id == e.id {
				return
			}
		}
		seen[i] = e.id
		s.procs.lru.MoveToBack(e.lru)
		s.procs.moves++
		e = s.parentOf(e)
	}
}

// plausibleParent reports whether par can be child's parent: it started
// before the child and had not exited before the child started.
func plausibleParent(par, child *proc) bool {
	if par.p.PID != child.p.PPID || par == child {
		return false
	}
	if par.p.StartMilli > child.p.StartMilli+startSlackMilli {
		return false
	}
	return !par.exited || par.exitMilli+startSlackMilli >= child.p.StartMilli
}

// parentOf resolves e's parent without reading /proc. A parent
// incarnation that is no longer held is never replaced by a newer process
// that reused its pid.
func (s *Store) parentOf(e *proc) *proc {
	if e.parentID != 0 {
		return s.procs.byID[e.parentID] // nil when evicted: never guess
	}
	if par := s.procs.pid(e.p.PPID); par != nil && plausibleParent(par, e) {
		return par
	}
	return nil
}

// boundArgs copies argv within maxStoredArgs and maxStoredArgBytes.
func boundArgs(args []string) []string { return boundArgsTo(args, maxStoredArgBytes) }

// boundArgsTo copies argv within maxStoredArgs and limit bytes. Every
// string is copied, so the table never pins the record text (and the
// arena chunk) an argument was cut from; the copies share one allocation.
func boundArgsTo(args []string, limit int) []string {
	if len(args) == 0 {
		return nil
	}
	n, total, k := min(len(args), maxStoredArgs), 0, 0
	for _, a := range args[:n] {
		total += min(len(a), max(0, limit-total))
		k++
		if total >= limit {
			break
		}
	}
	var b strings.Builder
	b.Grow(total)
	for _, a := range args[:k] {
		b.WriteString(a[:min(len(a), total-b.Len())])
	}
	all := b.String()
	out := make([]string, k)
	off := 0
	for i, a := range args[:k] {
		l := min(len(a), total-off)
		out[i] = all[off : off+l]
		off += l
	}
	return out
}

// argsWithin reports whether boundArgsTo(args, limit) would return args
// unchanged (same strings): non-empty, at most maxStoredArgs, and the
// limit reached, if at all, by the last argument only.
func argsWithin(args []string, limit int) bool {
	if len(args) == 0 || len(args) > maxStoredArgs {
		return false
	}
	total := 0
	for _, a := range args[:len(args)-1] {
		total += len(a)
	}
	return total < limit && total+len(args[len(args)-1]) <= limit
}
