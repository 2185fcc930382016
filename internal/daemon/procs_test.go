package daemon

import (
	"runtime"
	"testing"
)

// TestLimitProcs: a positive n is set for the run and the previous value
// put back; 0 changes nothing.
func TestLimitProcs(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(orig)
	runtime.GOMAXPROCS(3)
	for _, tc := range []struct{ n, during int }{{0, 3}, {-1, 3}, {1, 1}, {2, 2}, {3, 3}} {
		restore := limitProcs(tc.n, nil)
		if got := runtime.GOMAXPROCS(0); got != tc.during {
			t.Errorf("limitProcs(%d): GOMAXPROCS %d during the run, want %d", tc.n, got, tc.during)
		}
		restore()
		if got := runtime.GOMAXPROCS(0); got != 3 {
			t.Errorf("limitProcs(%d): GOMAXPROCS %d after, want 3", tc.n, got)
		}
	}
}
