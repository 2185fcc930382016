package auditevent

import "github.com/elastic/go-libaudit/v2/auparse"

// URingOps maps IORING_OP_* numbers (include/uapi/linux/io_uring.h; kernel
// ABI, it only grows) to the names audit-userspace uses for them.
var URingOps = [...]string{
	"nop", "readv", "writev", "fsync", "read_fixed", "write_fixed", "poll_add", "poll_remove",
	"sync_file_range", "sendmsg", "recvmsg", "timeout", "timeout_remove", "accept", "async_cancel",
	"link_timeout", "connect", "fallocate", "openat", "close", "files_update", "statx", "read",
	"write", "fadvise", "madvise", "send", "recv", "openat2", "epoll_ctl", "splice",
	"provide_buffers", "remove_buffers", "tee", "shutdown", "renameat", "unlinkat", "mkdirat",
	"symlinkat", "linkat", "msg_ring", "fsetxattr", "setxattr", "fgetxattr", "getxattr", "socket",
	"uring_cmd", "send_zc", "sendmsg_zc",
}

// URingOpName returns the name of an io_uring operation number, "" when
// unknown.
func URingOpName(op int) string {
	if op >= 0 && op < len(URingOps) {
		return URingOps[op]
	}
	return ""
}

// uringSyscall names the system call whose effect an io_uring file
// operation has: the detections read Syscall.Name. IORING_OP_RENAMEAT
// takes renameat2's flags.
var uringSyscall = map[int]string{
	18: "openat", 28: "openat2", 35: "renameat2", 36: "unlinkat", 37: "mkdirat", 38: "symlinkat",
	39: "linkat", 41: "fsetxattr", 42: "setxattr", 17: "fallocate",
}

// URingSyscallName returns the system call an io_uring operation stands
// for ("renameat2" for IORING_OP_RENAMEAT), or "io_uring_<op>" for one
// without a file-system equivalent.
func URingSyscallName(op int) string {
	if s, ok := uringSyscall[op]; ok {
		return s
	}
	if n := URingOpName(op); n != "" {
		return "io_uring_" + n
	}
	return "io_uring_op"
}

// uringRecord decodes a URINGOP record (type 1336): the kernel writes one
// instead of SYSCALL for an io_uring operation that matched a rule on the
// io_uring list (or beside the SYSCALL record of io_uring_enter when the
// operation ran inline). It carries uring_op, success, exit, items, ppid,
// pid, the uids and gids, subj and key; no arch, arguments, auid, session,
// comm or exe. The operation replaces the syscall's name and number (the
// PATH records of the event belong to the operation); what a SYSCALL record
// of the same event said about the process (comm, exe, auid) is kept.
func (e *Event) uringRecord(body []byte) {
	s := &e.Syscall
	if !e.HasSyscall {
		s.AUID, s.Session, s.UID, s.GID, s.EUID, s.SUID, s.FSUID, s.EGID = Unset, Unset, Unset, Unset, Unset, Unset, Unset, Unset
	}
	e.HasSyscall = true
	s.IsURing, s.URingOp = true, -1
	var sc Scanner
	sc.Reset(body)
	for n := 0; n < MaxFields && sc.Next(); n++ {
		f := &sc.Field
		switch string(f.Key) {
		case "uring_op":
			s.URingOp = atoiDefault(f.Value, -1)
		case "items", "ppid", "pid", "uid", "gid", "euid", "suid", "fsuid", "egid", "success", "exit":
			e.syscallField(s, f)
		case "subj", "key":
			e.syscallField(s, f)
		}
	}
	s.Number = -1
	s.Name = URingSyscallName(s.URingOp)
}

// isURingRecord reports the URINGOP type.
func isURingRecord(t auparse.AuditMessageType) bool { return t == auparse.AUDIT_URINGOP }
