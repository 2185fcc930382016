package modfile

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Limits bound one ReadFile.
type Limits struct {
	// MaxBytes is the largest file read; a larger one is reported with its
	// size only. Default DefaultMaxBytes.
	MaxBytes int64
	// Timeout bounds the reading (checked between chunks). Default
	// DefaultTimeout.
	Timeout time.Duration
}

// Defaults of Limits. Debian's largest module (amdgpu.ko) is ~15 MiB.
const (
	DefaultMaxBytes = 64 << 20
	DefaultTimeout  = 2 * time.Second
	chunkBytes      = 1 << 20
)

// Errors of ReadFile (errors.Is).
var (
	ErrTooLarge    = errors.New("file larger than the read limit")
	ErrUnsafeFS    = errors.New("file on a FUSE or network filesystem: not read")
	ErrTimeout     = errors.New("read timed out")
	ErrFileChanged = errors.New("file changed while it was read")
)

// Filesystems ReadFile refuses: their reads are served by a process or a
// server that can make them wait as long as it likes (statfs f_type).
var unsafeFS = map[int64]string{
	0x65735546: "fuse",
	0x6969:     "nfs",
	0x517b:     "smb",
	0xff534d42: "cifs",
	0xfe534d42: "smb2",
	0x01021997: "9p",
	0x00c36400: "ceph",
	0x61756673: "aufs", // may stack any of the above
	0x5346414f: "afs",
	0x6b414653: "afs",
	0x013111a8: "ibrix",
}

// Stat identifies a file version: what a Cache is keyed by. Ctime is in
// it because mtime can be set back by the file's owner; ctime cannot.
type Stat struct {
	Dev, Inode   uint64
	Size         int64
	Mtime, Ctime int64 // ns
}

func statOf(st *unix.Stat_t) Stat {
	return Stat{Dev: st.Dev, Inode: st.Ino, Size: st.Size,
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
}

// ReadFile reads and parses the module file at path within lim. On error
// the returned Info still carries what is known (path, size, identity).
// The Info may be shared with a Cache: callers must not modify it.
func ReadFile(path string, lim Limits) (*Info, error) {
	return readFile(path, lim, nil)
}

// readFile is ReadFile, asking c for a parse of the same file version.
func readFile(path string, lim Limits, c *Cache) (*Info, error) {
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultMaxBytes
	}
	if lim.Timeout <= 0 {
		lim.Timeout = DefaultTimeout
	}
	in := &Info{Path: path}
	// O_NONBLOCK: opening a fifo must not wait for a writer.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return in, fmt.Errorf("open module file %q: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return in, fmt.Errorf("stat module file %q: %w", path, err)
	}
	id := statOf(&st)
	in.Size, in.Dev, in.Inode = id.Size, id.Dev, id.Inode
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return in, fmt.Errorf("module file %q: %w", path, ErrNotRegular)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err == nil {
		if name, bad := unsafeFS[int64(uint32(sfs.Type))]; bad {
			return in, fmt.Errorf("module file %q (%s): %w", path, name, ErrUnsafeFS)
		}
	}
	if id.Size > lim.MaxBytes {
		return in, fmt.Errorf("module file %q: %d bytes: %w (%d)", path, id.Size, ErrTooLarge, lim.MaxBytes)
	}
	if c != nil {
		if hit := c.get(id); hit != nil {
			cp := *hit
			cp.Path = path
			return &cp, nil
		}
	}
	data, err := readAll(fd, id.Size, lim)
	if err != nil {
		return in, fmt.Errorf("read module file %q: %w", path, err)
	}
	var after unix.Stat_t
	if err := unix.Fstat(fd, &after); err == nil && statOf(&after) != id {
		return in, fmt.Errorf("read module file %q: %w", path, ErrFileChanged)
	}
	parsed := Parse(data)
	parsed.Path, parsed.Dev, parsed.Inode = path, id.Dev, id.Inode
	if c != nil {
		c.put(id, &parsed)
	}
	return &parsed, nil
}

// readAll reads exactly size bytes (a file that grew or shrank meanwhile is
// an error), within lim.Timeout.
func readAll(fd int, size int64, lim Limits) ([]byte, error) {
	deadline := time.Now().Add(lim.Timeout)
	buf := make([]byte, size+1) // one more: a file that grew is noticed
	n := 0
	for n < len(buf) {
		if n > 0 && int64(n) < size && time.Now().After(deadline) {
			return nil, ErrTimeout // checked between chunks: the first is always read
		}
		m, err := unix.Read(fd, buf[n:min(len(buf), n+chunkBytes)])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			return nil, fmt.Errorf("read would block: %w", ErrUnsafeFS)
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	if int64(n) != size {
		return nil, fmt.Errorf("%d bytes read, %d stated: %w", n, size, ErrFileChanged)
	}
	return buf[:n], nil
}

// Cache keeps the parse of recently read files by Stat, at most Max
// entries (the oldest go first). It is not safe for concurrent use.
type Cache struct {
	max   int
	m     map[Stat]*Info
	order []Stat // insertion order, a ring of len max
	next  int
	// Hits and Misses count lookups.
	Hits, Misses uint64
}

// NewCache returns a cache of at most max parses (at least 1).
func NewCache(n int) *Cache {
	n = max(n, 1)
	return &Cache{max: n, m: make(map[Stat]*Info, n), order: make([]Stat, 0, n)}
}

// ReadFile is the package ReadFile, served from the cache when the file's
// identity (device, inode, size, mtime, ctime) is unchanged.
func (c *Cache) ReadFile(path string, lim Limits) (*Info, error) {
	return readFile(path, lim, c)
}

func (c *Cache) get(k Stat) *Info {
	if in, ok := c.m[k]; ok {
		c.Hits++
		return in
	}
	c.Misses++
	return nil
}

func (c *Cache) put(k Stat, in *Info) {
	if _, ok := c.m[k]; ok {
		c.m[k] = in
		return
	}
	if len(c.order) < c.max {
		c.order = append(c.order, k)
	} else {
		delete(c.m, c.order[c.next])
		c.order[c.next] = k
		c.next = (c.next + 1) % c.max
	}
	c.m[k] = in
}

// Len returns the number of cached parses.
func (c *Cache) Len() int { return len(c.m) }
