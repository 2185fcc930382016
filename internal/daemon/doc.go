// Package daemon owns the running auditlkm daemon (auditlkm run) and the
// auditd plugin's read loop (auditlkm plugin).
//
// Run owns, for the life of the daemon: the errgroup of every goroutine
// (record reader, processor loop, audit rule guard, web server, kernel log
// reader, signal handler), the kernel session (the netlink client, the
// audit rules loaded at start and the guard that keeps them, with one
// Close that hands the kernel back: our rules out, the audit pid released,
// the kernel's settings restored), the correlation store (loaded at
// start, maintained and saved on ticks, saved at the end) and reloads.
//
// The processor loop is the only goroutine that touches the
// pipeline.Processor. It receives record batches straight from the netlink
// reader's bounded queue (pipeline.QueuedSource: no goroutine in between,
// each hand-off being a wake-up), or over a bounded channel from a reader
// goroutine for a source whose reads block (the plugin's stdin). The raw
// record file and the guard are hooks of the netlink reader
// (netlink.BatchHook), which see each batch before it is queued. The loop
// also receives kernel log lines from internal/kmsg, new detection
// catalogs from SIGHUP reloads (a typed channel) and clock ticks. On
// cancellation it closes the kernel session on a goroutine of its own and
// keeps processing meanwhile; the source ends once it has handed out what
// it holds, the loop keeps reading for at most the drain period and
// flushes every event in flight: nothing received is dropped at shutdown.
//
// The loop also sets how many threads run Go code (procsGovernor): one
// while the reader's queue is short, so that the reader and the processor
// hand records to each other without waking a second thread, and the
// runtime's default from the moment records pile up in the queue until it
// has been short for 30 s (unless --process.max-procs fixes a number).
//
// Signals: SIGINT and SIGTERM end the context (internal/interrupt, for
// every command); while Run runs, SIGHUP reloads the configuration and
// SIGUSR1 reopens the output files (after logrotate).
package daemon
