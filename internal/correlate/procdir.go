package correlate

import (
	"errors"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// loaderDirSlots is how many loaders' /proc/<pid> directories the store
// keeps open (loaderDirs).
const loaderDirSlots = 4

// loaderDirs keeps the /proc/<pid> directories of the processes that made
// the last loads open, so that the next load of one of them resolves its
// fd with one readlinkat(2) on the directory.
//
// Why: a load's fd is read from /proc/<pid>/fd/<n>, and /proc/<pid>/stat
// is read after it to check that the pid is still the loader's and not a
// newer process's. Generating stat is the dearest of the daemon's /proc
// reads: in a storm of 5,000 loads a second from one process, these
// checks were 8% of the daemon's CPU. An open /proc/<pid> directory
// belongs to the process it was opened for, not to its number: once that
// process has exited, every lookup under it fails with ESRCH, whatever
// process has the pid since. So a lookup under it that succeeds reads the
// loader's own fd, and needs no check.
//
// A directory is opened at the second load the store resolves through
// the path for the same process (a loader that makes one load, as insmod
// does, would cost one open more otherwise), before that load's start
// time check, which then reads stat through it. The store closes the oldest when it opens a
// fifth, one whose process has exited when a lookup says so, and all of
// them on Close.
type loaderDirs struct {
	slots [loaderDirSlots]loaderDir
	next  int
	buf   []byte // readlinkat's buffer
	hits  uint64 // resolutions through an open directory (tests)
	// notProcfs: the root is not a procfs mount (a test's tree), whose
	// directories do not end with their process: none is kept open.
	notProcfs bool
}

// loaderDir is one open /proc/<pid> directory; pid 0 is an empty slot.
type loaderDir struct {
	fd    int
	pid   int
	start uint64 // the process's start time in ticks, read through fd
}

// maxLinkBytes bounds a link read through a loader directory: a path of
// PATH_MAX bytes and the " (deleted)" /proc adds. A longer one is read
// through the path.
const maxLinkBytes = 4096 + 64

// find returns the open directory of pid whose process is the one that
// made a load at at (ms), or nil. start is the process's start time in
// ticks as the table knows it (0: unknown); startMilli converts ticks.
//
// While the directory's process lives it holds the pid, so a load of the
// pid made after that process started is its load.
func (d *loaderDirs) find(pid int, start uint64, at int64, startMilli func(uint64) int64) *loaderDir {
	for i := range d.slots {
		l := &d.slots[i]
		if l.pid == pid && pid > 0 && (start == 0 || start == l.start) {
			if sm := startMilli(l.start); sm != 0 && sm <= at+startSlackMilli {
				return l
			}
		}
	}
	return nil
}

// readlink reads the link name under l. gone reports that l's process has
// exited (and closes l); ok false with gone false is a link that is not
// there (a closed fd) or too long to read here.
func (d *loaderDirs) readlink(l *loaderDir, name string) (target string, ok, gone bool) {
	if d.buf == nil {
		d.buf = make([]byte, maxLinkBytes)
	}
	n, err := unix.Readlinkat(l.fd, name, d.buf)
	switch {
	case errors.Is(err, unix.ESRCH):
		d.close(l)
		return "", false, true
	case err != nil || n >= len(d.buf):
		return "", false, false
	}
	d.hits++
	return string(d.buf[:n]), true, false
}

// openDir opens the directory of the process pid under root (a procfs
// mount), or returns -1. The caller checks through it which process it is
// (readStartTicksAt), then keeps it or discards it.
func (d *loaderDirs) openDir(root string, pid int) int {
	if pid <= 0 || d.notProcfs {
		return -1
	}
	fd, err := unix.Open(filepath.Join(root, strconv.Itoa(pid)), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	var sf unix.Statfs_t
	if unix.Fstatfs(fd, &sf) != nil || sf.Type != unix.PROC_SUPER_MAGIC {
		_ = unix.Close(fd)
		d.notProcfs = true
		return -1
	}
	return fd
}

// keep puts fd, the directory of the process pid started at start ticks
// (checked through fd), in a slot: in place of an earlier process's with
// that pid (it has exited), else of the oldest. fd < 0 keeps nothing.
func (d *loaderDirs) keep(fd, pid int, start uint64) {
	if fd < 0 {
		return
	}
	l := &d.slots[d.next]
	for i := range d.slots {
		if d.slots[i].pid == pid {
			l = &d.slots[i]
			break
		}
	}
	if l == &d.slots[d.next] {
		d.next = (d.next + 1) % len(d.slots)
	}
	d.close(l)
	*l = loaderDir{fd: fd, pid: pid, start: start}
}

// discard closes fd, a directory openDir returned that is not kept.
func discard(fd int) {
	if fd >= 0 {
		_ = unix.Close(fd)
	}
}

func (d *loaderDirs) close(l *loaderDir) {
	if l.pid > 0 {
		_ = unix.Close(l.fd)
	}
	*l = loaderDir{}
}

// closeAll closes every open directory.
func (d *loaderDirs) closeAll() {
	for i := range d.slots {
		d.close(&d.slots[i])
	}
}
