package netlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"github.com/elastic/go-libaudit/v2/auparse"
	"golang.org/x/sys/unix"
)

const (
	// ackTimeout bounds the wait for the kernel's ACK to our own requests
	// (DeleteRule, ReleasePID).
	ackTimeout = 2 * time.Second
	// maxAckSkips bounds how many unrelated messages an ACK wait reads
	// before giving up.
	maxAckSkips = 1024
	// sizeofAuditStatus is struct audit_status as of Linux 5.x (11 u32).
	sizeofAuditStatus = 11 * 4
)

// Status is the kernel audit status (struct audit_status).
type Status struct {
	Enabled               uint32 // 0 off, 1 on, 2 on and immutable
	Failure               uint32 // 0 silent, 1 printk, 2 panic
	PID                   uint32 // pid of the process receiving unicast records, 0 if none
	RateLimit             uint32 // messages per second, 0 unlimited
	BacklogLimit          uint32 // queued records before the failure action
	Lost                  uint32 // records the kernel dropped since boot
	Backlog               uint32 // records queued now
	FeatureBitmap         uint32
	BacklogWaitTime       uint32 // jiffies a syscall may wait for backlog space
	BacklogWaitTimeActual uint32 // jiffies spent waiting
}

// Immutable reports whether the configuration is locked until reboot.
func (s Status) Immutable() bool { return s.Enabled == 2 }

func statusFrom(a *libaudit.AuditStatus) Status {
	return Status{
		Enabled: a.Enabled, Failure: a.Failure, PID: a.PID, RateLimit: a.RateLimit,
		BacklogLimit: a.BacklogLimit, Lost: a.Lost, Backlog: a.Backlog,
		FeatureBitmap: a.FeatureBitmap, BacklogWaitTime: a.BacklogWaitTime,
		BacklogWaitTimeActual: a.BacklogWaitTimeActual,
	}
}

// Control is an audit netlink control socket that never claims the audit
// pid, so no record is ever delivered to it and go-libaudit's reply loop
// cannot swallow events. Control is safe for concurrent use: requests are
// serialised.
type Control struct {
	mu   sync.Mutex
	s    *sock
	ac   *libaudit.AuditClient
	abuf []byte // ACK read buffer, guarded by mu
}

// OpenControl opens a control socket and checks it with one AUDIT_GET, so
// a missing audit subsystem (ErrNotSupported) or missing privilege
// (ErrPermission) is reported here and not at first use.
func OpenControl() (*Control, error) {
	s, err := openSock(libaudit.NetlinkGroupNone, controlBufferBytes)
	if err != nil {
		return nil, err
	}
	c := &Control{s: s, ac: &libaudit.AuditClient{Netlink: s}, abuf: make([]byte, controlBufferBytes)}
	if _, err := c.Status(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return c, nil
}

// Status reads the kernel audit status.
func (c *Control) Status() (Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.ac.GetStatus()
	if err != nil {
		return Status{}, classify("get audit status", err)
	}
	return statusFrom(st), nil
}

// Rules lists the kernel's audit rules (AUDIT_LIST_RULES) as raw struct
// audit_rule_data wire bytes, in kernel order. Each slice is a copy.
func (c *Control) Rules() ([][]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rules, err := c.ac.GetRules()
	if err != nil {
		return nil, classify("list audit rules", err)
	}
	return rules, nil
}

// AddRule adds one rule in audit_rule_data wire format. An identical rule
// already loaded gives ErrRuleExists.
func (c *Control) AddRule(wire []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.ac.AddRule(wire)
	switch {
	case err == nil:
		return nil
	// go-libaudit replaces EEXIST with this unwrapped string.
	case err.Error() == "rule exists", errors.Is(err, syscall.EEXIST):
		return fmt.Errorf("add audit rule: %w (%w)", ErrRuleExists, syscall.EEXIST)
	case errors.Is(err, syscall.EINVAL):
		// The family exists (the socket opened): EINVAL is about the rule.
		return fmt.Errorf("add audit rule: kernel rejected the rule as invalid: %w", err)
	}
	return classify("add audit rule", err)
}

// DeleteRule deletes one rule in audit_rule_data wire format and returns
// the kernel's answer: ENOENT when no such rule is loaded. (go-libaudit's
// DeleteRule ignores the errno in the ACK, so this one is ours.)
func (c *Control) DeleteRule(wire []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.request(uint16(auparse.AUDIT_DEL_RULE), wire); err != nil {
		return classify("delete audit rule", err)
	}
	return nil
}

// SetEnabled sets enabled to 0 (off) or 1 (on). It refuses 2 (immutable):
// that cannot be undone before reboot and nothing in auditlkm needs it.
func (c *Control) SetEnabled(v uint32) error {
	if v > 1 {
		return fmt.Errorf("set audit enabled to %d: %w", v, errRefuseImmutable)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ac.SetEnabled(v == 1, libaudit.WaitForReply); err != nil {
		return classify("set audit enabled", err)
	}
	return nil
}

// errRefuseImmutable: SetEnabled(2) is refused.
var errRefuseImmutable = errors.New("refusing to lock the audit configuration until reboot")

// SetBacklogLimit sets the number of records the kernel queues.
func (c *Control) SetBacklogLimit(v uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ac.SetBacklogLimit(v, libaudit.WaitForReply); err != nil {
		return classify("set audit backlog limit", err)
	}
	return nil
}

// SetBacklogWaitTime sets how many jiffies an audited syscall may wait for
// backlog space (0: never wait, drop and count in Lost).
func (c *Control) SetBacklogWaitTime(v int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ac.SetBacklogWaitTime(v, libaudit.WaitForReply); err != nil {
		return classify("set audit backlog wait time", err)
	}
	return nil
}

// SetRateLimit sets the message rate limit per second (0: unlimited).
func (c *Control) SetRateLimit(v uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ac.SetRateLimit(v, libaudit.WaitForReply); err != nil {
		return classify("set audit rate limit", err)
	}
	return nil
}

// SetFailure sets the failure action: 0 silent, 1 printk, 2 panic.
// (go-libaudit's FailureMode constants are all 0, so the number is passed
// through as is.)
func (c *Control) SetFailure(v uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ac.SetFailure(libaudit.FailureMode(v), libaudit.WaitForReply); err != nil {
		return classify("set audit failure mode", err)
	}
	return nil
}

// ReleasePID sets the kernel audit pid to 0. The kernel only accepts it
// from the holding process (EACCES otherwise); it is the fallback when a
// Client's release over its data socket got no ACK, and a test cleanup aid.
func (c *Control) ReleasePID() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.request(libaudit.AuditSet, pidWire(0)); err != nil {
		return classify("release audit pid", err)
	}
	return nil
}

// request sends one message with NLM_F_ACK and waits for its ACK; it
// returns the kernel's errno. c.mu must be held.
func (c *Control) request(typ uint16, data []byte) error {
	seq, err := c.s.send(0, typ, unix.NLM_F_REQUEST|unix.NLM_F_ACK, data, true)
	if err != nil {
		return err
	}
	return waitAck(c.s, c.abuf, seq, time.Now().Add(ackTimeout))
}

// waitAck reads s until the NLMSG_ERROR answering seq arrives, skipping
// anything else (bounded by maxAckSkips), and returns its errno.
func waitAck(s *sock, buf []byte, seq uint32, deadline time.Time) error {
	if err := s.f.SetReadDeadline(deadline); err != nil {
		return s.wrapIOErr(err)
	}
	defer func() { _ = s.f.SetReadDeadline(time.Time{}) }()
	for range maxAckSkips {
		n, trunc, err := s.recv(buf)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("wait for ACK of request %d: %w", seq, ErrNoReply)
		case errors.Is(err, errNotKernel), errors.Is(err, unix.EINTR), errors.Is(err, unix.ENOBUFS):
			continue
		case err != nil:
			return err
		case trunc:
			continue
		}
		h, ok := parseHeader(buf[:n])
		if !ok || h.seq != seq || h.typ != unix.NLMSG_ERROR {
			continue
		}
		return ackErrno(buf[nlmsgHdrLen:n])
	}
	return fmt.Errorf("wait for ACK of request %d: %w after %d unrelated messages", seq, ErrNoReply, maxAckSkips)
}

// pidWire encodes a struct audit_status that sets the audit pid.
func pidWire(pid uint32) []byte {
	b := make([]byte, sizeofAuditStatus)
	binary.NativeEndian.PutUint32(b[0:4], uint32(libaudit.AuditStatusPID))
	binary.NativeEndian.PutUint32(b[12:16], pid)
	return b
}

// Close closes the control socket. It is idempotent.
func (c *Control) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s.Close()
}
