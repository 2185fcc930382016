// Package kmsg reads the kernel log from /dev/kmsg, auditlkm's second
// source beside the audit stream.
//
// Some module facts never reach audit records: that a module was unsigned
// (E10), out of tree (E12), tainted the kernel, was rejected, or installed
// a BPF program using bpf_probe_write_user (E6). The kernel prints them to
// its log. A Reader reads /dev/kmsg without blocking, in a loop owned by a
// context, and hands each record, parsed by Parse into a Line, to the
// pipeline, whose kernel-log detections (internal/detections) match it;
// the correlation package's RecentLoads ties it to the audit event of the
// same load. The package imports no other auditlkm package. Each line's time since boot is converted to wall
// time (WallTime: boot = CLOCK_REALTIME - CLOCK_MONOTONIC, the clock the
// kernel's local_clock follows across suspend).
//
// Each read(2) of /dev/kmsg returns one record: "pri,seq,ts,flags;message"
// followed by continuation lines " KEY=value". Non-printable bytes arrive
// as \xNN escapes. When the ring buffer overwrites records before they are
// read, read fails with EPIPE once: the Reader counts the overrun and goes
// on with the oldest record still there.
package kmsg
