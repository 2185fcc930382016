package netlink

import (
	"errors"
	"fmt"
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
}

// DefaultConfig returns the defaults: auto mode, backlog 8192, no wait,
// no rate limit, 8 MiB receive buffer, 65536 queued records.
func DefaultConfig() Config {
	return Config{
		Mode:               ModeAuto,
		BacklogLimit:       8192,
		BacklogWaitTime:    0,
		RateLimit:          0,
		ReceiveBufferBytes: 8 << 20,
		QueueRecords:       65536,
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
	return errors.Join(errs...)
}

func (c Config) mode() string {
	if c.Mode == "" {
		return ModeAuto
	}
	return c.Mode
}
