package correlate

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"
	"golang.org/x/sys/unix"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/modfile"
	"github.com/auditlkm/auditlkm/internal/toolargs"
)

// Bounds of the work one module load event may cause.
const (
	// maxConfigScan bounds the module configuration writes examined per
	// load (the newest within LinkWindow).
	maxConfigScan = 64
	// maxConfigRereads bounds the configuration files re-read per load.
	maxConfigRereads = 16
	// MaxConfigLinks bounds the configuration writes one load links.
	MaxConfigLinks = 8
	// maxLoaderNames bounds the module names a load is known by (its own
	// and those its modprobe ancestors asked for).
	maxLoaderNames = 8
	// loaderAncestors is how far up a load looks for the modprobe that
	// asked for it (modprobe, then sh -c for an install command, then
	// insmod).
	loaderAncestors = 4
)

// How a load's module file was found (ModuleLoad.FileSource).
const (
	FileFromArgv   = "argv"    // a module file argument of the loading process (insmod)
	FileFromOpen   = "open"    // the loading process's earlier open of a module file
	FileFromProcFD = "proc-fd" // /proc/<pid>/fd/<a0> of finit_module, read live
	// FileFromIMA: the kernel's own INTEGRITY_RULE record of the event, which
	// IMA writes for a file finit_module read when its policy has a rule
	// "audit func=MODULE_CHECK": the file the kernel read, whatever the
	// loader says or does afterwards (it may exit at once).
	FileFromIMA = "ima"
)

// ModuleLoad is what the store resolved about an init_module or
// finit_module event.
type ModuleLoad struct {
	Serial uint32
	At     time.Time
	// Name is the KERN_MODULE name, else the name derived from File
	// (NameFromFile); "" when neither is known.
	Name         string
	NameFromFile bool
	// File is the module file, cleaned; "" when unknown (init_module from
	// a buffer read elsewhere, or no argv, open or /proc to tell).
	File       string
	FileSource string
	Dev        string // from the open, when FileSource is FileFromOpen
	Inode      uint64
	// Drop is the last recorded write of File within LinkWindow before
	// the load; nil when none. DropBySameProcess says the writer is the
	// loading process itself (same pid, start and executable).
	Drop              *FileWrite
	DropBySameProcess bool
	// Configs are the module configuration writes within LinkWindow
	// before the load that name its module (or its file), newest first,
	// at most MaxConfigLinks.
	Configs []ConfigLink
	// FileInfo is what the module file said about itself when the load
	// was observed (Config.ReadModuleFiles); nil when it was not read.
	// It may be shared with later loads of the same file: read only.
	// FileErr says why it was not read, or read only in part (FileInfo
	// then holds the size and identity).
	FileInfo *modfile.Info
	FileErr  string
	// FileMismatch lists where the file read disagrees with the load's
	// records (another inode than the one opened).
	FileMismatch []string
	// Repeat: the same process already made a load of the same file or
	// module that linked the same writes (insmod tries finit_module, then
	// init_module): detections raise their linked alert once.
	Repeat bool
	// Meta is the module file's own metadata read at load time (live,
	// within the /proc read budget); HasMeta says it was read.
	Meta    FileMeta
	HasMeta bool
	// KernelHash is the hash of the file the kernel read, "algo:hex" as
	// IMA's INTEGRITY_RULE record gives it (FileFromIMA); "" otherwise.
	KernelHash string
	// FileUnknown says why a live finit_module load that names its file
	// nowhere else (argv, an audited open) has none: its fd was not read
	// (the read budget was spent) or told nothing (the loader had exited,
	// the pid is another process's now). "" otherwise.
	FileUnknown string
}

// ConfigLink is one module configuration write a load is linked to.
type ConfigLink struct {
	Write FileWrite
	// Module is the name (or file) that matched; Match says how:
	// "names" (the file names the module), "install-file" (an install
	// command names the loaded file) or "file-name" (the configuration
	// file is named after the module, the only match a replay can make
	// since it cannot read the files).
	Module, Match string
}

// SeenValue is one value of the first-seen history.
type SeenValue struct{ Kind, Value string }

// LinkWindow returns how far back a load is linked to writes.
func (s *Store) LinkWindow() time.Duration { return s.cfg.LinkWindow }

func (s *Store) live() bool { return s.cfg.ProcRoot != "" }

// ModuleFileArg returns the module file a command line names, made
// absolute against cwd and cleaned; "" when it names none. For a kmod tool
// it is what the tool's own grammar (internal/toolargs) says it loads:
// insmod's file, or modprobe's module when that is a path or a module
// file name; never an option's value or a module parameter, and nothing
// for a run that loads nothing. For another program (a custom loader) it
// is the first argument after argv[0] that names a module file and is not
// an option. Detections (rules) and the correlation of loads both use it.
func ModuleFileArg(exe, comm string, args []string, cwd string) string {
	var cand []string
	if k := toolargs.ParseKmod(exe, comm, args); k.Op != toolargs.NotKmod {
		if !k.Loads() || len(k.Modules) == 0 {
			return ""
		}
		m := k.Modules[0]
		if k.Tool != "insmod" && !strings.Contains(m, "/") && !isModuleName(m) {
			return ""
		}
		cand = k.Modules[:1]
	} else {
		for i, a := range args {
			if i > 0 && !strings.HasPrefix(a, "-") && isModuleName(a) {
				cand = []string{a}
				break
			}
		}
	}
	if len(cand) == 0 || cand[0] == "" {
		return ""
	}
	a := cand[0]
	if !strings.HasPrefix(a, "/") {
		if !strings.HasPrefix(cwd, "/") {
			return ""
		}
		return path.Join(cwd, a)
	}
	return path.Clean(a)
}

// observeLoad resolves a module load event and marks its module name and
// file as seen.
func (s *Store) observeLoad(e *proc, ev *auditevent.Event, at int64) *ModuleLoad {
	sc := &ev.Syscall
	ml := &ModuleLoad{Serial: ev.Serial, At: time.UnixMilli(at)}
	if ev.HasModule && ev.Module != "" {
		ml.Name = ev.Module
	}
	cwd := e.p.Cwd
	if ev.HasCwd {
		cwd = ev.Cwd
	}
	var argFile, fdPath string
	fdChecked := false // readFD found the loader alive and holding its fd
	if argFile = ModuleFileArg(e.p.Exe, e.p.Comm, e.p.Args, cwd); argFile == "" && !slices.Equal(e.p.Args, ev.Args()) {
		argFile = ModuleFileArg(ev.Syscall.Exe, ev.Syscall.Comm, ev.Args(), cwd)
	}
	imaFile, imaHash := imaModuleFile(ev)
	switch {
	case imaFile != "":
		ml.File, ml.FileSource, ml.KernelHash = imaFile, FileFromIMA, imaHash
		if argFile != "" && argFile != imaFile {
			ml.FileMismatch = append(ml.FileMismatch, "the loader's argv names "+strconv.Quote(argFile)+
				", the kernel read "+strconv.Quote(imaFile)+" (IMA)")
		}
	case argFile != "":
		ml.File, ml.FileSource = argFile, FileFromArgv
	case e.opened != "" && e.openedMilli <= at:
		ml.File, ml.FileSource, ml.Dev, ml.Inode = e.opened, FileFromOpen, e.openedDev, e.openedInode
	case sc.Name == "finit_module" && sc.Args[0] < 1<<20:
		f, link, why := s.readFD(e, int(sc.Args[0]), at)
		if f != "" {
			ml.File, ml.FileSource, fdPath = f, FileFromProcFD, link
			fdChecked = true
		}
		ml.FileUnknown = why
	}
	if ml.FileSource != FileFromProcFD && ml.FileSource != FileFromIMA && ml.File != "" && sc.Name == "finit_module" && sc.Args[0] < 1<<20 &&
		s.cfg.ReadModuleFiles {
		// Arguments and opens are what the process says or did before;
		// the fd finit_module was given is what the kernel loaded. While
		// the loader lives, the fd wins and a disagreement is noted (a
		// loader that rewrote its proctitle to name an innocent module).
		f, link, _ := s.readFD(e, int(sc.Args[0]), at)
		fdChecked = f != "" // not read above: the file came from elsewhere
		if f != "" && strings.TrimSuffix(f, " (deleted)") != ml.File {
			if s.sameFile(link, e.p.PID, ml.File, f) {
				// One file under two names: /lib/modules through merged
				// /usr's lib -> usr/lib is /usr/lib/modules (Debian 12).
				// Keep the name the loader gave, read what it loaded.
				fdPath = link
			} else {
				ml.FileMismatch = append(ml.FileMismatch, "the loader's "+ml.FileSource+" names "+strconv.Quote(ml.File)+
					", the fd it gave finit_module is "+strconv.Quote(f))
				ml.File, ml.FileSource, ml.Dev, ml.Inode, fdPath = f, FileFromProcFD, "", 0, link
			}
		}
	}
	if ml.File == "" && ml.Name != "" && s.live() && s.cfg.ReadModuleFiles && s.cfg.ModulesRoot != "" && modprobeUsesModulesDep(e.p.Args) {
		// modprobe (a person's or the kernel's autoload) found the file
		// in the running kernel's modules.dep: so does the store.
		if s.modDep.path == "" {
			s.modDep.path = modulesDepPath(s.cfg.ModulesRoot)
		}
		if f := s.modDep.lookup(ml.Name); f != "" {
			ml.File, ml.FileSource = f, FileFromModulesDep
		}
	}
	s.readModuleFile(ml, fdPath)
	if ml.Name == "" && ml.File != "" {
		ml.Name, ml.NameFromFile = ModuleNameFromFile(ml.File), true
	}
	if s.live() && ml.File != "" && s.spendBudget() {
		// The fd finit_module was given is stat'ed whatever its name (an
		// unlinked module's link reads "... (deleted)"; a module need not
		// end in .ko); a path only when it names a module file.
		fd := -1
		if sc.Name == "finit_module" && sc.Args[0] < 1<<20 {
			// readFD checked the process's start time a moment ago (a
			// storm of loads would read /proc/PID/stat twice per event).
			if fdChecked {
				fd = int(sc.Args[0])
			} else if st, err := readStartTicks(s.cfg.ProcRoot, e.p.PID); err == nil && (e.startTicks == 0 || st == e.startTicks) {
				fd = int(sc.Args[0]) // the same process still holds it
			}
		}
		if fd >= 0 || isModuleName(ml.File) {
			ml.Meta, ml.HasMeta = s.statModule(e.p.PID, fd, ml.File)
		}
	}
	when := ml.At
	if ml.Name != "" {
		s.MarkSeen(SeenModule, ml.Name, when)
	}
	if ml.File != "" {
		s.MarkSeen(SeenKoPath, ml.File, when)
	}
	s.linkDrop(ml, e, at)
	s.linkConfigs(ml, e, at)
	if ml.Drop != nil || len(ml.Configs) > 0 {
		key := ml.File + "\x00" + ml.Name
		if e.linkedLoad == key {
			ml.Repeat = true
		}
		e.linkedLoad = key
	}
	return ml
}

// sameFile reports whether the open file behind link (/proc/<pid>/fd/<n>,
// which read as target) is the file name resolves to in that process's
// root: the same device and inode, whatever symbolic links lie on either
// path. A loader that exited since its fd was read (insmod exits right
// after finit_module) leaves target and name to compare as this daemon
// sees them; a deleted or different target is never the same file.
func (s *Store) sameFile(link string, pid int, name, target string) bool {
	if !strings.HasPrefix(name, "/") {
		return false
	}
	if fi, err := os.Stat(link); err == nil {
		ni, err := os.Stat(filepath.Join(s.cfg.ProcRoot, strconv.Itoa(pid), "root", name))
		return err == nil && os.SameFile(fi, ni)
	}
	if !strings.HasPrefix(target, "/") || strings.HasSuffix(target, " (deleted)") {
		return false
	}
	ti, err := os.Stat(target)
	if err != nil {
		return false
	}
	ni, err := os.Stat(name)
	return err == nil && os.SameFile(ti, ni)
}

// fdGone: the loader's /proc/<pid>/fd/<fd> or stat could not be read.
const fdGone = "its fd was gone when read: the loader had exited, or closed it"

// readFD resolves /proc/<pid>/fd/<fd> of a live loader, within the read
// budget, if /proc still shows the same process. It returns the link's
// target and the link itself, or, live, why it could not (for
// ModuleLoad.FileUnknown).
func (s *Store) readFD(e *proc, fd int, at int64) (target, link, why string) {
	if !s.live() {
		return "", "", ""
	}
	if !s.spendBudget() {
		return "", "", fdBudgetSpent[s.class]
	}
	s.m.procReads.Inc()
	root := filepath.Join(s.cfg.ProcRoot, strconv.Itoa(e.p.PID))
	name := "fd/" + strconv.Itoa(fd)
	link = filepath.Join(root, name)
	if d := s.dirs.find(e.p.PID, e.startTicks, at, s.startMilli); d != nil {
		// The loader's own directory (loaderDirs): no pid check.
		switch target, ok, gone := s.dirs.readlink(d, name); {
		case ok && strings.HasPrefix(target, "/"):
			return target, link, ""
		case ok:
			return "", "", fdNamesNoFile(target)
		case gone:
			return "", "", fdGone
		}
		// Not there, or too long for the buffer: through the path.
	}
	target, err := os.Readlink(link)
	if err != nil {
		return "", "", fdGone
	}
	if !strings.HasPrefix(target, "/") {
		return "", "", fdNamesNoFile(target)
	}
	// From the process's second load on, its start time is read through
	// its directory, which is then kept (loaderDirs).
	dir, stat := unix.AT_FDCWD, filepath.Join(root, "stat")
	if e.fdReads > 0 {
		if dir = s.dirs.openDir(s.cfg.ProcRoot, e.p.PID); dir >= 0 {
			stat = "stat"
		}
	}
	st, err := readStartTicksAt(dir, stat)
	start := s.startMilli(st)
	switch {
	case err != nil:
		why = fdGone
	case start == 0:
		why = "its fd was not read: the loader's start time is unknown"
	case e.startTicks != 0 && st != e.startTicks, start > at+startSlackMilli:
		why = "its fd was not read: the pid is another process's now"
	}
	if why != "" {
		discard(dir)
		return "", "", why
	}
	e.fdReads++
	s.dirs.keep(dir, e.p.PID, st)
	return target, link, ""
}

// fdNamesNoFile: the loader's fd is a pipe, a socket, an anonymous inode.
func fdNamesNoFile(target string) string { return "its fd names no file: " + strconv.Quote(target) }

// sameImage reports whether the writer recorded in w is the process e.
func sameImage(w *FileWrite, e *proc) bool {
	return w.Process.PID == e.p.PID && w.Process.Exe == e.p.Exe &&
		(w.Process.StartMilli == 0 || e.p.StartMilli == 0 ||
			abs64(w.Process.StartMilli-e.p.StartMilli) <= startSlackMilli)
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func (s *Store) inWindow(w *FileWrite, at int64) bool {
	wm := w.At.UnixMilli()
	return wm <= at+startSlackMilli && at-wm <= s.cfg.LinkWindow.Milliseconds()
}

func (s *Store) linkDrop(ml *ModuleLoad, e *proc, at int64) {
	if ml.File == "" {
		return
	}
	var w *FileWrite
	if fe := s.files.byPath[strings.TrimSuffix(ml.File, " (deleted)")]; fe != nil {
		w = &fe.w
	} else if ml.Inode != 0 {
		if fe := s.files.byInode[inodeKey{ml.Dev, ml.Inode}]; fe != nil {
			w = &fe.w
		}
	}
	if w == nil || w.Kind != FileModule || !s.inWindow(w, at) {
		return
	}
	c := *w
	ml.Drop, ml.DropBySameProcess = &c, sameImage(w, e)
}

// loaderNames lists the module names a load is known by: its own, and
// the modules its modprobe ancestors (or itself, for modprobe) were asked
// to load.
func (s *Store) loaderNames(ml *ModuleLoad, e *proc) []string {
	var out []string
	add := func(n string) {
		if n = NormalizeModuleName(n); n == "" || len(out) >= maxLoaderNames {
			return
		}
		for _, x := range out {
			if x == n {
				return
			}
		}
		out = append(out, n)
	}
	add(ml.Name)
	for i, p := 0, e; p != nil && i <= loaderAncestors; i, p = i+1, s.parentOf(p) {
		if p.p.Name() != "modprobe" {
			continue
		}
		if k := toolargs.ParseKmod(p.p.Exe, p.p.Comm, p.p.Args); k.Tool == "modprobe" && k.Loads() {
			for _, m := range k.Modules {
				add(m)
			}
		}
	}
	return out
}

func (s *Store) linkConfigs(ml *ModuleLoad, e *proc, at int64) {
	names := s.loaderNames(ml, e)
	if len(names) == 0 && ml.File == "" {
		return
	}
	s.ReadConfigs() // what was written just before the load, before it is re-read
	rereads, scanned := 0, 0
	for fe := s.files.newest; fe != nil && scanned < maxConfigScan && len(ml.Configs) < MaxConfigLinks; fe = fe.prev {
		w := &fe.w
		if at-w.At.UnixMilli() > s.cfg.LinkWindow.Milliseconds() {
			break // older writes are further to the front
		}
		if w.Kind != FileModuleConfig || !s.inWindow(w, at) {
			continue
		}
		scanned++
		if w.Path != "" && s.live() && rereads < maxConfigRereads {
			rereads++
			s.readConfig(w) // the file is complete by now
		}
		if mod, how := configMatch(w, names, ml.File); how != "" {
			ml.Configs = append(ml.Configs, ConfigLink{Write: *w, Module: mod, Match: how})
		}
	}
}

func configMatch(w *FileWrite, names []string, file string) (string, string) {
	for _, n := range names {
		for _, x := range w.Names {
			if x == n {
				return n, "names"
			}
		}
	}
	if file != "" {
		for _, f := range w.Files {
			if f == file {
				return f, "install-file"
			}
		}
	}
	base := NormalizeModuleName(strings.TrimSuffix(path.Base(w.Path), ".conf"))
	for _, n := range names {
		if base != "" && base == n {
			return n, "file-name"
		}
	}
	return "", ""
}

// readConfig reads a module configuration file and keeps the modules and
// files it names in w. A file that is gone or unreadable keeps what an
// earlier read found.
func (s *Store) readConfig(w *FileWrite) {
	s.m.configReads.Inc()
	f, err := os.Open(w.Path)
	if err != nil {
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return // never block on a fifo or read a device
	}
	buf := make([]byte, maxConfigBytes)
	n, _ := readFull(f, buf)
	if n == 0 {
		return
	}
	w.Names, w.Files = ParseModuleConfig(w.Path, buf[:n])
}

func readFull(f *os.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// imaModuleFile returns the file an INTEGRITY_RULE record of ev names
// (IMA's audit action: file=... hash="algo:hex"), cleaned, and its hash
// when well formed; "" when there is none or its name is not an absolute
// path.
func imaModuleFile(ev *auditevent.Event) (file, hash string) {
	for i := range ev.Records {
		r := &ev.Records[i]
		if r.Type != auparse.AUDIT_INTEGRITY_RULE {
			continue
		}
		f, ok := auditevent.Lookup(r.Body(), "file")
		if !ok {
			continue
		}
		name, present, hexErr := auditevent.Untrusted(f)
		if !present || hexErr || !strings.HasPrefix(name, "/") {
			continue
		}
		if h, ok := auditevent.Lookup(r.Body(), "hash"); ok && validIMAHash(string(h.Value)) {
			hash = string(h.Value)
		}
		return path.Clean(name), hash
	}
	return "", ""
}

// validIMAHash reports whether h is "algo:hex": a hash algorithm name the
// kernel knows (lower case letters, digits, '-') and a digest of 20 to 64
// bytes in lower case hex.
func validIMAHash(h string) bool {
	algo, digest, ok := strings.Cut(h, ":")
	if !ok || algo == "" || len(algo) > 32 || len(digest) < 40 || len(digest) > 128 || len(digest)%2 != 0 {
		return false
	}
	for _, c := range algo {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	for _, c := range digest {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
