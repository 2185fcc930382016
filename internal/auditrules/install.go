package auditrules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
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

// Install writes every *.rules file of fsys into <root>/etc/audit/rules.d/
// with mode 0640, owned by the caller (root when run as root). Each file is
// written to a temporary file in the same directory, synced and renamed
// over the target, so a reader sees the old or the new file, never a
// partial one. A file whose content and mode already match is left alone,
// as is every file that is not ours. The set is parsed first, with the
// host's real paths, so a bad snippet installs nothing.
func Install(fsys fs.FS, root string) error {
	names, err := fs.Glob(fsys, "*.rules")
	if err != nil {
		return fmt.Errorf("list rule files: %w", err)
	}
	sort.Strings(names)
	if _, err := ParseFS(fsys, DefaultParseOptions()); err != nil {
		return fmt.Errorf("check rule files: %w", err)
	}
	dir := filepath.Join(root, RulesDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, name := range names {
		data, err := readBounded(fsys, name)
		if err != nil {
			return err
		}
		data = commentURing(data)
		if err := writeAtomic(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	return nil
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

func writeAtomic(target string, data []byte) error {
	if fi, err := os.Lstat(target); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm() == installMode {
		if old, err := os.ReadFile(target); err == nil && bytes.Equal(old, data) {
			return nil
		}
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(installMode); err != nil {
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err := os.Rename(name, target); err != nil {
		return fmt.Errorf("install %s: %w", target, err)
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
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
		if (bytes.HasPrefix(t, []byte("-a ")) || bytes.HasPrefix(t, []byte("-A "))) && bytes.Contains(t, []byte("io_uring")) {
			out.WriteString(uringNote)
			out.WriteString("#")
		}
		out.Write(l)
	}
	return out.Bytes()
}
