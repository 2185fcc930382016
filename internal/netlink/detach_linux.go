package netlink

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// detachedPoll is how long one blocking receive on a detached socket waits
// before it looks at Close and the read deadline again: the bound on how
// late the reader notices either.
const detachedPoll = 100 * time.Millisecond

// detached is the data socket once the reader owns it: a blocking fd of
// its own, outside the Go runtime poller.
//
// Why: a socket in the poller is in an epoll set, so every record the
// kernel queues on it runs the epoll callback and, whenever the process is
// idle in epoll_wait, wakes a thread: under load that is a wake-up (an
// inter-processor interrupt on a VM) per few records, paid by kauditd and
// by us. A blocking socket that is not being read has no waiter at all:
// while the reader lingers (Config.ReceiveLinger) kauditd queues records
// for free, and the next recvmmsg takes them by the hundred.
//
// The fd is a duplicate of the poller's, whose file is then closed: that
// removes the epoll registration and keeps the socket (same open file
// description, same netlink port). Only the reader receives on it; sends
// (the pid release) may come from another goroutine. The reader closes the
// fd when it ends, never while a send holds it (mu).
type detached struct {
	mu sync.RWMutex
	fd int // -1 once closed
	// deadline is the read deadline in Unix nanoseconds (0: none).
	deadline atomic.Int64
	closed   *atomic.Bool // the sock's: Close has been called
}

// detach moves s out of the Go runtime poller into a blocking fd owned by
// the reader. The socket's poller-based calls (Receive, recv) must not be
// used afterwards.
func (s *sock) detach() error {
	var dupfd int
	var derr error
	if err := s.rc.Control(func(fd uintptr) {
		dupfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return fmt.Errorf("detach audit netlink socket: %w", err)
	}
	if derr != nil {
		return fmt.Errorf("detach audit netlink socket: dup: %w", derr)
	}
	tv := unix.NsecToTimeval(detachedPoll.Nanoseconds())
	if err := errors.Join(unix.SetNonblock(dupfd, false),
		unix.SetsockoptTimeval(dupfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)); err != nil {
		_ = unix.Close(dupfd)
		return fmt.Errorf("detach audit netlink socket: make it blocking: %w", err)
	}
	// The poller's file goes; the duplicate keeps the socket open.
	if err := s.f.Close(); err != nil {
		_ = unix.Close(dupfd)
		return fmt.Errorf("detach audit netlink socket: close the poller's fd: %w", err)
	}
	s.det = &detached{fd: dupfd, closed: &s.closed}
	return nil
}

// readerDone closes a detached socket's fd: the reader calls it when it
// returns. It waits for a send in progress.
func (d *detached) readerDone() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fd >= 0 {
		_ = unix.Close(d.fd)
		d.fd = -1
	}
}

func (d *detached) setDeadline(t time.Time) error {
	if t.IsZero() {
		d.deadline.Store(0)
	} else {
		d.deadline.Store(t.UnixNano())
	}
	return nil
}

// wait decides what a receive that timed out (EAGAIN) does next: nil to
// receive again, or the error that ends it.
func (d *detached) wait() error {
	if d.closed.Load() {
		return fmt.Errorf("audit netlink socket: %w", ErrClosed)
	}
	if dl := d.deadline.Load(); dl != 0 && time.Now().UnixNano() >= dl {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// recvmmsg is a blocking recvmmsg(2) that returns as soon as one message
// is there (MSG_WAITFORONE) with as many as the socket holds, up to
// len(hdrs). It waits across receive timeouts until Close or the deadline.
//
// It first tries without waiting (MSG_DONTWAIT) through RawSyscall6: a
// call that cannot block needs no hand-off to the Go scheduler, and after
// a linger the socket nearly always holds records. A system call made
// through the scheduler after an idle spell wakes the runtime's monitor
// thread into a 20 us polling loop: at 5,000 module-load attempts a second
// this first try took the daemon's context switches per 1,000 events from
// 195-220 to 164-172 (three interleaved rounds).
func (d *detached) recvmmsg(hdrs []mmsghdr) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(d.fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)),
		unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
	for e == unix.EAGAIN {
		r, _, e = unix.Syscall6(unix.SYS_RECVMMSG, uintptr(d.fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)),
			unix.MSG_WAITFORONE|unix.MSG_TRUNC, 0, 0)
		if e == unix.EAGAIN {
			// The receive timed out (detachedPoll).
			if err := d.wait(); err != nil {
				return 0, err
			}
		}
	}
	switch {
	case e == 0:
		return int(r), nil
	case d.closed.Load():
		return 0, fmt.Errorf("audit netlink socket: %w", ErrClosed)
	default:
		return 0, e
	}
}

// sendto sends b without blocking; EAGAIN when the send buffer is full.
func (d *detached) sendto(b []byte) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.fd < 0 {
		return fmt.Errorf("audit netlink socket: %w", ErrClosed)
	}
	return unix.Sendto(d.fd, b, unix.MSG_DONTWAIT, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}
