package ecs

import (
	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
)

// initPID is the pid of init, the root of every process tree on a host
// (or in a pid namespace).
const initPID = 1

// entryLeader returns the ancestor chain's entry leader: the process whose
// parent is init, the service or session that everything below it runs
// in (ECS: "a service directly started by the init process"). It is only
// reported when the chain is known all the way up to init; self reports
// the alert's own process is the entry leader.
func entryLeader(a *detections.Alert) (leader *auditevent.Process, self bool) {
	anc := a.Ancestors
	if len(anc) == 0 || anc[len(anc)-1].PID != initPID {
		return nil, false
	}
	if len(anc) == 1 {
		return &a.Process, true
	}
	return &anc[len(anc)-2], false
}

// appendEntryLeader writes process.entry_leader.*.
func appendEntryLeader(w *writer, a *detections.Alert) {
	l, self := entryLeader(a)
	if l == nil || l.PID <= 0 {
		return
	}
	w.open("entry_leader")
	appendProcessIdentity(w, l)
	appendProcessStart(w, l)
	w.bool("same_as_process", self)
	if l.PPID > 0 {
		w.open("parent")
		w.int("pid", int64(l.PPID))
		w.close()
	}
	w.close()
}

// appendAncestry writes auditd.process.ancestry: every known ancestor,
// parent first, by pid, ppid, executable, name and start (the parent's
// arguments and cwd are in process.parent), and whether the chain reaches
// init.
func appendAncestry(w *writer, a *detections.Alert) {
	if len(a.Ancestors) == 0 {
		return
	}
	w.open("process")
	w.objects("ancestry", len(a.Ancestors), func(i int) {
		p := &a.Ancestors[i]
		appendProcessIdentity(w, p)
		appendProcessStart(w, p)
		if p.PPID > 0 {
			w.int("ppid", int64(p.PPID))
		}
	})
	w.bool("ancestry_complete", a.Ancestors[len(a.Ancestors)-1].PID == initPID)
	w.close()
}

// appendRelated writes auditd.related: the earlier events a correlating
// detection linked (ECS has no field for linked events; related.* holds
// only hosts, ips, users and hashes).
func appendRelated(w *writer, a *detections.Alert) {
	if len(a.Related) == 0 {
		return
	}
	w.objects("related", len(a.Related), func(i int) {
		r := &a.Related[i]
		w.str("role", r.Role)
		w.int("sequence", int64(r.Serial))
		if t, ok := unixMilli(r.AtMilli); ok && r.AtMilli > 0 {
			w.field("timestamp")
			w.b = appendTime(w.b, t)
		}
		w.str("syscall", r.Syscall)
		w.str("match", r.Match)
		w.str("linked_by", r.LinkedBy)
		w.strs("modules", r.Modules)
		if r.Path != "" {
			w.open("file")
			w.str("path", r.Path)
			if r.SHA256 != "" {
				w.open("hash")
				w.str("sha256", r.SHA256)
				w.close()
			}
			w.close()
		}
		w.open("process")
		appendProcessFields(w, &r.Process)
		if r.Process.PPID > 0 {
			w.int("ppid", int64(r.Process.PPID))
		}
		if r.Process.PID > 0 && r.Process.UID != auditevent.Unset {
			w.uintStr("uid", uint64(r.Process.UID))
		}
		if r.Process.PID > 0 && r.Process.AUID != auditevent.Unset {
			w.uintStr("auid", uint64(r.Process.AUID))
		}
		w.close()
	})
}

// appendFirstSeen writes auditd.first_seen: the values seen for the first
// time on this host.
func appendFirstSeen(w *writer, a *detections.Alert) {
	if len(a.FirstSeen) == 0 {
		return
	}
	w.objects("first_seen", len(a.FirstSeen), func(i int) {
		v := &a.FirstSeen[i]
		w.str("kind", v.Kind)
		w.str("value", v.Value)
	})
}
