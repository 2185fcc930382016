package detections

import (
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/toolargs"
)

// ModuleLoadLocationID is the stable id of E4.
const ModuleLoadLocationID = "kernel-module-load-unusual-location"

// unusualDirs are E4's working directory prefixes.
var unusualDirs = []string{"/tmp*", "/var/tmp*", "/dev/shm*", "/run*", "/var/run*", "/home*/*", "/root*", "/var/www*",
	"/boot*", "/srv*", "/mnt*", "/media*"}

// unusualArgs are E4's argument patterns.
var unusualArgs = []string{"/tmp/*", "/var/tmp/*", "/dev/shm/*", "/run/*", "/var/run/*", "/home/*/*", "/root/*", "/var/www/*",
	"/boot/*", "/srv/*", "/mnt/*", "/media/*", "./*"}

// E4Exclusions is E4's list, as shipped.
func E4Exclusions() []Exclusion {
	return []Exclusion{
		{Reason: "container-build", Source: "E4", Require: []string{RequirePackage}, ParentExe: []string{"/usr/bin/podman"},
			Note: "podman package-owned and unchanged"},
		{Reason: "container-build", Source: "E4", Cwd: []string{"/tmp/newroot"}, Ancestor: []string{"/usr/bin/podman", "/usr/bin/buildah"},
			Note: "the vendor's exact /tmp/newroot (it had been widened to /tmp/newroot*), and only under a package-owned podman or buildah: anybody can create the directory"},
	}
}

// moduleLoadLocation is E4: insmod/modprobe run from, or given a file in,
// a world-writable or user location; and beyond E4, any module load
// syscall made by a program living in one.
type moduleLoadLocation struct {
	def        Definition
	exclusions []Exclusion
}

func newModuleLoadLocation(extra []Exclusion) *moduleLoadLocation {
	return &moduleLoadLocation{
		def: Definition{
			ID:   ModuleLoadLocationID,
			Name: "Kernel Module Load from Unusual Location",
			Description: "insmod or modprobe ran with its working directory, its parent's working directory or a " +
				"module argument in /tmp, /dev/shm, /run, a home directory, /root, /var/www, /boot, /srv, /mnt or " +
				"/media (or ./), or a program in such a place called init_module/finit_module itself, or any program " +
				"loaded a module file from such a place (named by the kernel's IMA record, the loader's fd or open, or " +
				"a custom loader's argument). The parent's working directory is the one the process table knew at its last exec.",
			Severity: High, RiskScore: 73, Threat: T1547006,
			Covers: []string{"E4"},
			Needs:  []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_EXECVE, auparse.AUDIT_CWD},
		},
		exclusions: append(E4Exclusions(), extra...),
	}
}

func (r *moduleLoadLocation) Definition() *Definition { return &r.def }

func (r *moduleLoadLocation) Evaluate(dst []Alert, in *Input) []Alert {
	ev := in.Event
	if !ev.HasSyscall {
		return dst
	}
	var whyA, whyB string // why = whyA + whyB
	var loaded string     // the module file a load read, when it is the why
	var proc auditevent.Process
	var parent *auditevent.Process
	var kc *toolargs.Kmod
	switch {
	case successfulExec(ev):
		if !mayBeKmod(ev) {
			return dst
		}
		proc, parent = in.Actor()
		inv := kmodInvocation(&proc)
		if !inv.Loads() {
			return dst
		}
		kc = &inv
		// What the run loads from: its module (a file), -C files, the
		// -d module tree; never a module parameter.
		if arg, ok := firstUnusualArg(&inv); ok {
			whyA, whyB = "module argument ", arg
		}
		if whyA == "" && anyGlob(unusualDirs, proc.Cwd) {
			whyA, whyB = "working directory ", proc.Cwd
		}
		if whyA == "" && parent != nil && anyGlob(unusualDirs, parent.Cwd) {
			whyA, whyB = "parent working directory ", parent.Cwd
		}
	case isModuleLoadSyscall(ev.Syscall.Name):
		if anyGlob(unusualArgs, ev.Syscall.Exe) || !trustedLocation(ev.Syscall.Exe) {
			proc, parent = in.Actor()
			whyA, whyB = "loader executable ", orUnknown(proc.Exe)
			break
		}
		// A program in a usual place (python3, perl, a loader dropped in
		// /usr/local/bin) loading a file from an unusual one, as the
		// kernel's IMA record, the loader's fd or its open tells. A kmod
		// tool's own argument is E4's exec case above.
		ml := in.Facts.Load
		if ml == nil || ml.File == "" || !anyGlob(unusualArgs, ml.File) {
			return dst
		}
		proc, parent = in.Actor()
		if ml.FileSource == correlate.FileFromArgv && toolargs.ParseKmod(proc.Exe, proc.Comm, proc.Args).Op != toolargs.NotKmod {
			return dst
		}
		whyA, whyB, loaded = "module file ", ml.File, ml.File
	default:
		return dst
	}
	if whyA == "" {
		return dst
	}
	dst = append(dst, newAlert(&r.def, ev, proc, parent))
	a := &dst[len(dst)-1]
	a.Category, a.Type, a.Action = categoryProcessDriver, typeStart, "load-module-unusual-location"
	if isModuleLoadSyscall(ev.Syscall.Name) {
		a.Action = "loaded-kernel-module"
	}
	if ko := in.koArgument(); ko != "" {
		a.File = &File{Path: ko}
	} else if loaded != "" {
		a.File = &File{Path: strings.TrimSuffix(loaded, " (deleted)")}
	}
	var m *joinMemo
	if in.memo != nil {
		m = &in.memo.locationReason
	}
	a.Reason = m.join("kernel module load from an unusual location: ", whyA, whyB)
	s := subjectOf(&proc, parent, in.State)
	if kc != nil {
		s.setKmod(kc)
	}
	s.setFile(a.File)
	suppress(a, r.exclusions, &s)
	return dst
}

// firstUnusualArg returns the first of inv's modules, -C files and -d
// module tree, in that order, in an unusual place.
func firstUnusualArg(inv *toolargs.Kmod) (string, bool) {
	for _, l := range [...][]string{inv.Modules, inv.Configs, {inv.Dirname}} {
		for _, arg := range l {
			if arg != "" && anyGlob(unusualArgs, arg) {
				return arg, true
			}
		}
	}
	return "", false
}
