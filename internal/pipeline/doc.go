// Package pipeline wires a record source to the reassembler, the
// correlation store, the detection catalog and an alert sink.
//
// A Processor does the work for one stream and must be used from one
// goroutine: Push a record, Advance the clock, Flush at the end. Sources
// hand out records in batches (Source.NextBatch). Replay runs a Processor
// synchronously over a finite source (a log replay), so the whole path
// stays on one core with no channel hop; the live driver (ticks, shutdown
// drain, reloads) belongs to internal/daemon, which calls the BatchHooks
// (Tee, the audit rule guard) on every batch it reads.
package pipeline
