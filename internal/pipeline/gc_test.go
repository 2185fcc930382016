package pipeline

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestReplayHeapGoal(t *testing.T) {
	tests := []struct {
		name string
		live uint64
		want int64
	}{
		{"a small live heap gets the floor", 1 << 20, ReplayHeapFloor},
		{"an empty heap gets the floor", 0, ReplayHeapFloor},
		{"a live heap above a fifth of the floor gets five times itself", 30 << 20, 150 << 20},
		{"a large live heap is capped by the memory limit", 100 << 20, ReplayMemoryLimit},
		{"a live heap above the limit is capped too", 1 << 30, ReplayMemoryLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := replayHeapGoal(tt.live); got != tt.want {
				t.Errorf("replayHeapGoal(%d) = %d, want %d", tt.live, got, tt.want)
			}
		})
	}
}

// TestTuneReplayGC: the collector runs by the memory limit alone, the
// limit follows the live heap after a collection, and restore puts the
// previous settings back (also when called twice).
func TestTuneReplayGC(t *testing.T) {
	prevPercent := debug.SetGCPercent(123)
	prevLimit := debug.SetMemoryLimit(1 << 40)
	defer func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	}()
	live := make([]byte, 48<<20) // five times it is above the cap
	restore := TuneReplayGC()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("GOGC while tuned = %d, want off", p)
	}
	if l := debug.SetMemoryLimit(-1); l != ReplayHeapFloor {
		t.Errorf("limit before a collection = %d, want the floor %d", l, ReplayHeapFloor)
	}
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) != ReplayMemoryLimit {
		if time.Now().After(deadline) {
			t.Fatalf("limit after collections = %d, want %d", debug.SetMemoryLimit(-1), ReplayMemoryLimit)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(live)
	restore()
	restore()
	if p := debug.SetGCPercent(123); p != 123 {
		t.Errorf("GOGC after restore = %d, want 123", p)
	}
	if l := debug.SetMemoryLimit(-1); l != 1<<40 {
		t.Errorf("limit after restore = %d, want %d", l, int64(1<<40))
	}
	// A collection after restore changes nothing.
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if l := debug.SetMemoryLimit(-1); l != 1<<40 {
		t.Errorf("limit after restore and a collection = %d, want %d", l, int64(1<<40))
	}
}
