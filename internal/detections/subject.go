package detections

import (
	"path"
	"strconv"
	"strings"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/toolargs"
)

// actorMemo returns the acting process of ev, completed from the
// correlation state where the event lacks it (no PROCTITLE or EXECVE in
// the event), and its parent when the state knows it (Input.Actor). It
// returns the parent m returned last time when it is the same (a storm of
// events by one process): alerts share it, and nothing modifies an
// alert's parent. m may be nil.
func actorMemo(ev *auditevent.Event, st State, m *evalMemo) (auditevent.Process, *auditevent.Process) {
	p := ev.Process()
	if st == nil || p.PID == 0 {
		return p, nil
	}
	if known, ok := st.Process(p.PID); ok {
		// The exec's own argv (EXECVE) outranks a PROCTITLE the process
		// may have rewritten since (to look like a kernel thread, or name
		// an innocent module; the kernel also cuts it at 128 bytes); a
		// title that says otherwise stays beside the arguments. The
		// table's arguments are taken only for the same program: an exec
		// the table missed would lend the new image the old one's argv.
		sameImage := p.Exe == "" || known.Exe == p.Exe
		if len(p.Args) == 0 && sameImage {
			p.Args, p.ArgsFromExec = known.Args, known.ArgsFromExec
		} else if len(p.Args) > 0 && !p.ArgsFromExec && known.ArgsFromExec && len(known.Args) > 0 && sameImage {
			if auditevent.TitleDiffers(known.Args, p.Args) {
				p.Title = p.Args
			}
			p.Args, p.ArgsFromExec = known.Args, true
		}
		if p.Exe == "" {
			p.Exe = known.Exe
		}
		if p.Cwd == "" {
			p.Cwd = known.Cwd
		}
		p.StartMilli = known.StartMilli
	}
	if p.PPID == 0 {
		return p, nil
	}
	par, ok := st.Parent(p.PID)
	if !ok {
		par = auditevent.Process{PID: p.PPID}
	}
	if m != nil && m.parent != nil && sameProcessValue(m.parent, &par) {
		return p, m.parent
	}
	pp := new(auditevent.Process) // it goes with the alerts
	*pp = par
	if m != nil {
		m.parent = pp
	}
	return p, pp
}

// sameProcessValue reports whether a and b hold the same process, the
// same arguments slice included. It compares every field of Process
// (TestSameProcessValueComparesEveryField fails when one is added).
func sameProcessValue(a, b *auditevent.Process) bool {
	return a.PID == b.PID && a.PPID == b.PPID && a.Exe == b.Exe && a.Comm == b.Comm && a.Cwd == b.Cwd &&
		a.UID == b.UID && a.AUID == b.AUID && a.StartMilli == b.StartMilli && a.ArgsFromExec == b.ArgsFromExec &&
		len(a.Args) == len(b.Args) && (len(a.Args) == 0 || &a.Args[0] == &b.Args[0]) &&
		len(a.Title) == len(b.Title) && (len(a.Title) == 0 || &a.Title[0] == &b.Title[0])
}

// subjectOf is what exclusions match for process p (and its parent): st,
// which may be nil, gives the ancestry some requirements look at.
func subjectOf(p *auditevent.Process, parent *auditevent.Process, st State) Subject {
	s := Subject{Exe: p.Exe, Name: auditevent.BaseName(p.Exe), Invoked: p.Name(), Cwd: p.Cwd, Args: p.Args, st: st, pid: p.PID}
	if s.Name == "" {
		s.Name = p.Comm
	}
	s.Script, s.scriptFromExec = scriptOf(p), p.ArgsFromExec
	if parent != nil {
		s.ParentExe, s.ParentName, s.ParentArgs, s.ParentCwd = parent.Exe, auditevent.BaseName(parent.Exe), parent.Args, parent.Cwd
		s.ParentScript, s.parentScriptFromExec = scriptOf(parent), parent.ArgsFromExec
	}
	return s
}

// setKmod fills the parsed kmod criteria of s.
func (s *Subject) setKmod(k *toolargs.Kmod) {
	s.Modules = k.Modules
	s.Options = make([]string, 0, len(k.Opts)+1)
	for _, o := range k.Opts {
		if o.Name != "?" {
			s.Options = append(s.Options, o.Name)
		}
	}
	if k.DashDash {
		s.Options = append(s.Options, "--")
	}
}

// isInterpreter reports whether an executable's basename is a script
// interpreter: its own identity says nothing about what it runs.
func isInterpreter(name string) bool {
	switch name {
	case "sh", "bash", "dash", "ash", "ksh", "mksh", "zsh", "busybox", "perl", "ruby", "php", "node", "lua", "tclsh", "awk", "gawk", "mawk":
		return true
	}
	for _, p := range []string{"python", "platform-python", "perl5", "ruby", "php", "lua", "pypy"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// scriptOf returns the script file an interpreter process runs: the
// first argument after the interpreter's options, made absolute against
// its working directory. Code given inline (-c, -e, -E, -m, -r, -x,
// --command) or on stdin runs no file: "".
func scriptOf(p *auditevent.Process) string {
	if !isInterpreter(auditevent.BaseName(p.Exe)) || len(p.Args) < 2 {
		return ""
	}
	for _, a := range p.Args[1:] {
		switch {
		case a == "-" || a == "--":
			return ""
		case strings.HasPrefix(a, "--"):
			if a == "--command" || strings.HasPrefix(a, "--eval") {
				return ""
			}
			continue
		case strings.HasPrefix(a, "-") || strings.HasPrefix(a, "+"):
			if strings.ContainsAny(a[1:], "ceEmrx") {
				return "" // inline code, a module, or a command string
			}
			continue
		}
		if strings.HasPrefix(a, "/") {
			return path.Clean(a)
		}
		if strings.HasPrefix(p.Cwd, "/") {
			return path.Join(p.Cwd, a)
		}
		return ""
	}
	return ""
}

// newAlert fills what every alert of rule d for ev has in common.
func newAlert(d *Definition, ev *auditevent.Event, p auditevent.Process, parent *auditevent.Process) Alert {
	return Alert{Rule: d, Event: ev, Severity: d.Severity, RiskScore: d.RiskScore, Process: p, Parent: parent}
}

// suppress sets a.Suppressed to the first matching exclusion's reason,
// or a.ExclusionRefused when an exclusion matched by its criteria but its
// requirements were not proven.
func suppress(a *Alert, xs []Exclusion, s *Subject) {
	if a.Event != nil && a.Event.Node != "" {
		s.otherHost = true
	}
	reason, refused := matchExclusions(xs, s)
	if reason != "" {
		a.Suppressed = reason
		return
	}
	a.ExclusionRefused = refused
}

// setFile fills the file criteria of s from the alert's file, if any.
func (s *Subject) setFile(f *File) {
	if f == nil || f.Path == "" {
		return
	}
	s.Path, s.FileName = f.Path, auditevent.BaseName(f.Path)
	s.Extension = Extension(s.FileName)
}

// uringExe stands for the executable of an io_uring operation whose
// process is no longer known: a URINGOP record names no executable, so an
// empty Exe there says nothing about a kernel thread, and an exclusion of
// events "without an executable" must not apply (a program that writes
// through io_uring and exits would otherwise always be excluded). It is
// no path, so no executable or trusted-name exclusion matches it either.
const uringExe = "(io_uring operation, executable unknown)"

// fileSubject is the subject of a file detection: the actor (uringExe for
// an io_uring event whose executable is unknown), the file at where (none
// when empty) and, for a rename, the extension of its source original.
func fileSubject(p, parent *auditevent.Process, st State, ev *auditevent.Event, where, original string) Subject {
	s := subjectOf(p, parent, st)
	if s.Exe == "" && ev.HasSyscall && ev.Syscall.IsURing {
		s.Exe = uringExe
	}
	if where != "" {
		s.Path, s.FileName = where, auditevent.BaseName(where)
		s.Extension = Extension(s.FileName)
	}
	if original != "" {
		s.OriginalExtension = Extension(auditevent.BaseName(original))
	}
	return s
}

// uringNote says how an io_uring event did what the reason describes.
func uringNote(ev *auditevent.Event) string {
	op := auditevent.URingOpName(ev.Syscall.URingOp)
	if op == "" {
		op = "operation " + strconv.Itoa(ev.Syscall.URingOp)
	}
	note := " through io_uring (IORING_OP_" + strings.ToUpper(op) + ", no system call; the file is named from its inode"
	if op == "openat" || op == "openat2" {
		note += "; the record does not say whether it was opened for writing"
	}
	return note + ")"
}
