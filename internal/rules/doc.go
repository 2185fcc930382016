// Package rules is auditlkm's detection catalog.
//
// Each detection is a Rule: a declarative Definition (stable id, name,
// severity, risk score, MITRE ATT&CK classification, the public rules it
// covers by their DETECTIONS.md ids, the record types it needs) and a pure
// Evaluate over one reassembled event plus a read-only State view of the
// correlation store. Detections decide from record content (syscall,
// paths, exe, argv), never from audit rule keys, so logs collected with any
// rule set work.
//
// Exclusions are data, not code paths: each rule carries the vendor's list
// as shipped, and Config can extend it. A matching exclusion does not drop
// the alert silently: Evaluate returns it with Suppressed set to the
// exclusion's reason so the pipeline can count it by rule and reason.
// Exclusions by process name only apply when the executable lives outside
// the world-writable places an attacker can drop a look-alike binary.
//
// The catalog is listed in one place, catalog.go. Rules hold no mutable
// state and are safe for concurrent use.
package rules
