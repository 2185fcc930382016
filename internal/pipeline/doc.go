// Package pipeline wires a record source to the reassembler, the
// correlation store, the detection catalog and an alert sink.
//
// A Processor does the work for one stream and must be used from one
// goroutine: Push a record, Advance the clock, Flush at the end. Two
// drivers feed it. Replay runs it synchronously over a finite source (a log
// replay), so the whole path stays on one core with no channel hop. Live
// reads the source on a goroutine owned by an errgroup, hands records over
// a bounded channel, advances the reassembler's clock on a ticker, and on
// cancellation calls the source's stop function (which releases the kernel)
// and drains what the source still holds before flushing every in-flight
// event: nothing received is dropped at shutdown.
package pipeline
