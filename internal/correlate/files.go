package correlate

import (
	"path"
	"strings"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// FileKind says why a file write was recorded.
type FileKind uint8

const (
	// FileModule is a kernel module object (*.ko, *.ko.xz, *.ko.zst, *.ko.gz).
	FileModule FileKind = iota + 1
	// FileModuleConfig is module configuration: a file in a modprobe.d or
	// modules-load.d directory, /etc/modprobe.conf or /etc/modules.
	FileModuleConfig
)

func (k FileKind) String() string {
	switch k {
	case FileModule:
		return "module"
	case FileModuleConfig:
		return "module_config"
	}
	return "unknown"
}

// MaxConfigWrites bounds what one ConfigWrites call returns.
const MaxConfigWrites = 1024

// FileWrite is the provenance of a file: the last recorded write.
type FileWrite struct {
	Path        string // cleaned absolute path; the raw name when unresolved
	Dev         string // "08:01" as the PATH record has it; "" when unknown
	Inode       uint64 // 0 when unknown
	Kind        FileKind
	Process     auditevent.Process // the writer, as the table knew it then
	ContainerID string
	At          time.Time // event time
	Serial      uint32    // event serial
	Syscall     string
	// Names and Files are, for module configuration, the module names and
	// module files the file named when it was last read (live stores
	// only; see ParseModuleConfig).
	Names, Files []string
}

type inodeKey struct {
	dev   string
	inode uint64
}

type fileEntry struct {
	w          FileWrite
	prev, next *fileEntry // in fileTable's write order
	size       int64
	// readPending: a module configuration file written by this entry's
	// event, not read yet (see fileTable.pending).
	readPending bool
}

// fileOverhead estimates what a file entry costs besides its strings.
const fileOverhead = 512

// fileSize estimates the bytes w holds.
func fileSize(w *FileWrite) int64 {
	n := fileOverhead + len(w.Path) + len(w.Dev) + len(w.ContainerID) + len(w.Syscall) +
		len(w.Process.Exe) + len(w.Process.Comm) + len(w.Process.Cwd)
	for _, l := range [][]string{w.Process.Args, w.Names, w.Files} {
		for _, a := range l {
			n += 16 + len(a)
		}
	}
	return int64(n)
}

type fileTable struct {
	byPath  map[string]*fileEntry
	byInode map[inodeKey]*fileEntry
	// The entries in write order, linked through the entries themselves
	// (no list element allocated per write): oldest is the first.
	oldest, newest *fileEntry
	n              int
	bytes          int64 // sum of the entries' size
	// pending are the configuration writes whose file is read by the
	// next ReadConfigs (the end of the batch of records they came in),
	// at most maxPendingReads. A later event that deletes or renames the
	// file away first (a storm of short-lived files) spares the read:
	// the kernel has already removed it, an open now could only fail.
	pending []*fileEntry
}

// maxPendingReads bounds fileTable.pending; a write past it is read at
// once.
const maxPendingReads = 1024

func (t *fileTable) init() {
	t.byPath = make(map[string]*fileEntry)
	t.byInode = make(map[inodeKey]*fileEntry)
	t.oldest, t.newest, t.n = nil, nil, 0
	t.bytes = 0
	clear(t.pending)
	t.pending = t.pending[:0]
}

// link appends e, the newest write.
func (t *fileTable) link(e *fileEntry) {
	e.prev, e.next = t.newest, nil
	if t.newest != nil {
		t.newest.next = e
	} else {
		t.oldest = e
	}
	t.newest = e
	t.n++
}

// unlink removes e from the write order.
func (t *fileTable) unlink(e *fileEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		t.oldest = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		t.newest = e.prev
	}
	e.prev, e.next = nil, nil
	t.n--
}

// ModuleSuffix returns the module file suffix p ends in (.ko, .ko.xz,
// .ko.zst or .ko.gz), or "".
func ModuleSuffix(p string) string {
	// Every suffix ends in o, z or t: most names are rejected on their
	// last byte.
	if len(p) < len(".ko") {
		return ""
	}
	switch p[len(p)-1] {
	case 'o', 'z', 't':
	default:
		return ""
	}
	for _, suf := range moduleSuffixes {
		if strings.HasSuffix(p, suf) {
			return suf
		}
	}
	return ""
}

var moduleSuffixes = [...]string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// isModuleName reports whether p names a module file: a module suffix
// after a non-empty name.
func isModuleName(p string) bool {
	suf := ModuleSuffix(p)
	return suf != "" && len(p) > len(suf) && p[len(p)-len(suf)-1] != '/'
}

// parentName is path.Base(path.Dir(p)), the name of p's directory. The
// paths of events are clean (auditevent resolves them): those skip the
// two passes of path.Clean that path.Dir and path.Base make (three
// quarters of a percent of a replay of the heavy corpus).
func parentName(p string) string {
	if strings.Contains(p, "//") || strings.Contains(p, "/.") || (len(p) > 1 && p[len(p)-1] == '/') {
		return path.Base(path.Dir(p))
	}
	dir := "."
	if i := strings.LastIndexByte(p, '/'); i == 0 {
		return "/"
	} else if i > 0 {
		dir = p[:i]
	}
	return dir[strings.LastIndexByte(dir, '/')+1:]
}

// fileKind classifies a path by name.
func fileKind(p string) FileKind {
	if isModuleName(p) {
		return FileModule
	}
	if p == "/etc/modprobe.conf" || p == "/etc/modules" {
		return FileModuleConfig
	}
	switch parentName(p) {
	case "modprobe.d", "modules-load.d":
		return FileModuleConfig
	}
	return 0
}

// Open flags that mean the opener may write (x86_64 and i386 alike).
const (
	oWronly = 0x1
	oRdwr   = 0x2
	oCreat  = 0x40
	oTrunc  = 0x200
)

// writeIntent reports whether a NORMAL (existing) path of this syscall is
// being written.
func writeIntent(sc *auditevent.Syscall) bool {
	var flags uint64
	switch sc.Name {
	case "creat", "truncate":
		return true
	case "open":
		flags = sc.Args[1]
	case "openat":
		flags = sc.Args[2]
	default:
		// openat2 keeps its flags in a struct the record does not show;
		// a new file still shows up as nametype=CREATE.
		return false
	}
	return flags&(oWronly|oRdwr|oCreat|oTrunc) != 0
}

// observeFiles records writes of module files and module configuration:
// PATH records with nametype CREATE (open with O_CREAT of a new file,
// creat, link, symlink, mknod, rename target) or NORMAL under a writing
// open.
func (s *Store) observeFiles(ev *auditevent.Event, actor *proc) {
	sc := &ev.Syscall
	if sc.Success == auditevent.SuccessNo || len(ev.Paths) == 0 {
		return
	}
	opening := sc.Name == "open" || sc.Name == "openat" || sc.Name == "openat2" || sc.Name == "creat"
	var wi, wiKnown bool
	for i := range ev.Paths {
		p := &ev.Paths[i]
		name := p.Resolved
		if name == "" {
			name = p.Name
		}
		kind := fileKind(name)
		if kind == 0 {
			continue
		}
		if p.Nametype == "DELETE" {
			// Unlinked, or renamed away: a read still pending would find
			// nothing there (or a later file, whose write has its own).
			if e := s.files.byPath[name]; e != nil && e.readPending {
				e.readPending = false
				s.m.configReadsSkipped.Inc()
			}
			continue
		}
		if kind == FileModule && opening && actor != nil && p.Resolved != "" && p.Nametype != "PARENT" {
			// Remembered for a later finit_module of this process.
			actor.opened, actor.openedDev, actor.openedInode, actor.openedMilli = p.Resolved, p.Dev, p.Inode, ev.UnixMilli()
		}
		switch p.Nametype {
		case "CREATE":
		case "NORMAL":
			if !wiKnown {
				wi, wiKnown = writeIntent(sc), true
			}
			if !wi {
				continue
			}
		default:
			continue
		}
		w := FileWrite{
			Path: name, Dev: p.Dev, Inode: p.Inode, Kind: kind,
			At: time.UnixMilli(ev.UnixMilli()), Serial: ev.Serial, Syscall: sc.Name,
		}
		owned := false // w.Process.Args are the table's own copies
		if e := s.procs.pid(sc.PID); e != nil {
			w.Process, w.ContainerID, owned = e.p, e.container, true
		} else {
			w.Process = ev.Process()
		}
		readNow := false
		if p.Resolved == "" {
			// Read by its raw name as it is, before it is keyed by inode
			// only: a relative name means nothing alone.
			readNow = kind == FileModuleConfig && w.Path != "" && s.live()
			if readNow {
				s.readConfig(&w)
			}
			w.Path = ""
			if w.Inode == 0 {
				continue
			}
		}
		e := s.recordWrite(w, owned)
		if kind == FileModuleConfig && w.Path != "" && !readNow && s.live() {
			s.deferRead(e) // often still empty then: the load re-reads it
		}
		if kind == FileModule && w.Path != "" {
			s.MarkSeen(SeenKoPath, w.Path, w.At)
		}
	}
}

// recordWrite records w and returns its entry. argsOwned says
// w.Process.Args are already the process table's copies (never modified,
// pinning no record text): when they are within maxAncestorArgBytes the
// entry shares them.
func (s *Store) recordWrite(w FileWrite, argsOwned bool) *fileEntry {
	t := &s.files
	if w.Path != "" {
		if old := t.byPath[w.Path]; old != nil {
			s.dropFile(old)
		}
	}
	ik := inodeKey{w.Dev, w.Inode}
	if w.Inode != 0 {
		if old := t.byInode[ik]; old != nil && old.w.Path == "" {
			s.dropFile(old) // an inode-only entry superseded
		}
	}
	for t.n >= s.cfg.MaxFiles {
		s.dropFile(t.oldest)
		s.m.evicted(tiFiles, riCapacity)
	}
	// w.Path is a PATH record's name or its resolution: a string of its
	// own (auditevent never aliases record text), kept as it is.
	if !argsOwned || !argsWithin(w.Process.Args, maxAncestorArgBytes) {
		w.Process.Args = boundArgsTo(w.Process.Args, maxAncestorArgBytes)
	}
	e := &fileEntry{w: w, size: fileSize(&w)}
	for t.n > 0 && t.bytes+e.size > s.cfg.MaxFileBytes {
		s.dropFile(t.oldest)
		s.m.evicted(tiFiles, riBytes)
	}
	t.bytes += e.size
	t.link(e)
	if w.Path != "" {
		t.byPath[w.Path] = e
	}
	if w.Inode != 0 {
		t.byInode[ik] = e
	}
	return e
}

// deferRead schedules the read of e's configuration file for the next
// ReadConfigs, or reads it now when too many are pending.
func (s *Store) deferRead(e *fileEntry) {
	t := &s.files
	if len(t.pending) >= maxPendingReads {
		s.readEntry(e)
		return
	}
	e.readPending = true
	t.pending = append(t.pending, e)
}

// ReadConfigs reads the module configuration files written by the events
// observed since the last call, except those a later event deleted or
// renamed away: what they name is kept with their write (FileWrite.Names,
// Files). A live daemon calls it after each batch of records; a module
// load, a snapshot and a lookup of the write (WrittenBy) read what is
// pending before they look. Call it from the owner goroutine.
func (s *Store) ReadConfigs() {
	t := &s.files
	for i, e := range t.pending {
		t.pending[i] = nil
		if e.readPending && t.byPath[e.w.Path] == e {
			s.readEntry(e)
		}
		e.readPending = false
	}
	t.pending = t.pending[:0]
}

// readEntry reads e's configuration file and accounts what it learnt in
// the table's bytes.
func (s *Store) readEntry(e *fileEntry) {
	e.readPending = false
	s.readConfig(&e.w)
	if n := fileSize(&e.w); n != e.size {
		s.files.bytes += n - e.size
		e.size = n
	}
}

func (s *Store) dropFile(e *fileEntry) {
	t := &s.files
	if e.w.Path != "" && t.byPath[e.w.Path] == e {
		delete(t.byPath, e.w.Path)
	}
	ik := inodeKey{e.w.Dev, e.w.Inode}
	if e.w.Inode != 0 && t.byInode[ik] == e {
		delete(t.byInode, ik)
	}
	t.unlink(e)
	t.bytes -= e.size
	e.readPending = false
}

func (s *Store) expireFiles(nowMs int64) {
	ttl := s.cfg.FileTTL.Milliseconds()
	for e := s.files.oldest; e != nil; e = s.files.oldest {
		if e.w.At.UnixMilli()+ttl > nowMs {
			break
		}
		s.dropFile(e)
		s.m.evicted(tiFiles, riTTL)
	}
}

// WrittenBy returns the last recorded write of a module file or module
// configuration file at p (cleaned before lookup).
func (s *Store) WrittenBy(p string) (FileWrite, bool) {
	if p == "" {
		return FileWrite{}, false
	}
	if e := s.files.byPath[path.Clean(p)]; e != nil {
		if e.readPending {
			s.readEntry(e)
		}
		return e.w, true
	}
	return FileWrite{}, false
}

// WrittenByInode returns the last recorded write of the file with this
// device ("08:01") and inode, whatever its name.
func (s *Store) WrittenByInode(dev string, inode uint64) (FileWrite, bool) {
	if e := s.files.byInode[inodeKey{dev, inode}]; e != nil && inode != 0 {
		if e.readPending {
			s.readEntry(e)
		}
		return e.w, true
	}
	return FileWrite{}, false
}

// ConfigWrite returns the last recorded write of the module configuration
// file p.
func (s *Store) ConfigWrite(p string) (FileWrite, bool) {
	w, ok := s.WrittenBy(p)
	if !ok || w.Kind != FileModuleConfig {
		return FileWrite{}, false
	}
	return w, true
}

// ConfigWrites returns the module configuration writes at or after since,
// newest first, at most MaxConfigWrites.
func (s *Store) ConfigWrites(since time.Time) []FileWrite {
	s.ReadConfigs()
	var out []FileWrite
	for e := s.files.newest; e != nil && len(out) < MaxConfigWrites; e = e.prev {
		if e.w.At.Before(since) {
			break
		}
		if e.w.Kind == FileModuleConfig {
			out = append(out, e.w)
		}
	}
	return out
}
