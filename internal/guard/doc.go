// Package guard keeps auditlkm's audit rules in the kernel while the
// daemon runs: it compares the kernel's rule list with the rules auditlkm
// wants, exports the difference as metrics and, unless repair is off, puts
// back what someone removed.
//
// A check runs every Config.Interval and, sooner, when the record stream
// shows a reason to look: a CONFIG_CHANGE record removing a rule or
// disabling auditing (Observe, or ObserveBatch as a hook on the live
// stream), an io_uring URINGOP record keyed auditlkm-config or
// auditlkm-ko, or an event keyed so whose PATH records show the file tree
// of a watched configuration path or of the module tree changed: a
// directory, symlink or other non-regular file created, removed or
// renamed (for instance a watched directory that did not exist was
// created, or one was swapped). Regular files written, renamed or removed
// there change no rule (a storm of them is a storm of alerts, not of
// checks). Every
// check asks for the wanted set again (Want), so a watch placed on the
// name of a missing directory (path=) is replaced by a recursive dir=
// watch once the directory exists, and the other way round after it is
// removed. The guard deletes only rules it owns: the ones the daemon
// added at start (passed to New) and the ones it added since.
//
// Our own shutdown must not look like tampering: Disarm stops all repair
// (waiting for a check in progress) and returns the owned rules, which
// the caller then unloads. The alert for a tampering attempt comes from
// the detection catalog (internal/detections, audit-system-tamper); this
// package only repairs and says so in its log and metrics.
//
// When the kernel's configuration is locked (enabled=2) nothing can be
// repaired: the guard reports it (log and
// auditlkm_auditrules_repair_failures_total{reason="immutable"}) and
// keeps checking.
//
// Guard is safe for concurrent use: Run owns the checking goroutine;
// Observe, Check and Disarm may be called from any goroutine.
package guard
