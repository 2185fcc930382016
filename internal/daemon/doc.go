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
// pipeline.Processor. It receives record batches over a bounded channel
// from the reader goroutine (which calls the BatchHooks: the raw record
// file, the guard), kernel log lines from internal/kmsg, new detection
// catalogs from SIGHUP reloads (a typed channel) and clock ticks. On
// cancellation it closes the kernel session, which makes the source end
// once it has handed out what it holds, keeps reading for at most the
// drain period and flushes every event in flight: nothing received is
// dropped at shutdown.
//
// Signals: SIGINT and SIGTERM end the context (internal/interrupt, for
// every command); while Run runs, SIGHUP reloads the configuration and
// SIGUSR1 reopens the output files (after logrotate).
package daemon
