package inventory

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/auditlkm/auditlkm/internal/statefile"
)

// SysModule is what /sys/module/<name> says of a loadable module. Built-in
// modules have a directory too (for their parameters) but no initstate:
// they are not listed.
type SysModule struct {
	Name      string
	InitState string // live, coming, going
	// Refcnt is -1 when the file is absent (no module unloading).
	Refcnt   int
	Taint    string // the module's taint letters
	CoreSize int64  // -1 when absent
	// SrcVersion and Version are the module's srcversion (a hash of its
	// sources, for modules built with MODULE_VERSION or out of tree) and
	// version, when it has them.
	SrcVersion, Version string
	Holders             []string
	// Sections is how many ELF sections the kernel lists under sections/
	// (needs CONFIG_KALLSYMS), a trace that survives an unlink from the
	// module list.
	Sections int
}

// Bounds of one sysfs read.
const (
	maxAttrBytes    = 4 << 10
	maxHolders      = 256
	maxSectionNames = 4096
)

// ReadSysModules lists the loadable modules under dir (/sys/module): the
// subdirectories with an initstate file. An error reading one module's
// attributes leaves that module listed with what could be read; the
// errors are joined.
func ReadSysModules(dir string) (map[string]SysModule, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("sysfs modules: %w", err)
	}
	ents, err := d.ReadDir(MaxModules * 2)
	d.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("sysfs modules: read %s: %w", dir, err)
	}
	out := make(map[string]SysModule, 64)
	var errs []error
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		m, ok, err := readSysModule(filepath.Join(dir, e.Name()), e.Name())
		if err != nil && len(errs) < 8 {
			errs = append(errs, err)
		}
		if ok {
			out[m.Name] = m
		}
	}
	return out, errors.Join(errs...)
}

// readSysModule reads one module directory; ok is false for a built-in
// module (no initstate).
func readSysModule(dir, name string) (SysModule, bool, error) {
	st, err := readAttr(filepath.Join(dir, "initstate"))
	if errors.Is(err, fs.ErrNotExist) {
		return SysModule{}, false, nil
	}
	if err != nil {
		return SysModule{}, false, fmt.Errorf("sysfs module %q: %w", name, err)
	}
	m := SysModule{Name: name, InitState: st, Refcnt: -1, CoreSize: -1}
	var errs []error
	if s, err := readAttr(filepath.Join(dir, "refcnt")); err == nil {
		if m.Refcnt, err = strconv.Atoi(s); err != nil {
			m.Refcnt = -1
			errs = append(errs, fmt.Errorf("refcnt %q", clip(s)))
		}
	}
	if s, err := readAttr(filepath.Join(dir, "coresize")); err == nil {
		if m.CoreSize, err = strconv.ParseInt(s, 10, 64); err != nil {
			m.CoreSize = -1
			errs = append(errs, fmt.Errorf("coresize %q", clip(s)))
		}
	}
	if s, err := readAttr(filepath.Join(dir, "taint")); err == nil {
		m.Taint = s
	}
	m.SrcVersion, _ = readAttr(filepath.Join(dir, "srcversion"))
	m.Version, _ = readAttr(filepath.Join(dir, "version"))
	m.Holders, _ = listNames(filepath.Join(dir, "holders"), maxHolders)
	secs, _ := listNames(filepath.Join(dir, "sections"), maxSectionNames)
	m.Sections = len(secs)
	if len(errs) > 0 {
		return m, true, fmt.Errorf("sysfs module %q: %w", name, errors.Join(errs...))
	}
	return m, true, nil
}

// readAttr reads a small file without following a symbolic link and
// returns it without its trailing newline.
func readAttr(p string) (string, error) {
	b, err := ReadBounded(p, maxAttrBytes)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// ReadBounded reads at most max bytes of the regular (or procfs/sysfs)
// file at p: never through a symbolic link, never a FIFO or a device
// (internal/statefile opens it); more than max is an error.
func ReadBounded(p string, max int64) ([]byte, error) {
	f, _, err := statefile.Open(p, max)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, max)
	}
	return b, nil
}

// listNames lists at most max entry names of dir.
func listNames(dir string, max int) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(max)
	if err != nil && !errors.Is(err, io.EOF) {
		return names, err
	}
	return names, nil
}
