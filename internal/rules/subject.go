package rules

import "github.com/auditlkm/auditlkm/internal/auditevent"

// actor returns the acting process of ev, completed from the correlation
// state where the event lacks it (no PROCTITLE or EXECVE in the event), and
// its parent when the state knows it.
func actor(ev *auditevent.Event, st State) (auditevent.Process, *auditevent.Process) {
	p := ev.Process()
	if st == nil || p.PID == 0 {
		return p, nil
	}
	if known, ok := st.Process(p.PID); ok {
		if len(p.Args) == 0 {
			p.Args = known.Args
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
	if par, ok := st.Parent(p.PID); ok {
		return p, &par
	}
	return p, &auditevent.Process{PID: p.PPID}
}

func subjectOf(p *auditevent.Process, parent *auditevent.Process) Subject {
	s := Subject{Exe: p.Exe, Name: BaseName(p.Exe), Invoked: p.Name(), Cwd: p.Cwd, Args: p.Args}
	if s.Name == "" {
		s.Name = p.Comm
	}
	if parent != nil {
		s.ParentExe, s.ParentName, s.ParentArgs = parent.Exe, BaseName(parent.Exe), parent.Args
	}
	return s
}

// newAlert fills what every alert of rule d for ev has in common.
func newAlert(d *Definition, ev *auditevent.Event, p auditevent.Process, parent *auditevent.Process) Alert {
	return Alert{Rule: d, Event: ev, Severity: d.Severity, RiskScore: d.RiskScore, Process: p, Parent: parent}
}

// suppress sets a.Suppressed to the first matching exclusion's reason.
func suppress(a *Alert, xs []Exclusion, s *Subject) {
	if reason, ok := firstMatch(xs, s); ok {
		a.Suppressed = reason
	}
}

// setFile fills the file criteria of s from the alert's file, if any.
func (s *Subject) setFile(f *File) {
	if f == nil || f.Path == "" {
		return
	}
	s.Path, s.FileName = f.Path, BaseName(f.Path)
	s.Extension = Extension(s.FileName)
}
