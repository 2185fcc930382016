// Command loadgen drives audited syscalls at a set rate from its own
// process (the kernel never audits the process holding the audit pid, so
// the load must come from elsewhere) and prints exactly what it did as one
// JSON object on stdout.
//
// Modes:
//   - module: finit_module on an fd of /dev/null. Loadable modules are
//     compiled out here, so the kernel answers ENOSYS, but the attempt is
//     audited by a syscall rule on finit_module (one event per call).
//   - files: in -dir (which the caller watches with -w DIR -p wa), create
//     a uniquely named file, rename it and unlink it (three events per
//     iteration, all counted in sent).
//   - open: open(O_RDONLY) and close a file in -dir (audited by no rule
//     of ours): the ops/s it reaches shows what exit rules on open cost
//     every other program.
//   - exec: fork and exec -exec-path with -exec-arg (one execve event per
//     run when a rule audits that path).
//
// -rate 0 runs as fast as the workers can. Pacing is per worker: each one
// catches up with rate/workers × elapsed, so a generator that falls behind
// reports the rate it reached, never more than it sent.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Report is what loadgen prints.
type Report struct {
	Mode    string  `json:"mode"`
	PID     int     `json:"pid"`
	Workers int     `json:"workers"`
	Rate    float64 `json:"target_rate"`
	Seconds float64 `json:"seconds"`
	// Ops are the operations run; Sent the audited syscalls they made
	// (Ops × events per op), whatever each syscall returned. Achieved is
	// Sent per second.
	Ops      uint64  `json:"ops"`
	Sent     uint64  `json:"sent"`
	Achieved float64 `json:"achieved_rate"`
	// Failures are operations that failed in a way that may have made
	// fewer syscalls than counted (files mode); their syscalls are not
	// counted in Sent.
	Failures uint64 `json:"failures"`
}

// pacingSleep is how long a worker that is ahead of its schedule sleeps.
const pacingSleep = 200 * time.Microsecond

func main() {
	mode := flag.String("mode", "module", "module, files, open or exec")
	rate := flag.Float64("rate", 1000, "audited operations per second, all workers together (0: as fast as possible)")
	dur := flag.Duration("duration", 5*time.Second, "how long to run")
	workers := flag.Int("workers", 1, "concurrent workers (OS threads)")
	dir := flag.String("dir", "", "files mode: the watched directory")
	execPath := flag.String("exec-path", "/usr/bin/kmod", "exec mode: program to run")
	execArg := flag.String("exec-arg", "--version", "exec mode: its argument")
	flag.Parse()
	r, err := run(*mode, *rate, *dur, *workers, *dir, *execPath, *execArg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(r)
}

// op runs one operation and returns the audited syscalls it made.
type op func(worker int, n uint64) (events uint64, err error)

func run(mode string, rate float64, dur time.Duration, workers int, dir, execPath, execArg string) (*Report, error) {
	if workers < 1 || workers > 256 {
		return nil, fmt.Errorf("workers %d: want 1..256", workers)
	}
	var do op
	switch mode {
	case "module":
		f, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		fd := int(f.Fd())
		do = func(int, uint64) (uint64, error) {
			// finit_module(fd, "", 0): the result does not matter, the
			// attempt is audited at syscall exit.
			_ = unix.FinitModule(fd, "", 0)
			return 1, nil
		}
	case "files":
		if dir == "" {
			return nil, errors.New("files mode needs -dir")
		}
		pid := strconv.Itoa(os.Getpid())
		do = func(w int, n uint64) (uint64, error) {
			base := filepath.Join(dir, "lg-"+pid+"-"+strconv.Itoa(w)+"-"+strconv.FormatUint(n, 10))
			fd, err := syscall.Open(base+".tmp", syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY|syscall.O_CLOEXEC, 0o600)
			if err != nil {
				return 0, err
			}
			syscall.Close(fd)
			if err := syscall.Rename(base+".tmp", base+".conf"); err != nil {
				return 1, err
			}
			if err := syscall.Unlink(base + ".conf"); err != nil {
				return 2, err
			}
			return 3, nil
		}
	case "open":
		// open(O_RDONLY) and close of -dir/open-probe: audited by no rule
		// of ours; ops/s shows what the exit rules cost every open(2).
		if dir == "" {
			return nil, errors.New("open mode needs -dir")
		}
		probe := filepath.Join(dir, "open-probe")
		if err := os.WriteFile(probe, nil, 0o600); err != nil {
			return nil, err
		}
		defer os.Remove(probe)
		do = func(int, uint64) (uint64, error) {
			fd, err := syscall.Open(probe, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				return 0, err
			}
			syscall.Close(fd)
			return 1, nil
		}
	case "exec":
		do = func(int, uint64) (uint64, error) {
			cmd := exec.Command(execPath, execArg)
			if err := cmd.Run(); err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					return 0, err
				}
			}
			return 1, nil
		}
	default:
		return nil, fmt.Errorf("mode %q: want module, files, open or exec", mode)
	}

	var ops, sent, failures atomic.Uint64
	start := time.Now()
	deadline := start.Add(dur)
	per := rate / float64(workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n uint64
			for {
				now := time.Now()
				if !now.Before(deadline) {
					return
				}
				if per > 0 && float64(n) >= per*now.Sub(start).Seconds() {
					time.Sleep(pacingSleep)
					continue
				}
				ev, err := do(w, n)
				n++
				ops.Add(1)
				sent.Add(ev)
				if err != nil {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	return &Report{
		Mode: mode, PID: os.Getpid(), Workers: workers, Rate: rate, Seconds: secs,
		Ops: ops.Load(), Sent: sent.Load(), Achieved: float64(sent.Load()) / secs,
		Failures: failures.Load(),
	}, nil
}
