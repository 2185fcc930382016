package pipeline

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// ReplayGCPercent is how far above the live heap the collector's goal is
// during `auditlkm replay` (as GOGC would put it) once that is above
// ReplayHeapFloor. A replay's live heap is small (the reassembler's window,
// the correlation store) while it allocates record text and events at
// hundreds of MB/s, so at the default of 100 it collects tens of times per
// million records.
const ReplayGCPercent = 400

// ReplayHeapFloor is the least heap goal of a replay. A replay starts with
// a live heap of a few MB that grows with its correlation tables: a goal
// proportional to it would collect often at first and let the heap grow
// late, and every page the heap grows by costs a fault. A fixed goal while
// the live heap is small spreads the collections evenly: about as many as
// GOGC=400 for the heavy benchmark corpus, with a fifth less memory
// touched. 128 MiB rather than 96: with the heap on huge pages (see
// TuneReplayGC) the pages a larger floor touches cost little, and the
// collections it saves were 3-5% of the heavy corpus's replay on one core
// (medians of 9 and 11 interleaved rounds: 1.12 to 1.06 s and 1.10 to
// 1.08 s), for about 22 MB more resident memory (115 to 137 MB).
const ReplayHeapFloor = 128 << 20

// ReplayMemoryLimit bounds the heap goal of a replay: a large target must
// not let the heap grow to five times a large live set (a flood of long
// command lines fills the correlation tables up to their byte budgets), so
// near this limit the collector runs as often as needed.
const ReplayMemoryLimit = 192 << 20

// replayHeapGoal is the heap goal for a live heap of live bytes.
func replayHeapGoal(live uint64) int64 {
	goal := live + live*ReplayGCPercent/100
	return int64(min(max(goal, ReplayHeapFloor), ReplayMemoryLimit))
}

// TuneReplayGC sets the collector for a replay: its heap goal is the live
// heap plus ReplayGCPercent, at least ReplayHeapFloor and at most
// ReplayMemoryLimit, kept as the soft memory limit with GOGC off and
// updated after every collection. restore puts the previous settings
// back. The settings are the process's: the caller must not set GOGC or
// the memory limit meanwhile, nor tune two replays at once.
//
// It also asks for the first ReplayHeapFloor bytes the heap grows by to be
// backed by transparent huge pages (where the kernel allows them on
// request, as Debian's default "madvise" does). A replay's heap grows from
// nothing to its floor in its first tenth of a second, and on a virtual
// machine each 4 KiB page that costs a fault costs several microseconds:
// on the heavy benchmark corpus, on one core, huge pages took the faults
// from about 24,000 to 3,000-12,000 and the time from 1.31-1.36 s to
// 1.12-1.21 s, most of it user time saved on TLB misses.
func TuneReplayGC() (restore func()) {
	if adviseHugePages(ReplayHeapFloor) == nil {
		// Frees the region for the allocator to carve from (before the
		// tuner follows collections).
		runtime.GC()
	}
	t := &gcTuner{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.mu.Lock()
	t.prevLimit = debug.SetMemoryLimit(ReplayHeapFloor)
	t.prevPercent = debug.SetGCPercent(-1)
	t.mu.Unlock()
	t.arm()
	return t.restore
}

// gcTuner follows the collections of a replay (see TuneReplayGC).
type gcTuner struct {
	mu          sync.Mutex
	stopped     bool
	prevLimit   int64
	prevPercent int
	sample      []metrics.Sample
}

// gcCycle is a sentinel object whose cleanup runs after the collection
// that finds it unreachable: large enough not to share a tiny block with
// other objects, which would delay it.
type gcCycle [32]byte

// arm makes t.cycle run after the next collection.
func (t *gcTuner) arm() {
	runtime.AddCleanup(new(gcCycle), (*gcTuner).cycle, t)
}

// cycle sets the goal from the live heap the last collection left, and
// arms itself again.
func (t *gcTuner) cycle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		debug.SetMemoryLimit(replayHeapGoal(t.sample[0].Value.Uint64()))
	}
	t.arm()
}

func (t *gcTuner) restore() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	debug.SetGCPercent(t.prevPercent)
	debug.SetMemoryLimit(t.prevLimit)
}
