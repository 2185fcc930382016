package daemon

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// TestStartProcs: a positive n is set for the run and the previous value
// put back; 0 starts a governor on one thread, and its stop puts the
// runtime's default back.
func TestStartProcs(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(orig)
	runtime.GOMAXPROCS(3)
	for _, tc := range []struct {
		n, during int
		governed  bool
	}{{0, 1, true}, {1, 1, false}, {2, 2, false}, {3, 3, false}} {
		g, stop := startProcs(tc.n, nil)
		if got := runtime.GOMAXPROCS(0); got != tc.during || (g != nil) != tc.governed {
			t.Errorf("startProcs(%d): GOMAXPROCS %d during the run, governor %v; want %d, %v", tc.n, got, g != nil, tc.during, tc.governed)
		}
		stop()
		if got := runtime.GOMAXPROCS(0); got != 3 {
			t.Errorf("startProcs(%d): GOMAXPROCS %d after, want 3", tc.n, got)
		}
	}
}

// TestProcsGovernor: one thread while fewer than raiseAt records wait,
// the default from the first time raiseAt wait after a batch, back to one
// thread after calmTicks ticks in a row with at most calmAt waiting (a
// tick with more, or a batch with raiseAt waiting, starts the count
// again).
func TestProcsGovernor(t *testing.T) {
	type step struct {
		tick    bool // a tick, else a batch taken
		waiting int
		want    int // GOMAXPROCS after it
	}
	steps := []step{
		{false, 0, 1}, {false, raiseAt - 1, 1}, {true, raiseAt, 1},
		{false, raiseAt, 4}, {false, 100, 4},
		{true, 0, 4}, {true, calmAt, 4}, {true, calmAt + 1, 4}, // the count starts again
		{true, 0, 4}, {true, 0, 4},
		{false, raiseAt, 4},                           // and again
		{true, 0, 4}, {true, calmAt, 4}, {true, 0, 1}, // three calm ticks in a row
		{true, 5 * raiseAt, 1}, {false, calmAt, 1}, // ticks do not raise, nor short queues
		{false, raiseAt + 1, 4},
	}
	procs := 4
	set := func(n int) int { prev := procs; procs = n; return prev }
	g := &procsGovernor{high: 4, calmTicks: 3, set: set}
	g.set(1)
	for i, s := range steps {
		if s.tick {
			g.tick(s.waiting)
		} else {
			g.queued(s.waiting)
		}
		if procs != s.want {
			t.Fatalf("step %d (%+v): GOMAXPROCS %d, want %d", i, s, procs, s.want)
		}
	}
	g.stop()
	if procs != 4 {
		t.Errorf("after stop: GOMAXPROCS %d, want 4", procs)
	}
	var none *procsGovernor // the runtime's default is one thread: nothing to do
	none.queued(100)
	none.tick(0)
	none.stop()
}

// TestLoopRaisesProcsWhileRecordsWait runs the processor loop with a queue
// that holds more batches than the governor lets wait: the loop goes to the
// runtime's default while it works through them, and back to one thread
// once the queue has been short for the calm ticks.
func TestLoopRaisesProcsWhileRecordsWait(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(orig)
	runtime.GOMAXPROCS(2)
	g := startProcsGovernor(nil)
	if runtime.GOMAXPROCS(0) != 1 {
		t.Fatalf("GOMAXPROCS %d after the governor started, want 1", runtime.GOMAXPROCS(0))
	}
	g.calmTicks = 2
	// Batches of 256 records (finit attempts), more than raiseAt in all.
	const batches = 2 * raiseAt / 256
	q := &queued{ch: make(chan []auditevent.Record, batches)}
	for b := range batches {
		var text strings.Builder
		for i := range 128 {
			text.WriteString(finit(b*128 + i + 1))
		}
		q.put(records(t, text.String()))
	}
	sink := &collect{}
	l := &loop{src: q, p: newProcessor(t, sink), procs: g}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.run(ctx) }()
	waitFor(t, func() bool { return strings.Count(sink.got(), " ") == batches*128-1 })
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Errorf("GOMAXPROCS %d after %d records waited, want 2", got, 2*raiseAt-256)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.GOMAXPROCS(0) != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS %d after the queue was short for %d ticks, want 1", got, g.calmTicks)
	}
	close(q.ch)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	g.stop()
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Errorf("GOMAXPROCS %d after stop, want 2", got)
	}
}
