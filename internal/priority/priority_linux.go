package priority

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// MaxBoost bounds Boost's argument: nice values go down to -20.
const MaxBoost = 20

// maxPasses bounds the walks over the thread list: a thread created
// during a walk by a thread not yet boosted is caught by the next one.
const maxPasses = 4

// ErrRange: the boost is outside 0..MaxBoost.
var ErrRange = errors.New("priority boost out of range")

// Result says what Boost did.
type Result struct {
	// Threads is how many threads were changed.
	Threads int
}

// Boost sets the nice value of every thread of the process to -boost,
// unless a thread already runs at that priority or higher (a unit's
// Nice=, say): a boost never lowers a priority. Boost 0 does nothing.
// Lowering a nice value needs CAP_SYS_NICE.
func Boost(boost int) (Result, error) {
	if boost < 0 || boost > MaxBoost {
		return Result{}, fmt.Errorf("boost priority by %d: %w (want 0..%d)", boost, ErrRange, MaxBoost)
	}
	want := -boost
	var res Result
	if boost == 0 {
		return res, nil
	}
	done := map[int]bool{}
	for range maxPasses {
		tids, err := threads()
		if err != nil {
			return res, err
		}
		changed := false
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			done[tid] = true
			// getpriority(2)'s raw result is 20-nice.
			cur, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
			if errors.Is(err, unix.ESRCH) {
				continue // the thread ended
			}
			if err != nil {
				return res, fmt.Errorf("boost priority: read thread %d's: %w", tid, err)
			}
			if 20-cur <= want {
				continue
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, want); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue
				}
				return res, fmt.Errorf("boost priority: set thread %d to nice %d: %w", tid, want, err)
			}
			res.Threads++
			changed = true
		}
		if !changed {
			break
		}
	}
	return res, nil
}

// threads lists the process's thread ids.
func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("boost priority: list threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// Nice returns the nice value of thread tid (0: the calling thread).
func Nice(tid int) (int, error) {
	cur, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return 0, fmt.Errorf("read nice value of thread %d: %w", tid, err)
	}
	return 20 - cur, nil
}
