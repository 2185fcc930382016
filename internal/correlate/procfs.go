package correlate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Bounds on what is read from /proc for one process.
const (
	// ProcReadBudget is how many /proc reads (lazy lookups of unknown
	// pids, pid checks) the events other than loads may make per second
	// of wall time; loads have budgets of their own (budget.go). Seeding
	// is bounded by the table cap instead. A read past the budget is
	// skipped and counted (auditlkm_correlate_proc_budget_exceeded_total);
	// an entry is then built from the event alone.
	ProcReadBudget = 512
	// maxProcFileBytes bounds one read of stat, status, cgroup or loginuid.
	maxProcFileBytes = 8 << 10
	// maxCmdlineBytes bounds one read of cmdline (the kernel's own limit is
	// ARG_MAX, far larger; the tail is dropped).
	maxCmdlineBytes = 32 << 10
	// userHZ is the unit of /proc/<pid>/stat starttime. The kernel fixes
	// USER_HZ at 100 for user space on every architecture we run on.
	userHZ = 100
)

// errNoProcess: the pid has no /proc entry (it exited or never existed).
var errNoProcess = errors.New("no such process")

// procInfo is what /proc says about one process.
type procInfo struct {
	pid, ppid  int
	comm       string
	exe, cwd   string
	args       []string
	uid, auid  uint32
	startTicks uint64 // clock ticks after boot, exact
	container  string
}

// readProc reads one process from root (a procfs mount). Only stat is
// required; every other file is best effort (kernel threads have no exe,
// other users' processes may hide cwd). cmdline is read through cmd.
func readProc(root string, pid int, cmd *cmdlineReader) (procInfo, error) {
	dir := filepath.Join(root, strconv.Itoa(pid))
	stat, err := readLimited(filepath.Join(dir, "stat"), maxProcFileBytes)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return procInfo{}, fmt.Errorf("read process %d: %w", pid, errNoProcess)
		}
		return procInfo{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	pi, err := parseStat(stat)
	if err != nil {
		return procInfo{}, fmt.Errorf("parse %s: %w", filepath.Join(dir, "stat"), err)
	}
	pi.pid = pid
	pi.uid, pi.auid = auditevent.Unset, auditevent.Unset
	pi.exe, _ = os.Readlink(filepath.Join(dir, "exe"))
	pi.cwd, _ = os.Readlink(filepath.Join(dir, "cwd"))
	if b, err := cmd.read(filepath.Join(dir, "cmdline")); err == nil {
		pi.args = splitCmdline(b)
	}
	if b, err := readLimited(filepath.Join(dir, "status"), maxProcFileBytes); err == nil {
		pi.uid = parseStatusUID(b)
	}
	if b, err := readLimited(filepath.Join(dir, "loginuid"), maxProcFileBytes); err == nil {
		if n, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 32); err == nil {
			pi.auid = uint32(n)
		}
	}
	if b, err := readLimited(filepath.Join(dir, "cgroup"), maxProcFileBytes); err == nil {
		pi.container = containerID(b)
	}
	return pi, nil
}

// readStartTicks reads only the start time of pid, to tell a reused pid
// from the process a table entry describes.
func readStartTicks(root string, pid int) (uint64, error) {
	return readStartTicksAt(unix.AT_FDCWD, filepath.Join(root, strconv.Itoa(pid), "stat"))
}

// readStartTicksAt reads the start time from the stat file name, relative
// to the directory fd dir (a /proc/<pid> directory: "stat").
func readStartTicksAt(dir int, name string) (uint64, error) {
	b, err := readLimitedAt(dir, name, maxProcFileBytes)
	if err != nil {
		return 0, err
	}
	pi, err := parseStat(b)
	if err != nil {
		return 0, err
	}
	return pi.startTicks, nil
}

// readLimited returns the first max bytes of the file name (a /proc file:
// read whole, in as many reads as it takes).
//
// It calls open(2), read(2) and close(2) itself: os.Open would also try to
// add the fd to the Go runtime's poller (an epoll_ctl that fails for these
// files), and io.ReadAll starts with a small buffer it grows. The reads of
// /proc/PID/stat that check a loader's pid are the daemon's most frequent
// file reads in a storm of module loads: at 5,000 loads a second,
// os.Open's poller registration cost as much as the open itself (2.7% of
// the daemon's CPU each). BenchmarkReadStartTicks: 21-24 us a read before,
// 14-15 us after, on this project's VMs. The calls still go through the
// scheduler (a /proc read may block: cmdline takes the process's memory
// lock).
func readLimited(name string, max int64) ([]byte, error) {
	return readLimitedAt(unix.AT_FDCWD, name, max)
}

// readLimitedAt is readLimited of name relative to the directory fd dir.
func readLimitedAt(dir int, name string, max int64) ([]byte, error) {
	fd, err := openRetry(dir, name)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, min(max, procReadChunk))
	for interrupted := 0; int64(len(buf)) < max; {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(int64(cap(buf)), max-int64(len(buf)))))
		}
		n, err := unix.Read(fd, buf[len(buf):min(int64(cap(buf)), max)])
		switch {
		case err == unix.EINTR && interrupted < maxInterrupted:
			interrupted++
			continue
		case err != nil:
			return nil, &os.PathError{Op: "read", Path: name, Err: err}
		case n == 0:
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
	return buf, nil
}

// procReadChunk is readLimited's first buffer: /proc/PID/stat and status
// fit in it.
const procReadChunk = 2 << 10

// maxInterrupted bounds the retries of a system call a signal interrupted.
const maxInterrupted = 16

// openRetry opens name (relative to the directory fd dir, or the working
// directory for AT_FDCWD) read-only, again if a signal interrupted the call.
func openRetry(dir int, name string) (int, error) {
	for i := 0; ; i++ {
		fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR || i == maxInterrupted {
			return fd, err
		}
	}
}

// parseStat reads comm, ppid and starttime from /proc/<pid>/stat:
// "pid (comm) state ppid ... starttime(22nd) ...". comm may hold spaces and
// parentheses, so it ends at the last ')'.
func parseStat(b []byte) (procInfo, error) {
	open := bytes.IndexByte(b, '(')
	cl := bytes.LastIndexByte(b, ')')
	if open < 0 || cl < open {
		return procInfo{}, errors.New("no (comm) in stat")
	}
	pi := procInfo{comm: string(b[open+1 : cl])}
	fields := bytes.Fields(b[cl+1:])
	// fields[0] is field 3 (state); field N is fields[N-3].
	const ppidField, startField = 4, 22
	if len(fields) <= startField-3 {
		return procInfo{}, fmt.Errorf("stat has %d fields after comm, want %d", len(fields), startField-2)
	}
	ppid, err := strconv.Atoi(string(fields[ppidField-3]))
	if err != nil || ppid < 0 {
		return procInfo{}, fmt.Errorf("bad ppid %q in stat", fields[ppidField-3])
	}
	st, err := strconv.ParseUint(string(fields[startField-3]), 10, 64)
	if err != nil {
		return procInfo{}, fmt.Errorf("bad starttime %q in stat", fields[startField-3])
	}
	pi.ppid, pi.startTicks = ppid, st
	return pi, nil
}

// splitCmdline splits a NUL-separated cmdline. A process that rewrote its
// argv may use spaces instead; that is kept as one argument.
func splitCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	if len(parts) > maxStoredArgs {
		parts = parts[:maxStoredArgs]
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

// parseStatusUID returns the real uid from the "Uid:" line of status.
func parseStatusUID(b []byte) uint32 {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if rest, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				if n, err := strconv.ParseUint(string(f[0]), 10, 32); err == nil {
					return uint32(n)
				}
			}
			break
		}
	}
	return auditevent.Unset
}

// containerID finds a container runtime id in /proc/<pid>/cgroup: docker,
// containerd, cri-o and podman all name the cgroup after a 64-hex id
// ("docker-<id>.scope", "/docker/<id>", "cri-containerd-<id>.scope",
// "crio-<id>.scope", "libpod-<id>.scope"). The first such run wins.
func containerID(b []byte) string {
	run := 0
	for i := 0; i <= len(b); i++ {
		if i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] >= 'a' && b[i] <= 'f') {
			run++
			continue
		}
		if run == 64 {
			return string(b[i-64 : i])
		}
		run = 0
	}
	return ""
}

// readBootMilli reads the boot time (btime, whole seconds) from root/stat.
func readBootMilli(root string) (int64, error) {
	b, err := readLimited(filepath.Join(root, "stat"), 1<<20)
	if err != nil {
		return 0, fmt.Errorf("read boot time: %w", err)
	}
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		if rest, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("read boot time: bad btime %q", rest)
			}
			return n * 1000, nil
		}
	}
	return 0, errors.New("read boot time: no btime line")
}

// CmdlineWait bounds how long reading one process's cmdline may hold the
// correlation store, and so the detections. Reading /proc/PID/cmdline
// faults in that process's own memory. Before Linux 4.17
// (CVE-2018-1120), a process that mapped a file of a FUSE filesystem it
// serves over its argument area, and never answered, made the read wait
// for ever, and any process can make the store look it up (an audited
// event of an unknown pid does). Kernels since refuse to read file-backed
// memory there (FOLL_ANON), and a userfaultfd-registered area makes the
// read fail instead of wait: both were tried on this project's 6.18
// kernel, and the read returned at once, cut short. The bound stays for
// older kernels and for what a later kernel change might let wait. Past
// it the lookup goes on without the command line.
const CmdlineWait = 100 * time.Millisecond

// maxCmdlinesStuck bounds the cmdline reads left waiting past CmdlineWait:
// each holds a goroutine and a thread until its read returns (if ever).
// While that many wait, no cmdline is read.
const maxCmdlinesStuck = 4

// errCmdlineStuck: the read took longer than CmdlineWait, or too many
// earlier ones still wait.
var errCmdlineStuck = errors.New("cmdline read abandoned: the process's memory does not answer")

// cmdlineReader reads cmdline files without letting one hold its caller
// for more than wait. The zero value reads with no bound. It must be used
// from one goroutine; the reads it abandons finish on their own.
type cmdlineReader struct {
	wait time.Duration
	// stuck counts the reads started and not returned yet: at a call,
	// the ones abandoned earlier.
	stuck     atomic.Int32
	abandoned func() // counts an abandoned read (metrics)
}

func (c *cmdlineReader) read(name string) ([]byte, error) {
	if c.wait <= 0 {
		return readLimited(name, maxCmdlineBytes)
	}
	if c.stuck.Load() >= maxCmdlinesStuck {
		return nil, errCmdlineStuck
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1) // the read never waits for the caller
	c.stuck.Add(1)
	go func() {
		b, err := readLimited(name, maxCmdlineBytes)
		c.stuck.Add(-1) // before the send: a caller that got the result sees it
		done <- result{b, err}
	}()
	t := time.NewTimer(c.wait)
	defer t.Stop()
	select {
	case r := <-done:
		return r.b, r.err
	case <-t.C:
		if c.abandoned != nil {
			c.abandoned()
		}
		return nil, errCmdlineStuck
	}
}
