// Package detections is auditlkm's detection catalog.
//
// Each detection has a declarative Definition (stable id, name, severity,
// risk score, MITRE ATT&CK classification, the public rules it covers by
// short ids (E9, S1: the README's Detections table), the record types it
// needs) and one pure evaluation. The Catalog (NewCatalog) lists them by
// input in three typed lists: Events, detections over audit events
// (Detection: Evaluate(dst, *Input) appends its alerts), KernelLog, over
// kernel log lines (KernelLogDetection), and CrossView, over the module
// inventory's findings (CrossViewDetection). An Input is the event, the
// correlate.Facts the correlation store returned when it observed it (the
// module load's resolution, first-seen values, learning), and the
// read-only State for long-lived queries (process table, ancestry): no
// detection type-asserts its input. Detections decide from record content
// (syscall, paths, exe, argv), never from audit rule keys, so logs
// collected with any rule set work. Every Evaluate first checks the cheap
// facts (syscall name, nametype, comm) and returns without allocating when
// the event cannot match.
//
// Exclusions are data, not code paths: each rule carries the vendor's list
// with, per entry, what must be proven before it applies (Exclusion.Require:
// the program package-owned and unchanged, checked through Config.Provenance;
// a package manager in the ancestry; an installed snap; a file name the
// loader ignores), and Config can extend it. A matching exclusion does not
// drop the alert silently: Evaluate returns it with Suppressed set to the
// exclusion's reason so the pipeline can count it by rule and reason; an
// exclusion whose criteria matched but whose proof failed leaves the alert
// raised with ExclusionRefused set. Names are the executable's (or the
// script an interpreter runs), never argv[0] or comm, which the caller
// chooses. kmod and bpftool command lines are read with the tools' own
// grammars (internal/toolargs). docs/exclusions.md is generated from the
// lists.
//
// File detections place a PATH item by its lexical resolution and, when
// that fails (a directory fd, a symlinked directory, ".." across a
// symlink), by its PARENT item's device and inode, looked up among the
// configuration directories stat'ed under Config.Root when the catalog is
// built.
//
// Kernel-log detections match /dev/kmsg lines (kmsg.Line) and point at
// the audit event of the same module load, found by the correlation
// package (correlate.RecentLoads, correlate.MatchLoad); TieKernelLog gives
// the alert the load's process, module file and the load under Related. The pipeline holds a line that came before
// its load. Lines user space wrote (not facility kern) are suppressed as
// "not-from-kernel".
//
// The catalog is listed in one place, catalog.go. Detections hold no
// mutable state and are safe for concurrent use.
//
// Each detection has one entry point; sharing work is the Evaluator's
// business. An Evaluator runs Catalog.Events over a stream of events for
// the pipeline: one Input per event, so the actor's resolution and the
// module file argument are done once for every detection, the alerts
// appended to one reused buffer, and reason sentences and the actor's
// parent remembered from one event to the next (a module-load storm). The
// alerts are exactly those of evaluating each detection on its own
// (EvaluateOne). It holds the per-stream state, so it belongs to one
// goroutine.
package detections
