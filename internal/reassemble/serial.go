package reassemble

// window is how many serials past the lowest unsettled one the tracker
// remembers; a serial further ahead settles the oldest as gaps.
const window = 1 << 16

// ResetDistance is how far a serial may jump, either way, before it is a
// new stream (a reboot in a replayed log, concatenated logs) rather than
// loss or lateness. The kernel's serial is a 32-bit counter that wraps; a
// jump across the wrap is measured modulo 2^32, so rollover is not a reset.
const ResetDistance = 1 << 24

type serialState uint8

const (
	serialNew serialState = iota + 1
	serialLate
	serialReset
)

// serialTracker knows which serials it has seen. All serials below base are
// settled (seen, or counted as gaps); seen holds one bit per serial in
// [base, base+window).
type serialTracker struct {
	started bool
	// floor is the first serial of the stream: serials below it may still
	// arrive (other CPUs, an interleaved log) and are new, not late, and
	// unseen ones below it are not gaps: nothing says they were ours.
	floor   uint32
	base    uint32
	max     uint32 // highest serial seen (modulo arithmetic)
	seen    []uint64
	ahead   int   // set bits in the window
	blocked int64 // stream time since base has been missing while later serials exist; -1 none
}

func newSerialTracker() serialTracker {
	return serialTracker{seen: make([]uint64, window/64), blocked: -1}
}

func (t *serialTracker) bit(s uint32) (int, uint64) {
	i := s % window
	return int(i / 64), 1 << (i % 64)
}

// reset starts a new stream at s. base starts half a window below s so
// that serials just below the first one seen are still tracked.
func (t *serialTracker) reset(s uint32) {
	clear(t.seen)
	t.floor = s
	t.base, t.max, t.ahead, t.blocked = s-window/2, s, 0, -1
}

// missing counts serial s as a gap unless it lies below the stream's floor.
func (t *serialTracker) missing(s uint32) uint64 {
	if int32(s-t.floor) < 0 {
		return 0
	}
	return 1
}

// observe records serial s and returns its state and any serials it forced
// out of the window as lost.
func (t *serialTracker) observe(s uint32, now int64) (serialState, uint64) {
	if !t.started {
		t.started = true
		t.reset(s)
		t.mark(s, now)
		return serialNew, 0
	}
	d := int64(int32(s - t.base))
	if d < -ResetDistance || d > ResetDistance {
		t.reset(s)
		t.mark(s, now)
		return serialReset, 0
	}
	if d < 0 {
		return serialLate, 0
	}
	var lost uint64
	if d >= window {
		lost = t.slide(s - window + 1)
	}
	w, b := t.bit(s)
	if t.seen[w]&b != 0 {
		return serialLate, lost
	}
	t.mark(s, now)
	return serialNew, lost
}

func (t *serialTracker) mark(s uint32, now int64) {
	w, b := t.bit(s)
	t.seen[w] |= b
	t.ahead++
	if int32(s-t.max) > 0 {
		t.max = s
	}
	t.advance()
	if t.ahead > 0 && t.blocked < 0 {
		t.blocked = now
	}
}

// advance moves base over seen serials.
func (t *serialTracker) advance() {
	for t.ahead > 0 {
		w, b := t.bit(t.base)
		if t.seen[w]&b == 0 {
			return
		}
		t.seen[w] &^= b
		t.ahead--
		t.base++
		t.blocked = -1
	}
}

// slide settles every serial below to, counting unseen ones as lost.
func (t *serialTracker) slide(to uint32) uint64 {
	var lost uint64
	for int32(to-t.base) > 0 {
		if t.ahead == 0 {
			// Nothing seen in the window: jump, counting only what lies
			// above the floor.
			from := t.base
			if int32(t.floor-from) > 0 {
				from = t.floor
			}
			if int32(to-from) > 0 {
				lost += uint64(to - from)
			}
			t.base = to
			break
		}
		w, b := t.bit(t.base)
		if t.seen[w]&b == 0 {
			lost += t.missing(t.base)
		} else {
			t.seen[w] &^= b
			t.ahead--
		}
		t.base++
	}
	t.blocked = -1
	t.advance()
	return lost
}

// expire settles a missing base serial once later serials have been
// waiting for it longer than timeout ms.
func (t *serialTracker) expire(now, timeout int64) uint64 {
	var lost uint64
	for n := 0; n < window && t.ahead > 0 && t.blocked >= 0 && now-t.blocked > timeout; n++ {
		lost += t.missing(t.base)
		t.base++
		t.advance()
		if t.ahead > 0 && t.blocked < 0 {
			t.blocked = now
			break
		}
	}
	return lost
}

// flush settles everything up to the highest serial seen.
func (t *serialTracker) flush() uint64 {
	if !t.started || t.ahead == 0 {
		return 0
	}
	lost := t.slide(t.max + 1)
	return lost
}
