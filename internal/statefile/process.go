package statefile

import "github.com/auditlkm/auditlkm/internal/auditevent"

// Process is an auditevent.Process as the state files keep it: its
// strings as Strings (any bytes survive JSON).
type Process struct {
	PID   int      `json:"pid"`
	PPID  int      `json:"ppid,omitempty"`
	Exe   String   `json:"exe,omitempty"`
	Comm  String   `json:"comm,omitempty"`
	Args  []String `json:"args,omitempty"`
	Cwd   String   `json:"cwd,omitempty"`
	UID   uint32   `json:"uid"`
	AUID  uint32   `json:"auid"`
	Start int64    `json:"start_ms,omitempty"`
}

// FromProcess converts p for a state file.
func FromProcess(p *auditevent.Process) Process {
	return Process{PID: p.PID, PPID: p.PPID, Exe: String(p.Exe), Comm: String(p.Comm), Args: Strings(p.Args),
		Cwd: String(p.Cwd), UID: p.UID, AUID: p.AUID, Start: p.StartMilli}
}

// Process converts s back from a state file.
func (s *Process) Process() auditevent.Process {
	return auditevent.Process{PID: s.PID, PPID: s.PPID, Exe: string(s.Exe), Comm: string(s.Comm), Args: Plain(s.Args),
		Cwd: string(s.Cwd), UID: s.UID, AUID: s.AUID, StartMilli: s.Start}
}
