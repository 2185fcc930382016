package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"
)

// Snapshot is one read of the kernel's views of its modules and of its
// taint mask.
type Snapshot struct {
	At time.Time
	// ProcOK: /proc/modules was read (a kernel without module support has
	// none; the module checks are then skipped).
	ProcOK bool
	Proc   map[string]ProcModule
	// SysOK: /sys/module was listed (a container without /sys has none;
	// the hidden checks then have nothing to compare and are skipped).
	SysOK bool
	Sys   map[string]SysModule
	// TaintOK: /proc/sys/kernel/tainted was read into Tainted.
	TaintOK bool
	Tainted uint64
	BootID  string
}

// Views are where the kernel's views are read: the procfs and sysfs
// mount points (tests point them at copies).
type Views struct {
	ProcRoot string // "/proc"
	SysRoot  string // "/sys"
}

// Read reads the kernel's views: /proc/modules, then /sys/module, then
// /proc/modules again (a module counts as listed when either read lists
// it, so a load between the reads does not look like a module missing
// from the list), and the taint mask. Errors of one view are returned
// joined; what could be read is in the snapshot.
func (v Views) Read(now time.Time) (Snapshot, error) {
	s := Snapshot{At: now}
	var errs []error
	procPath := filepath.Join(v.ProcRoot, "modules")
	first, err := readProcModules(procPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	if s.Sys, err = ReadSysModules(filepath.Join(v.SysRoot, "module")); err != nil {
		errs = append(errs, err)
	}
	s.SysOK = s.Sys != nil
	second, err2 := readProcModules(procPath)
	if err2 != nil && !errors.Is(err2, fs.ErrNotExist) {
		errs = append(errs, err2)
	}
	if first != nil || second != nil {
		s.ProcOK = true
		s.Proc = make(map[string]ProcModule, len(second))
		for _, m := range first {
			s.Proc[m.Name] = m
		}
		for _, m := range second {
			s.Proc[m.Name] = m
		}
	}
	if b, err := ReadBounded(filepath.Join(v.ProcRoot, "sys/kernel/tainted"), 64); err != nil {
		errs = append(errs, fmt.Errorf("taint mask: %w", err))
	} else if s.Tainted, err = ParseTainted(b); err != nil {
		errs = append(errs, err)
	} else {
		s.TaintOK = true
	}
	if b, err := ReadBounded(filepath.Join(v.ProcRoot, "sys/kernel/random/boot_id"), 64); err == nil {
		s.BootID = strings.TrimSpace(string(b))
	}
	return s, errors.Join(errs...)
}

// readProcModules returns the modules of /proc/modules: nil (not an empty
// slice) only when the file could not be read.
func readProcModules(p string) ([]ProcModule, error) {
	b, err := ReadBounded(p, MaxProcModulesBytes)
	if err != nil {
		return nil, fmt.Errorf("proc modules: %w", err)
	}
	ms, err := ParseProcModules(b)
	if ms == nil {
		ms = []ProcModule{}
	}
	return ms, err
}
