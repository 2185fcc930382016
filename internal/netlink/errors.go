package netlink

import "errors"

// Sentinel errors. Wrapped errors carry details (errno, holder pid); test
// with errors.Is.
var (
	// ErrNotSupported: the kernel has no audit netlink family
	// (EPROTONOSUPPORT, EAFNOSUPPORT or EINVAL from socket(2)).
	ErrNotSupported = errors.New("kernel audit not supported")
	// ErrPermission: the process lacks CAP_AUDIT_CONTROL (control, unicast)
	// or CAP_AUDIT_READ (multicast), or runs outside the initial user or
	// pid namespace (EPERM, EACCES, ECONNREFUSED).
	ErrPermission = errors.New("permission denied for kernel audit")
	// ErrAuditPIDTaken: another process (or another Client of this
	// process) holds the kernel audit pid, so unicast delivery is taken.
	ErrAuditPIDTaken = errors.New("audit pid held by another process")
	// ErrRuleExists: the kernel already has an identical rule (EEXIST).
	ErrRuleExists = errors.New("audit rule exists")
	// ErrNoReply: the kernel did not answer a request in time.
	ErrNoReply = errors.New("no reply from kernel")
	// ErrClosed: the socket or client is closed.
	ErrClosed = errors.New("audit netlink closed")
)
