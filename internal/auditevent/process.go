package auditevent

// Process is what is known of one process: from the event itself, or from
// the correlation state's process table for parents and ancestors.
type Process struct {
	PID        int
	PPID       int
	Exe        string
	Comm       string
	Args       []string
	Cwd        string
	UID, AUID  uint32
	StartMilli int64 // start time in ms since the epoch, 0 if unknown
	// ArgsFromExec says Args come from an EXECVE record of the exec that
	// started the image: what the kernel copied at exec, which the process
	// cannot change. Otherwise they come from PROCTITLE or
	// /proc/PID/cmdline, which show the process's argv memory as it is
	// now: a process can rewrite it (perl's $0, setproctitle).
	ArgsFromExec bool
}

// Name is the process name as ECS wants it: the basename of argv0 when
// known (kmod tools are symlinks to one binary), else comm.
func (p *Process) Name() string {
	if len(p.Args) > 0 && p.Args[0] != "" {
		return baseName(p.Args[0])
	}
	return p.Comm
}

func baseName(s string) string {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return s[i+1:]
		}
	}
	return s
}

// Process returns the acting process as the event describes it.
func (e *Event) Process() Process {
	if !e.HasSyscall {
		return Process{}
	}
	s := &e.Syscall
	return Process{
		PID: s.PID, PPID: s.PPID, Exe: s.Exe, Comm: s.Comm,
		Args: e.Args(), Cwd: e.Cwd, UID: s.UID, AUID: s.AUID,
		ArgsFromExec: e.HasExecve,
	}
}
