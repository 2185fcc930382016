package correlate

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/auditlkm/auditlkm/internal/modfile"
)

// Bounds of the module file reads of loads (Config.ReadModuleFiles).
const (
	// ModuleFileReadBudget bounds the module files opened per second; a
	// storm of loads of ever new files is not read past it (counted).
	ModuleFileReadBudget = 16
	// ModuleFileReadTime bounds the time spent reading module files per
	// second (the pipeline waits while a file is read).
	ModuleFileReadTime = 500 * time.Millisecond
	// moduleFileCacheSize bounds the parses kept: a few hundred bytes
	// each for real modules, at most ~40 KiB for a hostile one (every
	// value at modfile.MaxValueBytes), so at most ~2.5 MiB.
	moduleFileCacheSize = 64
)

// ModuleFileLimits bound one module file read: size and time.
var ModuleFileLimits = modfile.Limits{MaxBytes: modfile.DefaultMaxBytes, Timeout: modfile.DefaultTimeout}

// readModuleFile reads the load's module file, when configured to, and
// keeps what it says in ml. A file resolved through /proc/<pid>/fd is
// read through that link while the loader lives: the very file it
// loaded, even when it was deleted or replaced since.
func (s *Store) readModuleFile(ml *ModuleLoad, fdPath string) {
	if !s.cfg.ReadModuleFiles || ml.File == "" {
		return
	}
	open := ml.File
	if fdPath != "" {
		open = fdPath
	} else if strings.HasSuffix(open, " (deleted)") {
		ml.FileErr = "not read: the file was deleted before the load was processed"
		s.m.moduleReads.WithLabelValues(moduleReadError).Inc()
		return
	}
	fb := &s.fileBudgets[s.class]
	if !fb.spend(s.now().Unix()) {
		ml.FileErr = fileBudgetSpent[s.class]
		s.m.moduleReads.WithLabelValues(fileBudgetResults[s.class]).Inc()
		return
	}
	if s.modCache == nil {
		s.modCache = modfile.NewCache(moduleFileCacheSize)
	}
	hits := s.modCache.Hits
	start := time.Now()
	lim := ModuleFileLimits
	lim.Timeout = min(lim.Timeout, fb.left())
	info, err := s.modCache.ReadFile(open, lim)
	if err != nil && open != ml.File && errors.Is(err, fs.ErrNotExist) && !strings.HasSuffix(ml.File, " (deleted)") {
		// The loader exited between resolving its fd and this read (insmod
		// exits right after finit_module): read the file by the name the
		// fd resolved to or the loader gave, as for a loader gone earlier.
		info, err = s.modCache.ReadFile(ml.File, lim)
		open = ml.File
	}
	fb.spent += time.Since(start)
	if open != ml.File && info != nil {
		cp := *info
		cp.Path = ml.File
		info = &cp
	}
	ml.FileInfo = info
	if err != nil {
		ml.FileErr = err.Error()
		s.m.moduleReads.WithLabelValues(moduleReadError).Inc()
		return
	}
	if s.modCache.Hits > hits {
		s.m.moduleReads.WithLabelValues(moduleReadCached).Inc()
	} else {
		s.m.moduleReads.WithLabelValues(moduleReadOK).Inc()
	}
	if ml.Inode != 0 && info.Inode != 0 && info.Inode != ml.Inode {
		ml.FileMismatch = append(ml.FileMismatch, fmt.Sprintf("the file read is inode %d, the loader opened inode %d: replaced since", info.Inode, ml.Inode))
	}
}
