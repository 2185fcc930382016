// Package rules is auditlkm's detection catalog.
//
// Each detection is a Rule: a declarative Definition (stable id, name,
// severity, risk score, MITRE ATT&CK classification, the public rules it
// covers by short ids (E9, S1: the README's Detections table), the record
// types it needs) and a pure Evaluate over one reassembled event plus a
// read-only State view of the correlation store. Detections decide from record content (syscall,
// paths, exe, argv), never from audit rule keys, so logs collected with any
// rule set work. Every Evaluate first checks the cheap facts (syscall
// name, nametype, comm) and returns without allocating when the event
// cannot match.
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
// Kernel-log detections (KernelLogRule) match /dev/kmsg lines read by
// internal/kmsg and point at the audit event of the same module load
// (RecentLoads, MatchLoad, TieKernelLog: the load's process, module file
// and the load under Related). The pipeline holds a line that came before
// its load. Lines user space wrote (not facility kern) are suppressed as
// "not-from-kernel".
//
// The catalog is listed in one place, catalog.go. Rules hold no mutable
// state and are safe for concurrent use.
//
// An Evaluator runs a catalog over a stream of events for the pipeline:
// it returns exactly the alerts of every rule's Evaluate, with the work of
// a module-load storm done once per event or once per storm (the actor's
// resolution, the module file argument, the store's module load, reason
// sentences) and the alerts appended to one reused buffer. It holds the
// per-stream state, so it belongs to one goroutine.
package detections
