package netlink

import (
	"errors"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchMessages is how many messages one recvmmsg(2) may return. Under
// load the socket holds many records and one system call takes up to this
// many, instead of one recvmsg per record.
const batchMessages = 256

// lingerBelow: a receive that brought fewer messages than this found the
// socket drained, and the next one waits Config.ReceiveLinger first. Any
// receive that did not fill the batch drained it: reading again at once
// mostly brings a few records, or waits for the next one in the kernel,
// and a goroutine waiting in a system call keeps the runtime's monitor
// (sysmon) waking every 20 us to take its processor back (a tenth of the
// daemon's CPU at 15,000 events/s, with every batch between 64 and 256
// messages read again at once).
const lingerBelow = batchMessages

// batchReceiver is implemented by receivers that can read several
// messages per system call; the reader uses it when it can.
type batchReceiver interface {
	// recvBatch reads up to len(b.msgs) messages, blocking (in the poller)
	// until at least one arrives, the read deadline passes or the socket
	// is closed. It returns how many it read.
	recvBatch(b *batch) (int, error)
}

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// batchMsg is one received message of a batch.
type batchMsg struct {
	// buf is this slot's read buffer, reused for every batch: a message
	// aliases it until the next recvBatch.
	buf       []byte
	n         int  // the message's full length
	trunc     bool // it did not fit in buf
	notKernel bool // it came from a user-space port
}

// batch is the state of recvmmsg: buffers, iovecs, addresses and headers,
// allocated once. It must be used from one goroutine.
type batch struct {
	r     batchReceiver
	msgs  []batchMsg
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrNetlink
	// next and count walk the messages of the last batch.
	next, count int
	// linger is how long to wait before a receive that follows one that
	// found the socket drained (fewer than lingerBelow messages); 0: never.
	linger time.Duration
	// sleep is time.Sleep; tests record the lingers instead.
	sleep func(time.Duration)
}

func newBatch(r batchReceiver, n, bufBytes int) *batch {
	b := &batch{r: r, sleep: time.Sleep, msgs: make([]batchMsg, n), hdrs: make([]mmsghdr, n),
		iovs: make([]unix.Iovec, n), names: make([]unix.RawSockaddrNetlink, n)}
	for i := range n {
		b.msgs[i].buf = make([]byte, bufBytes)
		b.iovs[i].Base = &b.msgs[i].buf[0]
		b.iovs[i].SetLen(bufBytes)
		b.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.hdrs[i].hdr.Iov = &b.iovs[i]
		b.hdrs[i].hdr.SetIovlen(1)
	}
	return b
}

// recvBatch implements batchReceiver with recvmmsg(2). MSG_TRUNC makes
// each message's length its full length, so truncation is detected per
// message.
func (s *sock) recvBatch(b *batch) (int, error) {
	for i := range b.hdrs {
		b.hdrs[i].hdr.Namelen = unix.SizeofSockaddrNetlink
		b.hdrs[i].hdr.Flags = 0
		b.hdrs[i].len = 0
	}
	var (
		count int
		err   error
	)
	if s.det != nil {
		count, err = s.det.recvmmsg(b.hdrs)
	} else {
		count, err = s.recvmmsgPolled(b.hdrs)
	}
	if err != nil {
		return 0, err
	}
	for i := range count {
		m, h := &b.msgs[i], &b.hdrs[i]
		m.n = int(h.len)
		m.trunc = h.hdr.Flags&unix.MSG_TRUNC != 0 || m.n > len(m.buf)
		m.notKernel = b.names[i].Pid != 0
	}
	return count, nil
}

// recvmmsgPolled is a non-blocking recvmmsg(2) that waits in the Go
// runtime poller while the socket is empty.
func (s *sock) recvmmsgPolled(hdrs []mmsghdr) (int, error) {
	var (
		count int
		rerr  error
	)
	err := s.rc.Read(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)),
			unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
		if e != 0 {
			count, rerr = 0, e
		} else {
			count, rerr = int(r), nil
		}
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err != nil {
		return 0, s.wrapIOErr(err)
	}
	return count, rerr
}

// empty reports that every message of the last batch was taken.
func (b *batch) empty() bool { return b.next >= b.count }

// take returns the next message of the batch, reading a new batch when
// the last one is used up.
func (b *batch) take() (msg []byte, n int, trunc bool, err error) {
	if b.next >= b.count {
		if b.linger > 0 && b.count > 0 && b.count < lingerBelow {
			// The socket was drained: let records gather instead of
			// being woken for each (see detached).
			b.sleep(b.linger)
		}
		b.next, b.count = 0, 0
		c, err := b.r.recvBatch(b)
		if err != nil {
			return nil, 0, false, err
		}
		b.count = c
	}
	m := &b.msgs[b.next]
	b.next++
	if m.notKernel {
		return nil, 0, false, errNotKernel
	}
	return m.buf, m.n, m.trunc, nil
}
