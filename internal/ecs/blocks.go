package ecs

import (
	"slices"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
)

// block is the encoding of one object of a document, remembered to be
// appended again verbatim for the next alert whose inputs are the same: a
// storm's alerts share their process, ancestry and host objects. The
// bytes depend on the inputs and on whether a comma precedes the object;
// an encoding that noted a cut or a replaced byte is never remembered (a
// note names the field, and must come out of every alert).
type block struct {
	valid  bool
	comma  bool
	out    []byte
	fields int // the fields it adds at its level
}

// replay appends b if it is valid for the writer's position.
func (w *writer) replay(b *block) bool {
	comma := w.n[w.depth] > 0
	if !b.valid || b.comma != comma {
		return false
	}
	w.b = append(w.b, b.out...)
	w.n[w.depth] += b.fields
	return true
}

// encode runs enc at the writer's position and remembers what it wrote
// in b, unless it noted anything.
func (w *writer) encode(b *block, enc func()) {
	comma := w.n[w.depth] > 0
	at, n0, nt, nl := len(w.b), w.n[w.depth], len(w.truncated), len(w.lossy)
	enc()
	b.valid = len(w.truncated) == nt && len(w.lossy) == nl
	if b.valid {
		b.comma, b.fields = comma, w.n[w.depth]-n0
		b.out = append(b.out[:0], w.b[at:]...)
	}
}

// cached appends b if it is valid here, else encodes it with enc.
func (w *writer) cached(b *block, enc func()) {
	if !w.replay(b) {
		w.encode(b, enc)
	}
}

// procBlocks are the encodings that depend only on an alert's process,
// parent and ancestors: process.* and auditd.process.*. The inputs are
// kept as copies whose slices are their own (strings are immutable; a
// slice's owner could reuse its array).
type procBlocks struct {
	proc, parent auditevent.Process
	hasParent    bool
	ancestors    []auditevent.Process
	process      block // process.*
	ancestry     block // auditd.process.*
}

// maxProcBlocks bounds the processes an Encoder remembers the blocks of.
const maxProcBlocks = 4

// procBlocksFor returns the remembered blocks of a's process, parent and
// ancestors, starting a new set (replacing the oldest) when none match.
func (e *Encoder) procBlocksFor(a *detections.Alert) *procBlocks {
	for _, pb := range e.procs {
		if pb.matches(a) {
			return pb
		}
	}
	var pb *procBlocks
	if len(e.procs) < maxProcBlocks {
		pb = &procBlocks{}
		e.procs = append(e.procs, pb)
	} else {
		pb = e.procs[e.nextProc]
		e.nextProc = (e.nextProc + 1) % maxProcBlocks
	}
	pb.set(a)
	return pb
}

func (pb *procBlocks) matches(a *detections.Alert) bool {
	if a.Parent != nil != pb.hasParent || len(a.Ancestors) != len(pb.ancestors) {
		return false
	}
	if !equalProcess(&a.Process, &pb.proc) || a.Parent != nil && !equalProcess(a.Parent, &pb.parent) {
		return false
	}
	for i := range a.Ancestors {
		if !equalProcess(&a.Ancestors[i], &pb.ancestors[i]) {
			return false
		}
	}
	return true
}

// set makes pb the (not yet encoded) blocks of a's processes.
func (pb *procBlocks) set(a *detections.Alert) {
	pb.proc = cloneProcess(&a.Process)
	pb.hasParent = a.Parent != nil
	pb.parent = auditevent.Process{}
	if a.Parent != nil {
		pb.parent = cloneProcess(a.Parent)
	}
	pb.ancestors = pb.ancestors[:0]
	for i := range a.Ancestors {
		pb.ancestors = append(pb.ancestors, cloneProcess(&a.Ancestors[i]))
	}
	pb.process.valid, pb.ancestry.valid = false, false
}

// equalProcess reports whether every field of p and q is equal.
func equalProcess(p, q *auditevent.Process) bool {
	return p.PID == q.PID && p.PPID == q.PPID && p.UID == q.UID && p.AUID == q.AUID &&
		p.StartMilli == q.StartMilli && p.ArgsFromExec == q.ArgsFromExec &&
		p.Exe == q.Exe && p.Comm == q.Comm && p.Cwd == q.Cwd &&
		slices.Equal(p.Args, q.Args) && slices.Equal(p.Title, q.Title)
}

func cloneProcess(p *auditevent.Process) auditevent.Process {
	q := *p
	q.Args, q.Title = slices.Clone(p.Args), slices.Clone(p.Title)
	return q
}
