// Package pipeline wires a record source to the reassembler, the
// correlation store, the detection catalog and an alert sink.
//
// Per event, the Processor calls the store's Observe, which returns the
// event's correlate.Facts, and hands those to the detections
// (detections.Evaluator over Catalog.Events) with the store's State view;
// the module file of a load's alerts and the inventory's record of a load
// come from the same facts. It owns the recent-loads table
// (correlate.RecentLoads) that ties kernel log lines (KernelLog, run over
// Catalog.KernelLog) to their load, holding a line that came first until
// its load arrives, and runs Catalog.CrossView over the inventory's
// findings (CrossView).
//
// A Processor does the work for one stream and must be used from one
// goroutine: Push a record, Advance the clock, Flush at the end. Sources
// hand out records in batches (Source.NextBatch). Replay runs a Processor
// synchronously over a finite source (a log replay), so the whole path
// stays on one core with no channel hop; the live driver (ticks, shutdown
// drain, reloads) belongs to internal/daemon, which receives from the
// netlink reader's queue directly (QueuedSource); Tee is a hook of that
// reader (netlink.BatchHook).
package pipeline
