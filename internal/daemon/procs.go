package daemon

import (
	"log/slog"
	"runtime"
)

// limitProcs sets GOMAXPROCS to n for the run (n <= 0 leaves it) and
// returns what puts the previous value back.
//
// One, the daemon's default, runs the netlink reader and the detections
// on one thread that hands work between them without waking another: on
// this project's 2-core VM it cut the CPU per 10,000 events by 20-25% at
// 5,000 module loads and at 5,000 renames a second (interleaved rounds),
// with nothing lost up to 80,000 loads a second, the most the load
// generator makes there. The kernel delivers every record through one
// thread (kauditd) anyway, and reading and detecting take about a tenth
// of a core at that rate.
func limitProcs(n int, log *slog.Logger) (restore func()) {
	if n <= 0 {
		return func() {}
	}
	prev := runtime.GOMAXPROCS(n)
	if log != nil && prev != n {
		log.Debug("go runtime threads limited", "max_procs", n, "was", prev)
	}
	return func() { runtime.GOMAXPROCS(prev) }
}
