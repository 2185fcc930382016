package netlink

import (
	"errors"
	"fmt"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Delivery modes.
const (
	// ModeAuto tries unicast and falls back to multicast when another
	// process holds the audit pid.
	ModeAuto = "auto"
	// ModeUnicast claims the kernel audit pid (like auditd): lossless up to
	// the backlog, and the kernel's Lost counter is ours.
	ModeUnicast = "unicast"
	// ModeMulticast joins AUDIT_NLGRP_READLOG next to whoever holds the
	// pid; best effort, changes nothing in the kernel.
	ModeMulticast = "multicast"
)

// Bounds on Config values.
const (
	// MaxQueueRecords bounds Config.QueueRecords.
	MaxQueueRecords = 1 << 22
	// MaxReceiveBufferBytes bounds Config.ReceiveBufferBytes.
	MaxReceiveBufferBytes = 1 << 30
	// maxBacklogWaitTime is the kernel's limit, 10*AUDIT_BACKLOG_WAIT_TIME
	// jiffies, at the largest HZ (1000).
	maxBacklogWaitTime = 10 * 60 * 1000
	// LeaveBacklogWaitTime leaves the kernel's backlog wait time unchanged.
	LeaveBacklogWaitTime = -1
	// MinStatusPollInterval and MaxStatusPollInterval bound
	// Config.StatusPollInterval.
	MinStatusPollInterval = 10 * time.Millisecond
	MaxStatusPollInterval = time.Minute
	// MaxReceiveLinger bounds Config.ReceiveLinger.
	MaxReceiveLinger = 100 * time.Millisecond
)

// Config configures a Client.
type Config struct {
	// Mode is ModeAuto (default when empty), ModeUnicast or ModeMulticast.
	Mode string
	// BacklogLimit is set in unicast mode; 0 leaves the kernel's value.
	BacklogLimit uint32
	// BacklogWaitTime (jiffies) is set in unicast mode. 0 (default): an
	// audited syscall never stalls on a full backlog, the record is dropped
	// and counted in the kernel's Lost. LeaveBacklogWaitTime (-1) leaves it.
	BacklogWaitTime int32
	// RateLimit (messages per second, 0 unlimited) is set in unicast mode.
	RateLimit uint32
	// ReceiveBufferBytes is the data socket's SO_RCVBUFFORCE (SO_RCVBUF,
	// capped by net.core.rmem_max, if FORCE is refused). 0 leaves the
	// default.
	ReceiveBufferBytes int
	// QueueRecords bounds the queue between the socket reader and Next.
	QueueRecords int
	// ReceiveLinger is how long the reader waits before reading again
	// after a read that found the socket drained (fewer records than one
	// receive takes, 256).
	// Meanwhile nobody waits on the socket, so the kernel queues records
	// without waking anyone, and the next read takes them by the hundred:
	// under load this halves the CPU that receiving costs the daemon and
	// kauditd. Records wait at most this long more; the socket buffer
	// (ReceiveBufferBytes) must hold what arrives meanwhile. 0: read again
	// at once and be woken per record.
	ReceiveLinger time.Duration
	// StatusPollInterval is how often the Client reads the kernel status
	// between scrapes, so that a reset of the kernel's lost counter is
	// not missed and StateFile stays fresh.
	StatusPollInterval time.Duration
	// StateFile, if set, keeps the boot id, the kernel's lost counter and
	// the last audit serial received across restarts (written on every
	// poll and at Close), so that the next unicast start reports what was
	// lost in between. Empty: no restart accounting.
	StateFile string
	// Hooks see every batch of records the reader receives, from the
	// first (set by the daemon: the raw record file); see BatchHook. Not
	// a setting: Validate ignores them.
	Hooks []BatchHook
}

// A BatchHook sees every batch of records the reader receives, in order,
// on the reader's goroutine, before the batch is queued for the consumer:
// so it also sees the records a full queue then drops (the raw record file
// keeps them, for a replay; the rule guard sees a rule deletion even in a
// storm that overloads the detections). It must not keep the batch and
// must be quick: the socket waits meanwhile. An error ends the reader with
// it, after the batch was queued.
type BatchHook func(batch []auditevent.Record) error

// DefaultConfig returns the defaults: auto mode, backlog 8192, no wait,
// no rate limit, 8 MiB receive buffer, 25 ms receive linger, 65536 queued
// records, status polled every second, no state file.
//
// The backlog wait time 0 favours production syscalls over audit records:
// when the backlog is full the kernel drops the record and counts it in its
// lost counter instead of putting the audited process to sleep (the
// kernel's own default is 60 s at HZ 1000). Loss is then exact and visible
// (auditlkm_kernel_lost_total), and no syscall ever stalls on auditlkm.
func DefaultConfig() Config {
	return Config{
		Mode:               ModeAuto,
		BacklogLimit:       8192,
		BacklogWaitTime:    0,
		RateLimit:          0,
		ReceiveBufferBytes: 8 << 20,
		QueueRecords:       65536,
		ReceiveLinger:      25 * time.Millisecond,
		StatusPollInterval: time.Second,
	}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	switch c.Mode {
	case "", ModeAuto, ModeUnicast, ModeMulticast:
	default:
		errs = append(errs, fmt.Errorf("netlink mode %q: want %s, %s or %s", c.Mode, ModeAuto, ModeUnicast, ModeMulticast))
	}
	if c.BacklogWaitTime < LeaveBacklogWaitTime || c.BacklogWaitTime > maxBacklogWaitTime {
		errs = append(errs, fmt.Errorf("netlink backlog wait time %d: want -1 (leave) or 0..%d jiffies", c.BacklogWaitTime, maxBacklogWaitTime))
	}
	if c.ReceiveBufferBytes < 0 || c.ReceiveBufferBytes > MaxReceiveBufferBytes {
		errs = append(errs, fmt.Errorf("netlink receive buffer %d bytes: want 0..%d", c.ReceiveBufferBytes, MaxReceiveBufferBytes))
	}
	if c.QueueRecords < 1 || c.QueueRecords > MaxQueueRecords {
		errs = append(errs, fmt.Errorf("netlink queue %d records: want 1..%d", c.QueueRecords, MaxQueueRecords))
	}
	if c.ReceiveLinger < 0 || c.ReceiveLinger > MaxReceiveLinger {
		errs = append(errs, fmt.Errorf("netlink receive linger %s: want 0..%s", c.ReceiveLinger, MaxReceiveLinger))
	}
	if c.StatusPollInterval < MinStatusPollInterval || c.StatusPollInterval > MaxStatusPollInterval {
		errs = append(errs, fmt.Errorf("netlink status poll interval %s: want %s..%s", c.StatusPollInterval, MinStatusPollInterval, MaxStatusPollInterval))
	}
	return errors.Join(errs...)
}

func (c Config) mode() string {
	if c.Mode == "" {
		return ModeAuto
	}
	return c.Mode
}
