// Package interrupt makes blocking input stop when told: a context
// cancelled by SIGINT or SIGTERM (OnSignal), a read of stdin or a FIFO that
// may wait forever (Reader), an open of a FIFO without a writer (Do).
//
// Go cannot cancel a read(2) or open(2) of a blocking descriptor (stdin is
// one). These helpers run the blocking call on a goroutine of its own and
// stop waiting for it: the caller goes on (flushes what it has, exits) and
// the goroutine ends when the call returns or the process exits. A FIFO
// the package opened itself is pollable, so Reader.Close also ends a read
// of it. Used by replay, plugin and config check (cmd/auditlkm).
package interrupt
