package detections

import (
	"strings"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/toolargs"
)

// kmodInvocation parses p's command line with the kmod tools' own
// grammar (internal/toolargs, shared with the correlation of loads).
func kmodInvocation(p *auditevent.Process) toolargs.Kmod {
	return toolargs.ParseKmod(p.Exe, p.Comm, p.Args)
}

// mayBeKmod is the cheap test of an exec event before parsing: comm or
// argv[0] is a kmod tool, kmod or busybox.
func mayBeKmod(ev *auditevent.Event) bool {
	c := ev.Syscall.Comm
	return toolargs.IsTool(c) || c == "kmod" || strings.HasPrefix(c, "busybox") || toolargs.IsTool(argv0Name(ev)) ||
		strings.HasSuffix(ev.Syscall.Exe, "/kmod")
}

// kernelAutoload reports whether p is modprobe run by the kernel as a
// usermode helper (request_module): argv "<modprobe_path> -q -- <name>",
// no login uid, and a parent that is a kernel thread: kthreadd (ppid 2,
// what call_usermodehelper's CLONE_PARENT gives on current kernels) or a
// process the correlation state knows as a kernel worker (no executable,
// comm kworker/khelper, as old kernels fork the helper). A parent the
// state does not know is not assumed to be the kernel: anybody without a
// login session can type the same command line. It returns the module.
func kernelAutoload(p *auditevent.Process, parent *auditevent.Process) (string, bool) {
	if p.AUID != auditevent.Unset || len(p.Args) != 4 || p.Args[1] != "-q" || p.Args[2] != "--" {
		return "", false
	}
	if auditevent.BaseName(p.Args[0]) != "modprobe" && p.Comm != "modprobe" {
		return "", false
	}
	ppid := p.PPID
	if parent != nil && parent.PID > 0 {
		ppid = parent.PID
	}
	if ppid != 2 && (parent == nil || !kernelThread(parent)) {
		return "", false
	}
	return p.Args[3], true
}

// kernelThread reports whether q is known as a kernel thread: no
// executable or argv, and a kernel worker's name.
func kernelThread(q *auditevent.Process) bool {
	if q.Exe != "" || len(q.Args) > 0 {
		return false
	}
	return strings.HasPrefix(q.Comm, "kworker") || strings.HasPrefix(q.Comm, "khelper") || q.Comm == "kthreadd"
}

// KmodExec returns the event document of a successful exec of a kmod
// tool, whatever it does (loads, removals, queries, modinfo, depmod,
// lsmod): event.category process, type start, action "exec", as
// Elastic's process events are, so that hunt H2's query over kmod
// arguments selects it. It is not an alert: Rule is nil.
func KmodExec(in *Input) (Alert, bool) {
	ev := in.Event
	if ev == nil || !successfulExec(ev) || !mayBeKmod(ev) {
		return Alert{}, false
	}
	proc, parent := in.Actor()
	if k := kmodInvocation(&proc); k.Op == toolargs.NotKmod {
		return Alert{}, false
	}
	a := Alert{Event: ev, Process: proc, Parent: parent, Category: []string{"process"}, Type: []string{"start"}, Action: "exec"}
	if ko := koArgument(&proc); ko != "" {
		a.File = &File{Path: ko}
	}
	return a, true
}
