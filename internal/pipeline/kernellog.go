package pipeline

import (
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/kmsg"
)

// The kernel prints its module lines ("loading out-of-tree module taints
// kernel.", "module verification failed: ...") inside load_module, before
// the syscall returns and its audit records are emitted: the line usually
// reaches the processor before the load's event. A kernel-log alert that
// could name a load but found none is held until the load comes (then it
// names the load's process, file and event) or KernelLogHold passes (then
// it goes out as it is), at most maxHeldKernelLog at once.
const (
	// KernelLogHold is how long a kernel-log alert waits for its load
	// (milliseconds on a real machine; a slow guest under emulation or a
	// module whose init takes its time need more).
	KernelLogHold = 5 * time.Second
	// maxHeldKernelLog bounds the alerts held; when full, the oldest goes
	// out untied.
	maxHeldKernelLog = 64
)

type heldKernelLog struct {
	a        detections.Alert
	deadline int64 // wall ms
}

// KernelLogStats count what became of the kernel-log alerts that waited
// for their load.
type KernelLogStats struct {
	Held    uint64 // alerts held for a load that had not come yet
	Tied    uint64 // held alerts whose load then came
	Expired uint64 // held alerts that went out without a load (hold elapsed, full, flush)
}

// KernelLog runs the kernel log detections over one kernel log line (from
// /dev/kmsg), tying it to the audit event of the same module load: one
// already seen, or one that comes within KernelLogHold. Like Push, it
// must be called from the processor's goroutine.
func (p *Processor) KernelLog(l *kmsg.Line) {
	for _, r := range p.rules.KernelLog {
		for _, a := range r.EvaluateKernelLog(l, &p.loads) {
			if a.Event == nil && a.KernelLogTie && a.Suppressed == "" && p.recent(l) {
				p.hold(a)
				continue
			}
			p.deliver(&a, p.state()) // the state gives a tied load's process its ancestry
		}
	}
}

// recent reports whether l was logged within KernelLogHold of now: an
// older line (the ring buffer's backlog at start) belongs to a load that
// came before, if any, and is not held for one to come.
func (p *Processor) recent(l *kmsg.Line) bool {
	return l.Time.IsZero() || p.now().Sub(l.Time) <= KernelLogHold
}

func (p *Processor) hold(a detections.Alert) {
	if len(p.held) >= maxHeldKernelLog {
		old := p.held[0]
		p.held = p.held[1:]
		p.expire(&old.a)
	}
	p.held = append(p.held, heldKernelLog{a: a, deadline: p.now().Add(KernelLogHold).UnixMilli()})
	p.klog.Held++
	p.m.kernelLog("held")
}

func (p *Processor) expire(a *detections.Alert) {
	p.klog.Expired++
	p.m.kernelLog("expired")
	p.emit(a)
}

// tieHeld gives the held alerts that belong to the load ld their load, and
// writes them.
func (p *Processor) tieHeld(ld *correlate.LoadContext, st detections.State) {
	kept := p.held[:0]
	for i := range p.held {
		h := &p.held[i]
		how := correlate.MatchLoad(h.a.KernelLogModule, ld)
		if how == "" {
			kept = append(kept, *h)
			continue
		}
		c := *ld
		c.Match = how
		detections.TieKernelLog(&h.a, &c)
		p.klog.Tied++
		p.m.kernelLog("tied")
		p.deliver(&h.a, st)
	}
	clear(p.held[len(kept):])
	p.held = kept
}

// expireHeld writes the held alerts whose hold ended by nowMs (all with
// all), untied.
func (p *Processor) expireHeld(nowMs int64, all bool) {
	n := 0
	for n < len(p.held) && (all || p.held[n].deadline <= nowMs) {
		p.expire(&p.held[n].a)
		n++
	}
	if n > 0 {
		clear(p.held[:n])
		p.held = append(p.held[:0], p.held[n:]...)
	}
}

// observeLoad keeps ev for the kernel-log correlation when it is a load
// (ml is the store's resolution of it), with its acting process as the
// detections resolved it, and ties the alerts waiting for it.
func (p *Processor) observeLoad(ev *auditevent.Event, ml *correlate.ModuleLoad, st detections.State) {
	if !correlate.IsModuleLoad(ev) {
		return
	}
	proc, parent := p.eval.Last().Actor()
	ld := p.loads.Observe(ev, ml, proc, parent)
	if ld != nil && len(p.held) > 0 {
		p.tieHeld(ld, st)
	}
}

// state is the correlation state detections read, noState without one.
func (p *Processor) state() detections.State {
	if p.store != nil {
		return p.store
	}
	return noState
}
