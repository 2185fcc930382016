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
	// Title is the event's PROCTITLE when it disagrees with the exec's
	// Args (the process rewrote its title, or kept one across a fork);
	// nil otherwise.
	Title []string
}

// Name is the process name as ECS wants it. The record's comm (the name
// the kernel gave the task, from the file exec'd, cut to CommLen bytes) is
// what the process was called at the event; the basename of argv[0] gives
// it in full when comm is cut from it (kmod tools are symlinks to one
// binary: argv[0] "insmod", comm "insmod", exe kmod). When argv[0] names
// another program, comm wins: the arguments are the process's memory (a
// PROCTITLE), inherited across a fork without exec (busybox's shell runs
// insmod so: comm "insmod", proctitle "/bin/sh /init") or rewritten by the
// process, or an argv[0] chosen by whoever called exec. The exception is a
// script run by its interpreter (comm is the script's name, argv[1] or
// argv[2] its path): the interpreter's name stays, as before.
func (p *Process) Name() string {
	if len(p.Args) == 0 || p.Args[0] == "" {
		return p.Comm
	}
	a0 := BaseName(p.Args[0])
	if p.Comm == "" || commOf(a0) == p.Comm {
		return a0
	}
	for _, a := range p.Args[1:min(3, len(p.Args))] {
		if commOf(BaseName(a)) == p.Comm {
			return a0 // binfmt_script: [interpreter, (option,) script, ...]
		}
	}
	return p.Comm
}

// CommLen is the longest comm the kernel keeps (TASK_COMM_LEN - 1).
const CommLen = 15

// commOf is the comm the kernel derives from a file name.
func commOf(name string) string {
	if len(name) > CommLen {
		return name[:CommLen]
	}
	return name
}

// BaseName returns the last element of a slash-separated path (the whole
// string when it has no slash).
func BaseName(s string) string {
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

// MaxProctitle is the most of a command line a PROCTITLE record holds
// (the kernel's MAX_PROCTITLE_AUDIT_LEN).
const MaxProctitle = 128

// TitleDiffers reports whether a PROCTITLE (title) says something else
// than the exec's arguments: not the same strings, and not their first
// MaxProctitle bytes either (the kernel cuts long titles).
func TitleDiffers(exec, title []string) bool {
	if len(title) == 0 || len(exec) == 0 {
		return false
	}
	// As if both were joined with NUL bytes, without building the joins.
	le, lt := joinedLen(exec), joinedLen(title)
	if le == lt && joinedPrefixEqual(exec, title, lt) {
		return false
	}
	return !(lt >= MaxProctitle-1 && le > lt && joinedPrefixEqual(exec, title, lt))
}

// joinedLen is the length of ss joined with NUL bytes.
func joinedLen(ss []string) int {
	n := len(ss) - 1
	for _, s := range ss {
		n += len(s)
	}
	return n
}

// joinedPrefixEqual reports whether a and b, each joined with NUL bytes,
// have the same first n bytes; n is at most either's joinedLen.
func joinedPrefixEqual(a, b []string, n int) bool {
	ca, cb := joinCursor{ss: a, rest: a[0]}, joinCursor{ss: b, rest: b[0]}
	for n > 0 {
		pa, pb := ca.chunk(), cb.chunk()
		m := min(len(pa), len(pb), n)
		if m == 0 || pa[:m] != pb[:m] {
			return false
		}
		ca.consume(m)
		cb.consume(m)
		n -= m
	}
	return true
}

// joinCursor walks a []string as if it were joined with NUL bytes: the
// rest of element i, then the separator before element i+1.
type joinCursor struct {
	ss   []string
	i    int
	rest string
}

// nul is the separator chunk.
const nul = "\x00"

// chunk returns the bytes up to the next element boundary ("" at the end).
func (c *joinCursor) chunk() string {
	if c.rest != "" {
		return c.rest
	}
	if c.i < len(c.ss)-1 {
		return nul
	}
	return ""
}

// consume moves past m bytes of the current chunk.
func (c *joinCursor) consume(m int) {
	if c.rest != "" {
		c.rest = c.rest[m:]
		return
	}
	c.i++
	c.rest = c.ss[c.i]
}
