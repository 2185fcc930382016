package netlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

const (
	// nlmsgHdrLen is the size of struct nlmsghdr.
	nlmsgHdrLen = unix.NLMSG_HDRLEN
	// readBufferBytes bounds one received message. The kernel never sends
	// an audit record longer than 8970 bytes; a larger buffer lets MSG_TRUNC
	// mean "hostile or broken" rather than "routine".
	readBufferBytes = nlmsgHdrLen + auditevent.MaxRecordLen
	// controlBufferBytes is the control socket's read buffer: replies are an
	// audit_status or one audit_rule_data (fields plus at most
	// AUDIT_MAX_KEY_LEN-sized strings, well under a page in practice, but a
	// rule's string buffer may reach PATH_MAX per field).
	controlBufferBytes = nlmsgHdrLen + 64<<10
	// replyPollWait is how long a "non-blocking" Receive from go-libaudit's
	// reply loop waits for data before reporting EAGAIN. go-libaudit then
	// sleeps 50 ms and retries (10 times at most), so this only shortens
	// the common case where the kernel answers within microseconds.
	replyPollWait = 20 * time.Millisecond
)

// errDetached: a single-message receive on the reader's detached socket.
var errDetached = errors.New("audit netlink socket is detached for the batch reader")

// errNotKernel: a message on the audit socket came from a user-space port.
var errNotKernel = errors.New("message not from the kernel")

// sock is one NETLINK_AUDIT socket. The fd is non-blocking and registered
// with the Go runtime poller, so Close unblocks a pending receive.
//
// Send is safe for concurrent use. Receive uses the socket's own read
// buffer and must be used from one goroutine at a time; recv takes the
// caller's buffer.
type sock struct {
	f      *os.File
	rc     syscall.RawConn
	port   uint32
	seq    atomic.Uint32
	closed atomic.Bool
	// rbuf is Receive's read buffer. It is reused on every call: the
	// messages Receive returns alias it until the next call.
	rbuf []byte
	// det is set once the reader owns the socket (detach): from then on
	// it receives and sends through det, outside the Go runtime poller.
	det *detached
}

var _ libaudit.NetlinkSendReceiver = (*sock)(nil)

// openSock opens and binds a NETLINK_AUDIT socket. groups is 0 for a
// unicast/control socket or 1 (AUDIT_NLGRP_READLOG) for multicast.
func openSock(groups uint32, bufBytes int) (*sock, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_AUDIT)
	if err != nil {
		return nil, classify("open audit netlink socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		_ = unix.Close(fd)
		return nil, classify(fmt.Sprintf("bind audit netlink socket to groups %d", groups), err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("get audit netlink socket name: %w", err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("get audit netlink socket name: unexpected address %T", sa)
	}
	f := os.NewFile(uintptr(fd), "audit-netlink")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("audit netlink raw conn: %w", err)
	}
	// A pollable file accepts deadlines; a non-pollable one could not be
	// unblocked by Close, so refuse it.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("audit netlink socket is not pollable: %w", err)
	}
	return &sock{f: f, rc: rc, port: nl.Pid, rbuf: make([]byte, bufBytes)}, nil
}

// classify maps socket errors to the package's sentinels.
func classify(op string, err error) error {
	switch {
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EAFNOSUPPORT), errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%s: %w (kernel built without CONFIG_AUDIT?): %w", op, ErrNotSupported, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%s: %w (needs root or CAP_AUDIT_CONTROL / CAP_AUDIT_READ): %w", op, ErrPermission, err)
	case errors.Is(err, unix.ECONNREFUSED):
		return fmt.Errorf("%s: %w (audit only works in the initial user and pid namespace): %w", op, ErrPermission, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Send implements libaudit.NetlinkSender. It fills in the length, port and
// a fresh sequence number, and blocks (in the poller) while the socket's
// send buffer is full.
func (s *sock) Send(msg syscall.NetlinkMessage) (uint32, error) {
	return s.send(0, msg.Header.Type, msg.Header.Flags, msg.Data, true)
}

// nextSeq reserves a sequence number, for a caller that must know it
// before the kernel can answer.
func (s *sock) nextSeq() uint32 { return s.seq.Add(1) }

// send writes one message with sequence number seq (0: the next one). With
// block false a full send buffer returns EAGAIN instead of waiting.
func (s *sock) send(seq uint32, typ, flags uint16, data []byte, block bool) (uint32, error) {
	if seq == 0 {
		seq = s.nextSeq()
	}
	b := make([]byte, nlmsgHdrLen+len(data))
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint16(b[6:8], flags)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	binary.NativeEndian.PutUint32(b[12:16], s.port)
	copy(b[nlmsgHdrLen:], data)
	if s.det != nil {
		if err := s.det.sendto(b); err != nil {
			return 0, err
		}
		return seq, nil
	}
	var serr error
	err := s.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, unix.MSG_DONTWAIT, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return !block || !errors.Is(serr, unix.EAGAIN)
	})
	if err != nil {
		return 0, s.wrapIOErr(err)
	}
	if serr != nil {
		return 0, serr
	}
	return seq, nil
}

// Receive implements libaudit.NetlinkReceiver: each recv is exactly one
// message (unicast audit messages carry a non-standard nlmsg_len, so it is
// never trusted). With nonBlocking it waits at most replyPollWait and then
// returns EAGAIN. A truncated message is an error here: replies are small.
func (s *sock) Receive(nonBlocking bool, p libaudit.NetlinkParser) ([]syscall.NetlinkMessage, error) {
	var deadline time.Time
	if nonBlocking {
		deadline = time.Now().Add(replyPollWait)
	}
	if err := s.f.SetReadDeadline(deadline); err != nil {
		return nil, s.wrapIOErr(err)
	}
	n, trunc, err := s.recv(s.rbuf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, syscall.EAGAIN
	}
	if err != nil {
		return nil, err
	}
	if trunc {
		return nil, fmt.Errorf("receive audit reply: message of %d bytes truncated to %d", n, len(s.rbuf))
	}
	if n < nlmsgHdrLen {
		return nil, fmt.Errorf("receive audit reply: %d bytes is shorter than a netlink header", n)
	}
	return p(s.rbuf[:n])
}

// recv reads one message into buf, waiting in the poller (up to the read
// deadline, if any). n is the message's full length, which exceeds len(buf)
// when trunc is set. Messages from user-space ports return errNotKernel.
func (s *sock) recv(buf []byte) (n int, trunc bool, err error) {
	if s.det != nil {
		// The reader takes batches (recvBatch); nothing else reads.
		return 0, false, errDetached
	}
	var (
		rflags int
		from   unix.Sockaddr
		rerr   error
	)
	err = s.rc.Read(func(fd uintptr) bool {
		n, _, rflags, from, rerr = unix.Recvmsg(int(fd), buf, nil, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err != nil {
		return 0, false, s.wrapIOErr(err)
	}
	if rerr != nil {
		return 0, false, rerr
	}
	if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
		return 0, false, errNotKernel
	}
	return n, rflags&unix.MSG_TRUNC != 0 || n > len(buf), nil
}

// control runs f on the socket's fd (a detached socket's included), which
// stays open while f runs.
func (s *sock) control(f func(fd uintptr)) error {
	if s.det == nil {
		return s.rc.Control(f)
	}
	s.det.mu.RLock()
	defer s.det.mu.RUnlock()
	if s.det.fd < 0 {
		return fmt.Errorf("audit netlink socket: %w", ErrClosed)
	}
	f(uintptr(s.det.fd))
	return nil
}

// wrapIOErr turns any error after Close into ErrClosed.
func (s *sock) wrapIOErr(err error) error {
	if s.closed.Load() || errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("audit netlink socket: %w", ErrClosed)
	}
	return err
}

// setReceiveBuffer sets SO_RCVBUFFORCE (falling back to SO_RCVBUF, which
// the kernel caps at net.core.rmem_max) and returns the size the kernel
// reports (twice the request, for bookkeeping overhead).
func (s *sock) setReceiveBuffer(bytes int) (int, error) {
	var got int
	var serr, gerr error
	err := s.control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bytes); serr != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
		}
		got, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if err == nil {
		err = errors.Join(serr, gerr)
	}
	if err != nil {
		return 0, fmt.Errorf("set audit netlink receive buffer to %d bytes: %w", bytes, err)
	}
	return got, nil
}

// Close closes the socket, waking any receive blocked in the poller; a
// detached socket's reader notices within detachedPoll and closes the fd.
// It is idempotent.
func (s *sock) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.det != nil {
		// The reader closes a detached fd when it notices (detachedPoll).
		return nil
	}
	return s.f.Close()
}

// header is the part of struct nlmsghdr the package looks at.
type header struct {
	typ uint16
	seq uint32
}

// parseHeader reads the netlink header of one received message; ok is
// false when msg is shorter than a header.
func parseHeader(msg []byte) (h header, ok bool) {
	if len(msg) < nlmsgHdrLen {
		return header{}, false
	}
	return header{
		typ: binary.NativeEndian.Uint16(msg[4:6]),
		seq: binary.NativeEndian.Uint32(msg[8:12]),
	}, true
}

// ackErrno returns the errno of an NLMSG_ERROR payload (nil for an ACK).
func ackErrno(payload []byte) error {
	if len(payload) < 4 {
		return errors.New("netlink error message too short")
	}
	if e := -int32(binary.NativeEndian.Uint32(payload[:4])); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// SO_MEMINFO indices (include/uapi/linux/sock_diag.h).
const (
	skMeminfoRmemAlloc = 0
	skMeminfoRcvbuf    = 1
	skMeminfoDrops     = 8
	// skMeminfoMax is more than any kernel's SK_MEMINFO_VARS; the kernel
	// copies at most what we offer.
	skMeminfoMax = 16
)

// memInfo is the part of SO_MEMINFO the package exports.
type memInfo struct {
	queued, rcvbuf, drops uint32
}

// memInfo reads SO_MEMINFO. drops counts the messages the kernel could not
// queue on this socket (netlink_overrun), one per lost message.
func (s *sock) memInfo() (memInfo, error) {
	var buf [skMeminfoMax]uint32
	var serr error
	err := s.control(func(fd uintptr) {
		l := uint32(unsafe.Sizeof(buf))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)), 0)
		if e != 0 {
			serr = e
		} else if l < (skMeminfoDrops+1)*4 {
			serr = fmt.Errorf("SO_MEMINFO returned %d bytes", l)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return memInfo{}, fmt.Errorf("read audit netlink socket meminfo: %w", s.wrapIOErr(err))
	}
	return memInfo{queued: buf[skMeminfoRmemAlloc], rcvbuf: buf[skMeminfoRcvbuf], drops: buf[skMeminfoDrops]}, nil
}
