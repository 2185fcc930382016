package detections

import "github.com/auditlkm/auditlkm/internal/auditevent"

// Syscall classes the detections test first, so that events that cannot
// match are dismissed before anything else is looked at. Names come from
// go-libaudit's per-architecture tables, so one list serves x86_64, i386
// and the other ABIs.

func isModuleLoadSyscall(name string) bool {
	return name == "finit_module" || name == "init_module"
}

func isExecSyscall(name string) bool {
	return name == "execve" || name == "execveat"
}

// isKexecSyscall: go-libaudit's i386 table names 283 "sys_kexec_load".
func isKexecSyscall(name string) bool {
	return name == "kexec_load" || name == "kexec_file_load" || name == "sys_kexec_load"
}

// successfulExec reports whether ev is a completed execve.
func successfulExec(ev *auditevent.Event) bool {
	return ev.HasSyscall && isExecSyscall(ev.Syscall.Name) && ev.Syscall.Success != auditevent.SuccessNo
}

// Open flags as the kernel logs them in a1 (open) or a2 (openat).
const (
	oAccMode = 0o3
	oCreat   = 0o100
	oTrunc   = 0o1000
)

// writeKind says how a syscall touched a NORMAL (pre-existing) PATH item.
type writeKind uint8

const (
	writeNone writeKind = iota
	writeContent
	writeAttr
)

// normalWrite classifies the syscall of ev for its NORMAL path items: a
// write-open or truncate changes content, a chmod/chown/xattr/utime call
// changes attributes. Reads and everything else are writeNone.
//
// An io_uring open (IORING_OP_OPENAT/OPENAT2) counts as a write: its
// URINGOP record carries no open flags, and the programs that read module
// configuration (modprobe, systemd-modules-load, systemd-sysctl) do not
// read it through io_uring, so a watched file opened that way is treated
// as changed rather than missed (the alert says so).
func normalWrite(ev *auditevent.Event) writeKind {
	sc := &ev.Syscall
	if sc.IsURing {
		switch sc.Name {
		case "openat", "openat2":
			return writeContent
		}
		return writeNone
	}
	var flags uint64
	switch sc.Name {
	case "open":
		flags = sc.Args[1]
	case "openat":
		flags = sc.Args[2]
	case "creat", "truncate", "truncate64", "openat2", "open_by_handle_at":
		// openat2 passes its flags in a struct the record does not show.
		return writeContent
	case "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "fchownat", "lchown", "chown32",
		"fchown32", "lchown32", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
		"fremovexattr", "utime", "utimes", "utimensat", "futimesat", "setxattrat", "removexattrat":
		return writeAttr
	default:
		return writeNone
	}
	if flags&oAccMode != 0 || flags&(oTrunc|oCreat) != 0 {
		return writeContent
	}
	return writeNone
}
