package daemon

import (
	"log/slog"
	"runtime"
)

// How many threads run Go code (GOMAXPROCS) is set for the run.
//
// One thread runs the netlink reader and the detections, which hand
// records to each other without waking another thread: on this project's
// 2-core VM that cut the CPU per 10,000 events by 20-25% at 5,000 module
// loads and at 5,000 renames a second (interleaved rounds). But at the
// edge of what the host holds (10,000 renames a second, each an alert,
// with the raw log), one thread fell behind and the reader's queue
// dropped records in two rounds of three, where the runtime's default
// (one thread per CPU) dropped none. So by default the daemon runs on one
// thread while the queue is short and goes back to the default as soon as
// records pile up in it (procsGovernor); --process.max-procs fixes a
// number.

// startProcs applies a --process.max-procs of n: GOMAXPROCS fixed at n
// when n > 0 (g is nil), else a governor started on one thread. stop puts
// the runtime's setting back.
func startProcs(n int, log *slog.Logger) (g *procsGovernor, stop func()) {
	if n > 0 {
		prev := runtime.GOMAXPROCS(n)
		return nil, func() { runtime.GOMAXPROCS(prev) }
	}
	g = startProcsGovernor(log)
	return g, g.stop
}

// Thresholds of procsGovernor, in records waiting in the reader's queue.
const (
	// raiseAt makes the governor go to the runtime's default: a sixteenth
	// of the queue's default bound (65,536), 16 full receives. A steady
	// stream does not reach it: at 15,000 events (about 50,000 records) a
	// second, one 25 ms linger gathers about 1,300.
	raiseAt = 4096
	// calmAt is the most that may wait at a tick that counts as calm.
	calmAt = 256
	// calmTicks is how many calm ticks (250 ms) in a row bring it back to
	// one thread: 30 s, so that a storm that pauses does not find it on
	// one thread again.
	calmTicks = 120
)

// procsGovernor runs Go code on one thread while the reader's queue is
// short and on high threads (the runtime's default: GOMAXPROCS when the
// governor started) while records wait in it. It is used from the
// processor's goroutine.
type procsGovernor struct {
	high   int
	raised bool
	calm   int
	// calmTicks is the package's; tests shorten it.
	calmTicks int
	log       *slog.Logger
	set       func(int) int // runtime.GOMAXPROCS
}

// startProcsGovernor puts the process on one thread and returns the
// governor, or nil when the runtime's default is one thread already.
func startProcsGovernor(log *slog.Logger) *procsGovernor {
	g := &procsGovernor{high: runtime.GOMAXPROCS(0), calmTicks: calmTicks, log: log, set: runtime.GOMAXPROCS}
	if g.high <= 1 {
		return nil
	}
	g.set(1)
	return g
}

// queued sees how many records wait after a batch was taken.
func (g *procsGovernor) queued(records int) {
	if g == nil || records < raiseAt {
		return
	}
	g.calm = 0
	if !g.raised {
		g.raised = true
		g.set(g.high)
		if g.log != nil {
			g.log.Info("records wait in the queue: Go code runs on more threads", "max_procs", g.high, "records_waiting", records)
		}
	}
}

// tick sees how many records wait at a tick.
func (g *procsGovernor) tick(records int) {
	if g == nil || !g.raised {
		return
	}
	if records > calmAt {
		g.calm = 0
		return
	}
	if g.calm++; g.calm >= g.calmTicks {
		g.raised, g.calm = false, 0
		g.set(1)
		if g.log != nil {
			g.log.Info("the queue is short again: Go code runs on one thread", "max_procs", 1)
		}
	}
}

// stop puts the runtime's default back.
func (g *procsGovernor) stop() {
	if g != nil {
		g.set(g.high)
	}
}
