package rules

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
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
type dirIndex struct{ m map[fileID]string }

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
	x := &dirIndex{m: map[fileID]string{}}
	if root != "" {
		for _, d := range dirs {
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
// resolution when that matches patterns, else the path through its
// PARENT item's directory identity, else the lexical resolution (maybe "").
func (x *dirIndex) itemPath(ev *auditevent.Event, i int, patterns []string) string {
	p := &ev.Paths[i]
	if p.Resolved != "" && anyGlob(patterns, p.Resolved) {
		return p.Resolved
	}
	if x == nil || len(x.m) == 0 || p.Name == "" {
		return p.Resolved
	}
	for j := i - 1; j >= 0; j-- {
		q := &ev.Paths[j]
		if q.Nametype != "PARENT" {
			continue
		}
		if dir, ok := x.m[fileID{dev: q.Dev, ino: q.Inode}]; ok {
			return strings.TrimSuffix(dir, "/") + "/" + BaseName(strings.TrimSuffix(p.Name, "/"))
		}
		break // the nearest PARENT is this item's directory
	}
	return p.Resolved
}
