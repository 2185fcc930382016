package detections

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// maxIndexedDirs bounds the directories the catalog stats at start.
const maxIndexedDirs = 256

// fileID is a file's identity as PATH records print it: dev as
// "%02x:%02x" (major:minor, hex) and the inode number.
type fileID struct {
	dev string
	ino uint64
}

// dirIndex maps the identity of every known configuration directory (and
// of the parents of single-file locations such as /etc/modules) to its
// canonical path. A PATH item created through a symlinked directory, a
// "..", a bind mount or openat with a directory fd names the file in a way
// that does not resolve lexically, but its PARENT item carries the real
// directory's dev and inode: that is looked up here.
type dirIndex struct {
	mu sync.RWMutex // follow updates m while detections read it
	m  map[fileID]string
	// dirs are the indexed directory paths (live only), re-read by follow.
	dirs map[string]bool
	// root is where the live file system is ("/"), "" in replay: io_uring
	// items are named by looking their inode up in their directory there.
	root string
}

// indexedDirs returns the directories of patterns: "/a/b/*" gives /a/b,
// "/a/file" gives /a. Patterns with a '*' before their last element are
// skipped.
func indexedDirs(patterns ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, list := range patterns {
		for _, p := range list {
			dir := filepath.Dir(p)
			if strings.HasSuffix(p, "/*") {
				dir = strings.TrimSuffix(p, "/*")
			}
			if strings.ContainsAny(dir, "*?") || seen[dir] || len(out) >= maxIndexedDirs {
				continue
			}
			seen[dir] = true
			out = append(out, dir)
		}
	}
	return out
}

// newDirIndex stats dirs under root (the live system is "/"); extra maps
// directory paths to "dev inode" identities recorded elsewhere (replays of
// another host's log). Directories that do not exist are skipped.
func newDirIndex(root string, dirs []string, extra map[string]string) (*dirIndex, error) {
	x := &dirIndex{m: map[fileID]string{}, root: root, dirs: map[string]bool{}}
	if root != "" {
		for _, d := range dirs {
			x.dirs[d] = true
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(root, d), &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
				continue
			}
			id := fileID{dev: FormatDev(st.Dev), ino: st.Ino}
			if _, dup := x.m[id]; !dup { // /lib and /usr/lib on merged-/usr: keep the first listed
				x.m[id] = d
			}
		}
	}
	for d, s := range extra {
		f := strings.Fields(s)
		if len(f) != 2 {
			return nil, fmt.Errorf("directory identity %q for %s: want \"dev inode\"", s, d)
		}
		ino, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("directory identity %q for %s: %w", s, d, err)
		}
		x.m[fileID{dev: f[0], ino: ino}] = d
	}
	return x, nil
}

// FormatDev formats a stat(2) st_dev the way the kernel prints PATH dev=.
func FormatDev(dev uint64) string {
	major := (dev>>8)&0xfff | (dev>>32)&^0xfff
	minor := dev&0xff | (dev>>12)&^0xff
	return fmt.Sprintf("%02x:%02x", major, minor)
}

// itemPath returns where PATH item i of ev really is: its lexical
// resolution when that matches one of patterns, else the path through its
// PARENT item's directory identity, else the lexical resolution (maybe "").
func (x *dirIndex) itemPath(ev *auditevent.Event, i int, patterns *globs) string {
	p := &ev.Paths[i]
	if p.Resolved != "" && patterns != nil && patterns.match(p.Resolved) {
		return p.Resolved
	}
	if x != nil && p.Name == "" && ev.HasSyscall && ev.Syscall.IsURing {
		return x.uringItemPath(ev, i)
	}
	if x == nil || p.Name == "" {
		return p.Resolved
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(x.m) == 0 {
		return p.Resolved
	}
	for j := i - 1; j >= 0; j-- {
		q := &ev.Paths[j]
		if q.Nametype != "PARENT" {
			continue
		}
		if dir, ok := x.m[fileID{dev: q.Dev, ino: q.Inode}]; ok {
			return strings.TrimSuffix(dir, "/") + "/" + auditevent.BaseName(strings.TrimSuffix(p.Name, "/"))
		}
		break // the nearest PARENT is this item's directory
	}
	return p.Resolved
}

// maxDirScan bounds the entries read from one directory to name an
// io_uring item.
const maxDirScan = 8192

// uringItemPath names PATH item i of an io_uring operation, which the
// kernel logs as name=(null) with the inode only: the nearest PARENT item
// gives the directory (looked up in the index), and the item's inode is
// looked up among that directory's entries on the live system (bounded).
// An item of a known directory whose name cannot be found (removed since,
// or replay) is named "<dir>/(inode N)"; an item without inode (the
// negative lookup that precedes a creation) or in an unknown directory
// gives "".
func (x *dirIndex) uringItemPath(ev *auditevent.Event, i int) string {
	p := &ev.Paths[i]
	if p.Inode == 0 {
		return ""
	}
	for j := i - 1; j >= 0; j-- {
		q := &ev.Paths[j]
		if q.Nametype != "PARENT" {
			continue
		}
		x.mu.RLock()
		dir, ok := x.m[fileID{dev: q.Dev, ino: q.Inode}]
		x.mu.RUnlock()
		if !ok {
			return ""
		}
		dir = strings.TrimSuffix(dir, "/")
		if x.root != "" {
			if name, ok := findInode(filepath.Join(x.root, dir), p.Inode); ok {
				return dir + "/" + name
			}
		}
		return dir + "/(inode " + strconv.FormatUint(p.Inode, 10) + ")"
	}
	// No PARENT item: an existing file opened (the kernel logs the file
	// alone). Look for its inode in the indexed directories on its device.
	if x.root == "" {
		return ""
	}
	x.mu.RLock()
	var dirs []string
	for id, d := range x.m {
		if id.dev == p.Dev {
			dirs = append(dirs, d)
		}
	}
	x.mu.RUnlock()
	sort.Strings(dirs)
	for _, d := range dirs {
		if name, ok := findInode(filepath.Join(x.root, d), p.Inode); ok {
			return strings.TrimSuffix(d, "/") + "/" + name
		}
	}
	return ""
}

// findInode returns the name of the entry of dir with inode ino, reading
// at most maxDirScan entries.
func findInode(dir string, ino uint64) (string, bool) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer syscall.Close(fd)
	buf := make([]byte, 32<<10)
	seen := 0
	for seen < maxDirScan {
		n, err := syscall.ReadDirent(fd, buf)
		if err != nil || n <= 0 {
			return "", false
		}
		if name, ok, count := direntFind(buf[:n], ino); ok {
			return name, true
		} else {
			seen += count
		}
	}
	return "", false
}

// direntFind scans linux_dirent64 records (ino u64, off s64, reclen u16,
// type u8, name NUL-terminated) for ino; it returns the entries read.
func direntFind(b []byte, ino uint64) (string, bool, int) {
	count := 0
	for len(b) >= 19 {
		reclen := int(binary.NativeEndian.Uint16(b[16:]))
		if reclen < 19 || reclen > len(b) {
			break
		}
		count++
		if binary.NativeEndian.Uint64(b) == ino {
			name := b[19:reclen]
			if k := bytes.IndexByte(name, 0); k >= 0 {
				name = name[:k]
			}
			if s := string(name); s != "." && s != ".." {
				return s, true, count
			}
		}
		b = b[reclen:]
	}
	return "", false, count
}

// follow keeps the index in step with the directories themselves: when ev
// creates, removes, renames or symlinks an indexed directory path (a
// configuration directory swapped for another, or created after start),
// that path is stat'ed again at once and its identity replaced, so a file
// then created in it through a directory fd or an io_uring operation is
// placed without waiting for a reload. Live only (root set); it reads the
// file system only for events that touch an indexed path itself.
func (x *dirIndex) follow(ev *auditevent.Event) {
	if x == nil || x.root == "" || !ev.HasSyscall || ev.Syscall.Success == auditevent.SuccessNo {
		return
	}
	for i := range ev.Paths {
		p := &ev.Paths[i]
		if p.Nametype != "CREATE" && p.Nametype != "DELETE" {
			continue
		}
		if t := p.Mode & syscall.S_IFMT; p.Mode != 0 && t != syscall.S_IFDIR && t != syscall.S_IFLNK {
			continue
		}
		where := p.Resolved
		if !x.dirs[where] {
			where = x.itemPath(ev, i, nil)
		}
		if !x.dirs[where] {
			continue
		}
		x.refresh(where)
	}
}

// refresh re-reads the identity of the indexed directory d.
func (x *dirIndex) refresh(d string) {
	var st syscall.Stat_t
	err := syscall.Stat(filepath.Join(x.root, d), &st)
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, p := range x.m {
		if p == d {
			delete(x.m, id)
		}
	}
	if err == nil && st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		id := fileID{dev: FormatDev(st.Dev), ino: st.Ino}
		if _, dup := x.m[id]; !dup {
			x.m[id] = d
		}
	}
}

// maxFDScan bounds the descriptors of one process procFDPath reads.
const maxFDScan = 1024

// procFDPath returns the first path among pid's open files (live:
// /proc/PID/fd under root) that match accepts, "" when none or not live.
func (x *dirIndex) procFDPath(pid int, match func(string) bool) string {
	if x == nil || x.root == "" || pid <= 0 {
		return ""
	}
	dir := filepath.Join(x.root, "proc", strconv.Itoa(pid), "fd")
	f, err := os.Open(dir)
	if err != nil {
		return ""
	}
	defer f.Close()
	names, err := f.Readdirnames(maxFDScan)
	if err != nil && len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	for _, n := range names {
		target, err := os.Readlink(filepath.Join(dir, n))
		if err == nil && strings.HasPrefix(target, "/") && match(target) {
			return target
		}
	}
	return ""
}
