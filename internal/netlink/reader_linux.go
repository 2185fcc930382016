package netlink

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"
	"golang.org/x/sys/unix"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

const (
	// firstEventType and lastEventType bound the netlink message types
	// that carry audit records (AUDIT_FIRST_USER_MSG .. AUDIT_LAST_USER_MSG2);
	// the rest are ACKs, replies and control messages.
	firstEventType = 1100
	lastEventType  = 2999
	// maxTransientErrors bounds consecutive EINTR/EAGAIN/ENOBUFS results
	// without a message before the reader gives up.
	maxTransientErrors = 10000
	// logEvery rate-limits the reader's warnings, per kind.
	logEvery = 10 * time.Second
	// drainIdle and drainMax bound the drain after the pid is released:
	// the reader keeps reading until the socket has been idle for
	// drainIdle, and never longer than drainMax in total.
	drainIdle = 50 * time.Millisecond
	drainMax  = 2 * time.Second
)

// receiver is the reader's view of the data socket. It is the narrow seam
// through which tests inject errnos; *sock implements it.
type receiver interface {
	// recv reads one message into buf, blocking until one arrives, the
	// read deadline passes or the socket is closed. n is the message's
	// full length; trunc reports that it did not fit.
	recv(buf []byte) (n int, trunc bool, err error)
	// setDeadline sets the read deadline (zero: none).
	setDeadline(t time.Time) error
}

func (s *sock) setDeadline(t time.Time) error {
	if s.det != nil {
		return s.det.setDeadline(t)
	}
	return s.f.SetReadDeadline(t)
}

// reader is the socket reader loop. It only reads, parses and queues: it
// never blocks on the consumer (a full queue drops and counts) and never
// sends. It must be used from one goroutine.
type reader struct {
	r receiver
	// buf is the read buffer, reused for every message; records are
	// copied out of it by auditevent.ParseNetlink before the next recv.
	buf   []byte
	queue *recordQueue
	// hooks see each batch before the queue does (Client.hooks).
	hooks *atomic.Pointer[[]BatchHook]
	// out collects the records of the current receive batch; flush hands
	// it to the queue whole when the batch is used up.
	out []auditevent.Record
	// arena holds the text of the records: one allocation per 16 KiB of
	// records instead of one per record. A chunk lives while any of its
	// records does.
	arena auditevent.Arena
	m     *Metrics
	// serials, if set, remembers the first and highest serial received.
	serials *serialTracker
	// batch, if set, reads with recvmmsg instead of r.recv.
	batch *batch
	log   *slog.Logger
	// closing reports that Close has begun: a receive error is then the
	// expected end, not a failure.
	closing func() bool
	// releaseSeq returns the sequence number of our pid release request
	// (0: none yet); onRelease receives its ACK's errno.
	releaseSeq func() uint32
	onRelease  func(error)

	draining   bool
	drainUntil time.Time
	truncLog   logLimiter
	parseLog   logLimiter
	nobufsLog  logLimiter
}

// run reads until the socket is closed or fails. It returns nil on a clean
// end (closed during Close, or drained after the pid release).
func (rd *reader) run() (err error) {
	defer func() { err = errors.Join(err, rd.flush()) }()
	transient := 0
	for {
		if rd.batch == nil || rd.batch.empty() {
			// Whatever the last batch brought leaves before the next
			// receive, which may wait.
			if err := rd.flush(); err != nil {
				return err
			}
		}
		if rd.draining {
			d := time.Now().Add(drainIdle)
			if d.After(rd.drainUntil) {
				d = rd.drainUntil
			}
			if err := rd.r.setDeadline(d); err != nil {
				return nil
			}
		}
		msg, n, trunc, err := rd.recv()
		if err != nil {
			if errors.Is(err, ErrClosed) && rd.closing() || errors.Is(err, os.ErrDeadlineExceeded) && rd.draining {
				return nil
			}
			switch {
			case errors.Is(err, unix.ENOBUFS):
				rd.m.receiveError(errnoENOBUFS)
				if ok, skipped := rd.nobufsLog.allow(time.Now()); ok {
					rd.log.Warn("audit netlink socket buffer overflowed, records lost (raise ReceiveBufferBytes)",
						"errno", "ENOBUFS", "suppressed", skipped)
				}
			case errors.Is(err, unix.EINTR):
				rd.m.receiveError(errnoEINTR)
			case errors.Is(err, unix.EAGAIN):
				rd.m.receiveError(errnoEAGAIN)
			case errors.Is(err, errNotKernel):
				rd.m.parseError(reasonNotKernel)
				transient = 0
				continue
			default:
				rd.m.receiveError(errnoOther)
				return fmt.Errorf("receive audit record: %w", err)
			}
			if transient++; transient >= maxTransientErrors {
				return fmt.Errorf("receive audit record: %d consecutive errors, last: %w", transient, err)
			}
			continue
		}
		transient = 0
		if trunc {
			rd.m.truncatedMessage()
			if ok, skipped := rd.truncLog.allow(time.Now()); ok {
				rd.log.Warn("audit netlink message larger than the read buffer dropped",
					"bytes", n, "buffer_bytes", len(msg), "suppressed", skipped)
			}
			continue
		}
		rd.handle(msg[:n])
	}
}

// recv returns the next message: from the current recvmmsg batch when the
// receiver supports batches, else from one recv into rd.buf.
func (rd *reader) recv() (msg []byte, n int, trunc bool, err error) {
	if rd.batch != nil {
		return rd.batch.take()
	}
	n, trunc, err = rd.r.recv(rd.buf)
	return rd.buf, n, trunc, err
}

// handle dispatches one complete message.
func (rd *reader) handle(msg []byte) {
	h, ok := parseHeader(msg)
	if !ok {
		rd.m.parseError(reasonShort)
		return
	}
	switch {
	case h.typ == unix.NLMSG_ERROR:
		if seq := rd.releaseSeq(); seq != 0 && h.seq == seq {
			rd.onRelease(ackErrno(msg[nlmsgHdrLen:]))
			// No unicast record follows the release: drain what the socket
			// buffer still holds, then end.
			rd.draining = true
			rd.drainUntil = time.Now().Add(drainMax)
		}
		return
	case h.typ == uint16(auparse.AUDIT_REPLACE):
		rd.m.replaceProbe()
		return
	case h.typ < firstEventType || h.typ > lastEventType:
		return
	}
	rec, err := auditevent.ParseNetlinkArena(h.typ, msg[nlmsgHdrLen:], &rd.arena)
	if err != nil {
		reason := reasonOther
		switch {
		case errors.Is(err, auditevent.ErrNoHeader):
			reason = reasonNoHeader
		case errors.Is(err, auditevent.ErrTooLong):
			reason = reasonTooLong
		}
		rd.m.parseError(reason)
		if ok, skipped := rd.parseLog.allow(time.Now()); ok {
			rd.log.Warn("audit record dropped", "error", err, "suppressed", skipped)
		}
		return
	}
	rd.m.recordReceived(rec.Type)
	if rd.serials != nil {
		rd.serials.see(rec.Serial)
	}
	if rd.out == nil {
		n := 1
		if rd.batch != nil {
			n = rd.batch.count
		}
		rd.out = make([]auditevent.Record, 0, n)
	}
	rd.out = append(rd.out, rec)
}

// flush runs the hooks over the records collected so far, then offers
// them to the queue as one batch. A batch the queue cannot take is dropped
// whole and counted per record. It returns the first hook's error.
func (rd *reader) flush() error {
	if len(rd.out) == 0 {
		return nil
	}
	var err error
	if hooks := rd.hooks; hooks != nil {
		if hs := hooks.Load(); hs != nil {
			for _, h := range *hs {
				if err = h(rd.out); err != nil {
					break
				}
			}
		}
	}
	if rd.queue.offer(rd.out) {
		rd.out = nil // the consumer owns it now
	} else {
		for i := range rd.out {
			rd.m.queueDrop(rd.out[i].Type)
		}
		clear(rd.out)
		rd.out = rd.out[:0]
	}
	rd.m.setQueueLength(rd.queue.len())
	return err
}

// logLimiter lets one log line through per logEvery and counts the rest.
// It must be used from one goroutine.
type logLimiter struct {
	last       time.Time
	suppressed int
}

func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	if !l.last.IsZero() && now.Sub(l.last) < logEvery {
		l.suppressed++
		return false, 0
	}
	l.last, suppressed, l.suppressed = now, l.suppressed, 0
	return true, suppressed
}
