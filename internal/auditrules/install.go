package auditrules

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	// RulesDir is where augenrules reads rule files, below the root.
	RulesDir = "etc/audit/rules.d"
	// installMode is the mode of installed files (auditctl -R refuses
	// world-writable files; nobody but root needs to read them).
	installMode = 0o640
	// maxInstallBytes bounds the size of one installed file.
	maxInstallBytes = 1 << 20
)

// ErrUnsafeRoot: the install root is a symbolic link, or a path below it
// leads outside it.
var ErrUnsafeRoot = errors.New("unsafe install root")

// Install writes every *.rules file of fsys into <root>/etc/audit/rules.d/
// with mode 0640, owned by the caller (root when run as root). A file
// whose content and mode already match is left alone, as is every file
// that is not ours. The set is parsed first, with the host's real paths,
// so a bad snippet installs nothing.
//
// Every path is resolved inside root (os.Root): a symbolic link below root
// is followed only while it stays inside (a relative link to another
// directory of the tree works; "etc -> /etc" or "rules.d -> ../../.." is
// refused with ErrUnsafeRoot), and root itself must not be a symbolic link
// (give the real path). Nothing is written outside root.
//
// All or nothing: every changed file is first written to a temporary file
// created exclusively (O_EXCL, never through a link) in the rules
// directory and synced; only when all are written are they renamed over
// their targets. A failed write (a full disk) removes the temporary files
// and leaves the old set; a failed rename puts back the files already
// replaced (from hard links taken before).
func Install(fsys fs.FS, root string) error {
	names, err := fs.Glob(fsys, "*.rules")
	if err != nil {
		return fmt.Errorf("list rule files: %w", err)
	}
	sort.Strings(names)
	if _, err := ParseFS(fsys, DefaultParseOptions()); err != nil {
		return fmt.Errorf("check rule files: %w", err)
	}
	if fi, err := os.Lstat(root); err != nil {
		return fmt.Errorf("install root: %w", err)
	} else if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("install root %s: %w: it is a symbolic link (give the directory it points to)", root, ErrUnsafeRoot)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("install root: %w", err)
	}
	defer r.Close()
	if err := r.MkdirAll(RulesDir, 0o750); err != nil {
		return unsafe(root, fmt.Errorf("create %s: %w", filepath.Join(root, RulesDir), err))
	}
	var staged []stagedFile
	defer func() {
		for _, s := range staged {
			_ = r.Remove(s.tmp) // gone after a successful rename
		}
	}()
	for _, name := range names {
		data, err := readBounded(fsys, name)
		if err != nil {
			return err
		}
		data = commentURing(data)
		target := path.Join(RulesDir, name)
		same, err := sameFile(r, target, data)
		if err != nil {
			return unsafe(root, err)
		}
		if same {
			continue
		}
		tmp, err := writeTemp(r, target, data)
		if err != nil {
			return unsafe(root, err)
		}
		staged = append(staged, stagedFile{target: target, tmp: tmp})
	}
	if len(staged) == 0 {
		return nil
	}
	if err := commit(r, staged); err != nil {
		return unsafe(root, err)
	}
	d, err := r.Open(RulesDir)
	if err != nil {
		return fmt.Errorf("open %s: %w", RulesDir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", RulesDir, err)
	}
	return nil
}

// unsafe marks an error os.Root returned for a path escaping the root.
func unsafe(root string, err error) error {
	if err != nil && (errors.Is(err, unix.ELOOP) || isEscape(err)) {
		return fmt.Errorf("install into %s: %w: %w", root, ErrUnsafeRoot, err)
	}
	return err
}

// isEscape reports os.Root's "path escapes from parent" error (it has no
// exported sentinel).
func isEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

type stagedFile struct {
	target, tmp string // below the root
	backup      string // a hard link to the old target, while committing
	existed     bool
}

// commit renames every staged file over its target. If one rename fails,
// the targets already replaced get their old files back.
func commit(r *os.Root, staged []stagedFile) error {
	for i := range staged {
		s := &staged[i]
		if fi, err := r.Lstat(s.target); err == nil && fi.Mode().IsRegular() {
			s.backup = s.tmp + ".old"
			if err := r.Link(s.target, s.backup); err != nil {
				s.backup = ""
				cleanupBackups(r, staged)
				return fmt.Errorf("keep %s: %w", s.target, err)
			}
			s.existed = true
		}
	}
	defer cleanupBackups(r, staged)
	for i := range staged {
		s := &staged[i]
		if err := r.Rename(s.tmp, s.target); err != nil {
			for _, done := range staged[:i] {
				if done.existed {
					_ = r.Rename(done.backup, done.target)
				} else {
					_ = r.Remove(done.target)
				}
			}
			return fmt.Errorf("install %s (the files already replaced were put back): %w", s.target, err)
		}
	}
	return nil
}

func cleanupBackups(r *os.Root, staged []stagedFile) {
	for _, s := range staged {
		if s.backup != "" {
			_ = r.Remove(s.backup)
		}
	}
}

// sameFile reports whether target is a regular file of mode 0640 holding
// data. It never opens anything but a regular file (O_NOFOLLOW, and
// O_NONBLOCK against a FIFO planted there).
func sameFile(r *os.Root, target string, data []byte) (bool, error) {
	f, err := r.OpenFile(target, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ELOOP) || isEscape(err):
		return false, nil // absent, or a link: the rename replaces the link itself
	case err != nil:
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != installMode || fi.Size() != int64(len(data)) {
		return false, nil
	}
	old, err := io.ReadAll(io.LimitReader(f, maxInstallBytes+1))
	return err == nil && bytes.Equal(old, data), nil
}

// writeTemp writes data to a new file next to target, created exclusively
// and never through a symbolic link, synced, mode 0640. It returns its
// name below the root.
func writeTemp(r *os.Root, target string, data []byte) (string, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	name := path.Join(path.Dir(target), "."+path.Base(target)+".tmp"+hex.EncodeToString(rnd[:]))
	f, err := r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, installMode)
	if err != nil {
		return "", fmt.Errorf("create temporary file %s: %w", name, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = r.Remove(name)
		}
	}()
	if err := f.Chmod(installMode); err != nil { // the umask may have cut it
		return "", fmt.Errorf("chmod %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("close %s: %w", name, err)
	}
	ok = true
	return name, nil
}

func readBounded(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInstallBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxInstallBytes {
		return nil, fmt.Errorf("read %s: larger than %d bytes", name, maxInstallBytes)
	}
	return data, nil
}

// uringNote precedes every io_uring line Install comments out.
const uringNote = "## auditlkm: commented out by \"auditlkm rules install\": auditctl 3.0.x (Debian 12) stops at\n" +
	"## \"bad keyword always,io_uring\"; audit-userspace 3.1 and later can load it (remove the \"#\").\n" +
	"## \"auditlkm run\" and \"auditlkm rules load\" load it over netlink.\n"

// commentURing comments out the lines on the io_uring list (-a or -A
// ...,io_uring): an auditctl that does not know the list would refuse the
// whole file (auditctl -R stops at the first bad line).
func commentURing(data []byte) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	var out bytes.Buffer
	for _, l := range lines {
		t := bytes.TrimSpace(l)
		if onURingList(t) {
			out.WriteString(uringNote)
			out.WriteString("#")
		}
		out.Write(l)
	}
	return out.Bytes()
}

// onURingList reports whether a rule line appends to the io_uring list
// ("-a always,io_uring", either order): not a line on another list that
// merely names io_uring_setup.
func onURingList(line []byte) bool {
	f := bytes.Fields(line)
	if len(f) < 2 || (string(f[0]) != "-a" && string(f[0]) != "-A") {
		return false
	}
	for _, w := range bytes.Split(f[1], []byte(",")) {
		if string(w) == "io_uring" {
			return true
		}
	}
	return false
}
