package correlate

import (
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// FileMeta is a loaded module file's own metadata, read at load time
// (live only): who owns it and when it was born, changed and modified, so
// that a load says "file created N s before" even when no rule recorded
// the drop (the file was written in /dev/shm and the creation was not
// audited) or the file is already unlinked.
type FileMeta struct {
	UID, GID uint32
	Mode     uint32
	Size     int64
	// Birth is zero when the file system does not record it.
	Birth, Change, Modify time.Time
	// Via says how the file was reached: "fd" (the loader's open file
	// descriptor, /proc/PID/fd/N: right even when the name was unlinked or
	// replaced) or "path".
	Via string
	// Unlinked: read through the fd, the file has no name left.
	Unlinked bool
}

// statModule reads the metadata of the file a load used: through the
// loader's fd when it is finit_module and the process is still there,
// else by the file's name. ok is false when neither can be read.
func (s *Store) statModule(pid int, fd int, file string) (FileMeta, bool) {
	if fd >= 0 {
		p := filepath.Join(s.cfg.ProcRoot, strconv.Itoa(pid), "fd", strconv.Itoa(fd))
		if m, ok := statx(p); ok {
			m.Via = "fd"
			return m, true
		}
	}
	if !isModuleName(file) {
		return FileMeta{}, false
	}
	m, ok := statx(file)
	m.Via = "path"
	return m, ok
}

func statx(p string) (FileMeta, bool) {
	var sx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_STATX_SYNC_AS_STAT, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &sx); err != nil {
		return FileMeta{}, false
	}
	if sx.Mode&unix.S_IFMT != unix.S_IFREG {
		return FileMeta{}, false
	}
	ts := func(t unix.StatxTimestamp) time.Time { return time.Unix(t.Sec, int64(t.Nsec)) }
	m := FileMeta{UID: sx.Uid, GID: sx.Gid, Mode: uint32(sx.Mode), Size: int64(sx.Size),
		Change: ts(sx.Ctime), Modify: ts(sx.Mtime), Unlinked: sx.Mask&unix.STATX_NLINK != 0 && sx.Nlink == 0}
	if sx.Mask&unix.STATX_BTIME != 0 {
		m.Birth = ts(sx.Btime)
	}
	return m, true
}
