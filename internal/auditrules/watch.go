package auditrules

import (
	"errors"
	"io/fs"
	"path"
	"strings"
)

// resolveWatch decides how a -w path is sent to the kernel. auditctl and
// go-libaudit stat the path and make anything that is not an existing
// directory a single-file watch, so a directory that does not exist yet
// silently becomes a file watch. Here:
//
//   - an existing directory is a recursive dir= watch;
//   - an existing non-directory is a path= watch;
//   - a missing path whose parent directory exists is a path= watch. For a
//     directory (written with a trailing "/") this is the only form the
//     kernel accepts: dir= needs the directory to exist (ENOENT otherwise,
//     checked on the real kernel). By the kernel's watch semantics it
//     records the directory's creation and, once it exists, entries
//     created, removed or renamed in it (their PARENT name carries its
//     inode), but not writes to existing files inside; loading the rules
//     again after the directory appears makes it a recursive dir= watch;
//   - a path whose parent is missing cannot be watched at all (the kernel
//     needs the parent to place its inotify-like mark) and is skipped;
//   - on /proc and /sys a missing path is skipped too: those filesystems
//     have no negative dentries, so the kernel answers ENOENT.
func resolveWatch(p string, opts ParseOptions) (field, skip string) {
	clean := path.Clean(p)
	fi, err := opts.Stat(clean)
	switch {
	case err == nil && fi.IsDir():
		return "dir", ""
	case err == nil:
		return "path", ""
	}
	if pi, perr := opts.Stat(path.Dir(clean)); perr != nil || !pi.IsDir() {
		return "", "skipped: parent missing"
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", "skipped: " + err.Error()
	}
	if pseudoFS(clean) {
		return "", "skipped: missing on a pseudo filesystem"
	}
	return "path", ""
}

// pseudoFS reports whether p is under /proc or /sys.
func pseudoFS(p string) bool {
	return strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/sys/")
}

// checkFilterPath applies the kernel's placement rules to an explicit
// -F path= or -F dir= filter of a syscall rule: path= needs its parent
// directory, dir= needs the directory itself. It returns a skip reason or
// "".
func checkFilterPath(field, p string, opts ParseOptions) string {
	target := path.Dir(path.Clean(p))
	if field == "dir" {
		target = path.Clean(p)
	}
	if field == "path" && pseudoFS(p) {
		target = path.Clean(p)
		if _, err := opts.Stat(target); err != nil {
			return "skipped: missing on a pseudo filesystem"
		}
		return ""
	}
	fi, err := opts.Stat(target)
	switch {
	case err == nil && fi.IsDir():
		return ""
	case err == nil || errors.Is(err, fs.ErrNotExist):
		if field == "dir" {
			return "skipped: directory missing"
		}
		return "skipped: parent missing"
	}
	return "skipped: " + err.Error()
}
