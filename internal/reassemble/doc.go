// Package reassemble turns a stream of audit records into events: every
// record sharing a serial becomes one auditevent.Event.
//
// It replaces go-libaudit's Reassembler, whose defects matter here (each is
// pinned by a test in libaudit_test.go): it sorts its in-flight list on every new serial,
// its lost count underflows to ~4.29e9 when a record arrives for a serial it
// already evicted, it only completes events in serial order, and it makes
// standalone records wait for a timeout. This package instead
//
//   - keeps in-flight events in a map plus an arrival-ordered ring, so a
//     push is O(1) amortised whatever the order of serials;
//   - completes an event on EOE, on a standalone record type, when it has
//     been idle for Config.Timeout of stream time, after Config.RecordWindow
//     later records (logs written by auditd carry no EOE), when the in-flight
//     window is full, or on Flush;
//   - tracks which serials it has seen in a sliding bitmap, so a missing
//     serial is counted once as a gap, a late record is counted as late and
//     delivered (never dropped, never a negative gap), and a serial that
//     jumps backwards by more than ResetDistance is a new stream (a reboot
//     in a replayed log), not four billion lost events;
//   - keys events by (node, serial): records carrying auditd's node= prefix
//     (name_format, remote logging to a collector) are another host's
//     stream, whose serials are counted by another kernel. Each named node
//     has its own serial tracking (gaps, late records, resets, and per-node
//     metrics), for at most Config.MaxNodes nodes; records of further node
//     names (forged ones, say) are still kept apart by (node, serial) but
//     their serials are not tracked, only counted as untracked.
//
// The Reassembler must be used from one goroutine. Delivered events are
// owned by the receiver; the reassembler keeps no reference to them.
package reassemble
