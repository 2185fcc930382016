package correlate

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// readClass is whom the /proc and module file reads made while observing
// an event are for. Each class has budgets of its own, so that a flood of
// one class cannot spend another's: with one budget for all, an
// unprivileged user making a few thousand refused finit_module calls a
// second spent what every load's file resolution drew from, and a root
// load in the same second was alerted on without its file (the fd it gave
// finit_module unread, the module file not read).
type readClass uint8

const (
	// classProcess: lazy lookups and pid checks for any event but a load.
	classProcess readClass = iota
	// classLoad: a module load the kernel let past its privilege check,
	// or may have (loadClass).
	classLoad
	// classRefusedLoad: a load the kernel refused before anything could
	// be loaded, for want of privilege.
	classRefusedLoad
	numReadClasses
)

// readClassNames label auditlkm_correlate_proc_budget_exceeded_total.
var readClassNames = [numReadClasses]string{"process", "load", "refused_load"}

// Per-second /proc read budgets of the load classes (ProcReadBudget is
// classProcess's). A load costs up to three reads: its fd, the loader's
// start time, the file's metadata.
const (
	LoadReadBudget        = 512
	RefusedLoadReadBudget = 64
)

// Module file read budgets of refused loads: what an unprivileged caller
// tried to load is read too, within these (ModuleFileReadBudget and
// ModuleFileReadTime are the budgets of loads).
const (
	RefusedModuleFileReadBudget = 4
	RefusedModuleFileReadTime   = 100 * time.Millisecond
)

// loadClass returns the read class of a load event. The kernel checks
// CAP_SYS_MODULE (and modules_disabled) before anything else and fails
// with EPERM: such a load could not load anything. A kernel without
// module support fails every caller with ENOSYS before any check: there
// the caller's effective uid tells root from a user. Any other outcome,
// a success included, is a load.
func loadClass(sc *auditevent.Syscall) readClass {
	if sc.Success == auditevent.SuccessYes {
		return classLoad
	}
	switch sc.Exit {
	case -int64(unix.EPERM):
		return classRefusedLoad
	case -int64(unix.ENOSYS):
		if sc.EUID != 0 {
			return classRefusedLoad
		}
	}
	return classLoad
}

// RefusedLoad reports whether sc is a module load (init_module,
// finit_module) the kernel refused for want of privilege: nothing was
// loaded, and nothing could be (see loadClass).
func RefusedLoad(sc *auditevent.Syscall) bool {
	return (sc.Name == "init_module" || sc.Name == "finit_module") && loadClass(sc) == classRefusedLoad
}

// readBudget counts the reads of one wall-clock second against a limit.
type readBudget struct {
	limit int
	sec   int64
	used  int
}

// spend takes one read from the budget of second sec; false when it is
// spent.
func (b *readBudget) spend(sec int64) bool {
	if sec != b.sec {
		b.sec, b.used = sec, 0
	}
	if b.used >= b.limit {
		return false
	}
	b.used++
	return true
}

// fileBudget bounds the module files read in one wall-clock second, in
// number and in time (the pipeline waits while a file is read).
type fileBudget struct {
	readBudget
	maxTime time.Duration
	spent   time.Duration
}

// spend takes one file read from the budget of second sec.
func (b *fileBudget) spend(sec int64) bool {
	if sec != b.sec {
		b.sec, b.used, b.spent = sec, 0, 0
	}
	if b.spent >= b.maxTime {
		return false
	}
	return b.readBudget.spend(sec)
}

// left returns the reading time left in the current second.
func (b *fileBudget) left() time.Duration { return b.maxTime - b.spent }

// readLimits and fileLimits are each class's budgets: /proc reads a
// second, and module files and reading time a second.
var (
	readLimits = [numReadClasses]int{
		classProcess:     ProcReadBudget,
		classLoad:        LoadReadBudget,
		classRefusedLoad: RefusedLoadReadBudget,
	}
	fileLimits = [numReadClasses]struct {
		files int
		time  time.Duration
	}{
		classLoad:        {ModuleFileReadBudget, ModuleFileReadTime},
		classRefusedLoad: {RefusedModuleFileReadBudget, RefusedModuleFileReadTime},
	}
)

// fileBudgetResults label auditlkm_correlate_module_file_reads_total when
// a class's module file budget is spent.
var fileBudgetResults = [numReadClasses]string{
	classLoad:        moduleReadBudget,
	classRefusedLoad: moduleReadRefusedBudget,
}

// The reasons a load's file is unknown or unread, per class: made once,
// not for each load of a storm past its budget.
var (
	fdBudgetSpent   [numReadClasses]string // ModuleLoad.FileUnknown
	fileBudgetSpent [numReadClasses]string // ModuleLoad.FileErr
)

func init() {
	for c := range numReadClasses {
		fdBudgetSpent[c] = fmt.Sprintf("its fd was not read: more than %d /proc reads in a second for %s",
			readLimits[c], readClassNames[c])
		of := "loads"
		if c == classRefusedLoad {
			of = "loads refused for want of privilege"
		}
		fileBudgetSpent[c] = fmt.Sprintf("not read: more than %d module files or %s of reading in a second for %s",
			fileLimits[c].files, fileLimits[c].time, of)
	}
}

// initBudgets sets every class's limits.
func (s *Store) initBudgets() {
	for c := range numReadClasses {
		s.budgets[c] = readBudget{limit: readLimits[c]}
		s.fileBudgets[c] = fileBudget{readBudget: readBudget{limit: fileLimits[c].files}, maxTime: fileLimits[c].time}
	}
}

// spendBudget takes one /proc read from the budget of the class of the
// event being observed.
func (s *Store) spendBudget() bool {
	if s.budgets[s.class].spend(s.now().Unix()) {
		return true
	}
	s.m.budgetExceeded[s.class].Inc()
	return false
}
