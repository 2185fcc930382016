package netlink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

const (
	// releaseSendRetries bounds the non-blocking sends of the pid release
	// while the data socket's send buffer is full; the reader keeps
	// draining in between.
	releaseSendRetries = 5
	releaseRetryWait   = 10 * time.Millisecond
	// releaseAckTimeout bounds the wait for the kernel's ACK of the
	// release; after it Close checks the pid through the control socket.
	releaseAckTimeout = 2 * time.Second
)

// Client is an audit record source: in unicast mode it holds the kernel
// audit pid (like auditd), in multicast mode it listens on
// AUDIT_NLGRP_READLOG. A goroutine owned by the Client reads the data
// socket into a bounded queue; Next takes records from it.
//
// Next must be used from one goroutine; Close and Control are safe for
// concurrent use with it.
type Client struct {
	log  *slog.Logger
	m    *Metrics
	mode string
	ctl  *Control
	data *sock
	pid  uint32

	queue *recordQueue
	// hooks are the reader's BatchHooks (Config.Hooks, then AddHook,
	// which hookMu serializes); the reader loads them per batch.
	hooks  atomic.Pointer[[]BatchHook]
	hookMu sync.Mutex
	// cur is what Next still has of the last batch taken.
	cur    []auditevent.Record
	linger time.Duration
	done   chan struct{} // closed when the reader has returned
	// readErr is the reader's error; written before queue is closed.
	readErr error

	ownsPID    bool
	closing    atomic.Bool
	releaseSeq atomic.Uint32
	releaseAck chan error // buffered 1: the reader never blocks on it
	// undo restores, in reverse order, the status fields Open changed.
	undo []undoStep

	closeOnce sync.Once
	closeErr  error

	// Loss accounting: the scrape-time collector, the serials the reader
	// saw, the restart gap found at Open and the state file.
	status *StatusCollector
	serialTracker
	gap         restartGap
	stateFile   string
	boot        string
	saved       atomic.Bool
	savedLost   uint32 // guarded by the poller being the only writer after start
	savedSerial uint32
	stateLog    logLimiter
	pollStop    chan struct{}
	pollDone    chan struct{}
	pollEvery   time.Duration
}

type undoStep struct {
	field string
	run   func() error
}

// Open opens a record source as cfg.Mode says. In unicast mode it
// snapshots the kernel status, applies cfg's backlog limit, backlog wait
// time and rate limit (only where they differ), claims the pid and enables
// auditing if it was off; Close undoes all of it. An occupied pid gives
// ErrAuditPIDTaken; in auto mode Open then falls back to multicast, which
// changes nothing in the kernel. log may be nil (discard) and m may be nil.
func Open(cfg Config, log *slog.Logger, m *Metrics) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open audit netlink: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctl, err := OpenControl()
	if err != nil {
		return nil, err
	}
	var c *Client
	switch mode := cfg.mode(); mode {
	case ModeUnicast:
		c, err = openUnicast(cfg, log, m, ctl)
	case ModeMulticast:
		c, err = openMulticast(cfg, log, m, ctl)
	default:
		c, err = openUnicast(cfg, log, m, ctl)
		if errors.Is(err, ErrAuditPIDTaken) {
			log.Info("audit netlink delivery mode chosen", "mode", ModeMulticast, "reason", err.Error())
			c, err = openMulticast(cfg, log, m, ctl)
		} else if err == nil {
			log.Info("audit netlink delivery mode chosen", "mode", ModeUnicast, "reason", "audit pid was free")
		}
	}
	if err != nil {
		_ = ctl.Close()
		return nil, err
	}
	return c, nil
}

func newClient(cfg Config, log *slog.Logger, m *Metrics, ctl *Control, mode string) *Client {
	c := &Client{
		log: log, m: m, mode: mode, ctl: ctl, pid: uint32(os.Getpid()),
		queue:      newRecordQueue(cfg.QueueRecords),
		linger:     cfg.ReceiveLinger,
		done:       make(chan struct{}),
		releaseAck: make(chan error, 1),
		// The first reading is the base of auditlkm_kernel_lost_total:
		// loss from here on is ours to report.
		status:    NewStatusCollector(ctl),
		pollStop:  make(chan struct{}),
		pollDone:  make(chan struct{}),
		pollEvery: cfg.StatusPollInterval,
	}
	c.status.client = c
	if len(cfg.Hooks) > 0 {
		hooks := slices.Clone(cfg.Hooks)
		c.hooks.Store(&hooks)
	}
	if mode == ModeUnicast {
		// Restart accounting needs the serials of the whole stream:
		// multicast delivery is best effort and shared, so it is left out.
		c.stateFile = cfg.StateFile
		c.boot = bootID()
	}
	return c
}

func pidTaken(holder, self uint32) error {
	if holder == self {
		return fmt.Errorf("claim audit pid: %w (held by pid %d, this process)", ErrAuditPIDTaken, holder)
	}
	return fmt.Errorf("claim audit pid: %w (held by pid %d)", ErrAuditPIDTaken, holder)
}

func openUnicast(cfg Config, log *slog.Logger, m *Metrics, ctl *Control) (*Client, error) {
	c := newClient(cfg, log, m, ctl, ModeUnicast)
	st, err := ctl.Status()
	if err != nil {
		return nil, err
	}
	if st.PID != 0 && processExists(st.PID) {
		return nil, pidTaken(st.PID, c.pid)
	}
	if st.PID != 0 {
		// The holder died without releasing (SIGKILL, crash). The kernel
		// only notices when it next sends to it; the claim below makes it
		// probe the dead socket (AUDIT_REPLACE), reset the pid and accept.
		log.Info("audit pid held by a process that no longer exists; reclaiming", "dead_pid", st.PID)
	}
	if cfg.StateFile != "" {
		c.loadRestartGap(cfg.StateFile, st.Lost)
	}
	if st.Immutable() {
		log.Warn("kernel audit configuration is immutable (enabled=2) until reboot: backlog limit, wait time and rate limit stay as they are",
			"backlog_limit", st.BacklogLimit, "backlog_wait_time", st.BacklogWaitTime, "rate_limit", st.RateLimit)
	} else if err := c.apply(cfg, st); err != nil {
		return nil, errors.Join(err, c.restore())
	}

	if c.data, err = openSock(libaudit.NetlinkGroupNone, readBufferBytes); err != nil {
		return nil, errors.Join(err, c.restore())
	}
	c.setReceiveBuffer(cfg)
	// The one control exchange on the data socket: go-libaudit's reply
	// loop discards any record that arrives before the ACK.
	if err := (&libaudit.AuditClient{Netlink: c.data}).SetPID(libaudit.WaitForReply); err != nil {
		_ = c.data.Close()
		if errors.Is(err, unix.EEXIST) {
			holder := uint32(0)
			if now, serr := ctl.Status(); serr == nil {
				holder = now.PID
			}
			err = pidTaken(holder, c.pid)
		} else {
			err = classify("claim audit pid", err)
		}
		return nil, errors.Join(err, c.restore())
	}
	c.ownsPID = true
	if st.Enabled == 0 {
		if err := ctl.SetEnabled(1); err != nil {
			c.start()
			return nil, errors.Join(err, c.Close())
		}
		c.undo = append(c.undo, undoStep{"enabled", func() error { return ctl.SetEnabled(0) }})
	}
	c.start()
	return c, nil
}

// apply sets the status fields cfg asks for where they differ from st and
// records how to undo each one.
func (c *Client) apply(cfg Config, st Status) error {
	ctl := c.ctl
	if cfg.BacklogLimit != 0 && cfg.BacklogLimit != st.BacklogLimit {
		if err := ctl.SetBacklogLimit(cfg.BacklogLimit); err != nil {
			return err
		}
		c.undo = append(c.undo, undoStep{"backlog limit", func() error { return ctl.SetBacklogLimit(st.BacklogLimit) }})
	}
	if cfg.BacklogWaitTime != LeaveBacklogWaitTime && uint32(cfg.BacklogWaitTime) != st.BacklogWaitTime {
		if err := ctl.SetBacklogWaitTime(cfg.BacklogWaitTime); err != nil {
			return err
		}
		c.undo = append(c.undo, undoStep{"backlog wait time", func() error { return ctl.SetBacklogWaitTime(int32(st.BacklogWaitTime)) }})
	}
	if cfg.RateLimit != st.RateLimit {
		if err := ctl.SetRateLimit(cfg.RateLimit); err != nil {
			return err
		}
		c.undo = append(c.undo, undoStep{"rate limit", func() error { return ctl.SetRateLimit(st.RateLimit) }})
	}
	return nil
}

// restore undoes apply (and the enabled change), newest first.
func (c *Client) restore() error {
	var errs []error
	for i := len(c.undo) - 1; i >= 0; i-- {
		if err := c.undo[i].run(); err != nil {
			errs = append(errs, fmt.Errorf("restore audit %s: %w", c.undo[i].field, err))
		}
	}
	c.undo = nil
	return errors.Join(errs...)
}

func openMulticast(cfg Config, log *slog.Logger, m *Metrics, ctl *Control) (*Client, error) {
	c := newClient(cfg, log, m, ctl, ModeMulticast)
	var err error
	if c.data, err = openSock(libaudit.NetlinkGroupReadLog, readBufferBytes); err != nil {
		return nil, err
	}
	c.setReceiveBuffer(cfg)
	c.start()
	return c, nil
}

func (c *Client) setReceiveBuffer(cfg Config) {
	if cfg.ReceiveBufferBytes == 0 {
		return
	}
	got, err := c.data.setReceiveBuffer(cfg.ReceiveBufferBytes)
	if err != nil {
		c.log.Warn("audit netlink receive buffer left at the default", "error", err)
		return
	}
	if got < cfg.ReceiveBufferBytes {
		c.log.Warn("audit netlink receive buffer smaller than asked (SO_RCVBUFFORCE refused, capped by net.core.rmem_max)",
			"asked_bytes", cfg.ReceiveBufferBytes, "kernel_bytes", got)
	}
}

// start runs the reader goroutine. It owns the read buffer (the data
// socket's, no longer used by go-libaudit's reply loop) and the queue,
// which it closes when it returns.
func (c *Client) start() {
	_ = c.data.setDeadline(time.Time{})
	if err := c.data.detach(); err != nil {
		c.log.Warn("audit netlink data socket stays in the Go poller (one wake-up per few records under load)", "error", err)
	}
	c.startReader(c.data, c.data.rbuf)
}

// startReader runs the reader over r; the seam for tests.
func (c *Client) startReader(r receiver, buf []byte) {
	rd := &reader{
		r: r, buf: buf, queue: c.queue, hooks: &c.hooks, m: c.m, log: c.log, serials: &c.serialTracker,
		closing:    c.closing.Load,
		releaseSeq: c.releaseSeq.Load,
		onRelease: func(err error) {
			select {
			case c.releaseAck <- err:
			default:
			}
		},
	}
	if br, ok := r.(batchReceiver); ok {
		rd.batch = newBatch(br, batchMessages, len(buf))
		rd.batch.linger = c.linger
	}
	go func() {
		defer close(c.done)
		c.readErr = rd.run()
		if s, ok := r.(*sock); ok && s.det != nil {
			s.det.readerDone()
		}
		c.queue.close()
	}()
	if c.pollEvery <= 0 {
		c.pollEvery = time.Second
	}
	go func() {
		defer close(c.pollDone)
		c.poll(c.pollEvery, c.pollStop)
	}()
}

// Mode returns the delivery mode in use: ModeUnicast or ModeMulticast.
func (c *Client) Mode() string { return c.mode }

// Control returns the Client's control socket, for rules and status. It is
// closed by Close.
func (c *Client) Control() *Control { return c.ctl }

// AddHook adds h to the reader's BatchHooks from its next batch on (the
// rule guard, which needs the client's control socket before it exists).
func (c *Client) AddHook(h BatchHook) {
	c.hookMu.Lock()
	defer c.hookMu.Unlock()
	var hooks []BatchHook
	if old := c.hooks.Load(); old != nil {
		hooks = slices.Clone(*old)
	}
	hooks = append(hooks, h)
	c.hooks.Store(&hooks)
}

// Batches returns the queue the reader hands its batches to, for a
// consumer that waits on it beside other channels (the daemon's processor
// loop) instead of in NextBatch, so that no goroutine sits between the
// reader and the consumer. Each batch received from it must be passed to
// Took. It is closed once the reader has ended after Close; Err then tells
// a failure from a clean end. Do not mix it with Next and NextBatch.
func (c *Client) Batches() <-chan []auditevent.Record { return c.queue.ch }

// Took accounts for a batch received from Batches: its records leave the
// queue's bound.
func (c *Client) Took(b []auditevent.Record) {
	c.queue.queued.Add(-int64(len(b)))
	c.m.setQueueLength(c.queue.len())
}

// Queued returns how many records wait in the queue.
func (c *Client) Queued() int { return c.queue.len() }

// Err returns the reader's error once the Batches channel is closed: nil
// when the reader ended cleanly (after Close).
func (c *Client) Err() error { return c.readErr }

// NextBatch waits for the next batch of records (what one receive call
// brought) and appends it to dst; when dst has no capacity it returns the
// batch itself, without a copy. The records are the caller's. After Close
// it returns what is still queued and then io.EOF, or the reader's error
// if it failed. What Next left of a batch comes first.
func (c *Client) NextBatch(ctx context.Context, dst []auditevent.Record) ([]auditevent.Record, error) {
	b := c.cur
	c.cur = nil
	if len(b) == 0 {
		var ok bool
		var err error
		b, ok, err = c.queue.take(ctx)
		if err != nil {
			return dst, err
		}
		if !ok {
			if c.readErr != nil {
				return dst, c.readErr
			}
			return dst, io.EOF
		}
		c.m.setQueueLength(c.queue.len())
	}
	if cap(dst) == 0 {
		return b, nil
	}
	return append(dst, b...), nil
}

// Next returns the next record. After Close it returns the records still
// queued and then io.EOF; if the reader failed it returns the reader's
// error instead of io.EOF.
func (c *Client) Next(ctx context.Context) (auditevent.Record, error) {
	for len(c.cur) == 0 {
		b, err := c.NextBatch(ctx, nil)
		if err != nil {
			return auditevent.Record{}, err
		}
		c.cur = b
	}
	return c.pop(), nil
}

func (c *Client) pop() auditevent.Record {
	rec := c.cur[0]
	c.cur[0] = auditevent.Record{}
	c.cur = c.cur[1:]
	return rec
}

// Close stops the reader and gives the kernel back as Open found it. In
// unicast mode it first restores the status fields Open changed, then
// releases the pid with a non-blocking AUDIT_SET pid=0 on the data socket
// while the reader keeps draining (a blocking release on a congested socket
// can deadlock against kauditd), reads what the socket still holds, and
// falls back to a release over the control socket if no ACK came. Close is
// idempotent and returns the first call's result.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Client) close() error {
	var errs []error
	c.closing.Store(true)
	errs = append(errs, c.restore())
	if c.ownsPID {
		if err := c.releasePID(); err != nil {
			c.log.Warn("audit pid release over the data socket failed; retrying over the control socket", "error", err)
		} else {
			// Let the reader drain the socket buffer (bounded by drainMax).
			select {
			case <-c.done:
			case <-time.After(drainMax + time.Second):
			}
		}
	}
	errs = append(errs, c.data.Close())
	<-c.done
	close(c.pollStop)
	<-c.pollDone
	// The reader is done: the last serial is final.
	if st, err := c.status.Poll(); err == nil {
		c.saveState(st.Lost)
	}
	if c.ownsPID {
		st, err := c.ctl.Status()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("check audit pid release: %w", err))
		case st.PID == c.pid:
			if err := c.ctl.ReleasePID(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, c.ctl.Close())
	return errors.Join(errs...)
}

// releasePID sends AUDIT_SET pid=0 on the data socket without blocking and
// waits (bounded) for the reader to see its ACK.
func (c *Client) releasePID() error {
	seq := c.data.nextSeq()
	c.releaseSeq.Store(seq)
	var err error
	for range releaseSendRetries {
		_, err = c.data.send(seq, libaudit.AuditSet, unix.NLM_F_REQUEST|unix.NLM_F_ACK, pidWire(0), false)
		if !errors.Is(err, unix.EAGAIN) {
			break
		}
		time.Sleep(releaseRetryWait)
	}
	if err != nil {
		return fmt.Errorf("release audit pid: %w", err)
	}
	select {
	case err := <-c.releaseAck:
		if err != nil {
			return fmt.Errorf("release audit pid: %w", err)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("release audit pid: reader ended before the ACK: %w", ErrNoReply)
	case <-time.After(releaseAckTimeout):
		return fmt.Errorf("release audit pid: %w within %s", ErrNoReply, releaseAckTimeout)
	}
}

// processExists reports whether pid names a live process (or one we may not
// signal). Unicast audit only works in the initial pid namespace, so the
// kernel's audit pid is a pid of ours to check.
func processExists(pid uint32) bool {
	err := unix.Kill(int(pid), 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
