// Package netlink is auditlkm's only door to the kernel audit netlink
// socket: it alone opens NETLINK_AUDIT sockets and imports go-libaudit's
// client package (tests aside; .golangci.yml's depguard rules enforce it,
// and list the few other packages allowed system calls of their own).
//
// Two kinds of socket exist. A Control socket never claims the audit pid;
// status, rule and configuration requests go over it through go-libaudit's
// AuditClient (whose reply loop discards any record with sequence number 0,
// so a request on the pid-holding socket would silently eat events). A
// Client owns a data socket that either claims the pid (unicast, like
// auditd) or joins AUDIT_NLGRP_READLOG (multicast, beside another daemon),
// plus its own Control. Both use this package's NetlinkSendReceiver, not
// go-libaudit's: the fd is non-blocking and sits in the Go runtime poller
// (Close unblocks a pending receive) until the reader takes the data socket
// over, the receive buffer can be raised with
// SO_RCVBUFFORCE, MSG_TRUNC is detected, ENOBUFS is survivable, and every
// recv is exactly one message (unicast audit messages carry a non-standard
// nlmsg_len, which is never trusted).
//
// Socket lifetime: Open snapshots the kernel status, changes only what the
// Config asks for, claims the pid with one exchange on the data socket and
// then starts a single reader goroutine owned by the Client. Close restores
// the changed fields, releases the pid with a non-blocking request on the
// data socket while the reader drains (bounded), closes the data socket,
// waits for the reader, verifies the release over the control socket and
// closes it.
//
// Reading: when the reader starts, the data socket leaves the Go runtime
// poller for a blocking fd of the reader's own (detached: a socket in an
// epoll set wakes a thread per few records under load, paid by kauditd and
// by us). The reader takes up to batchMessages messages per recvmmsg(2)
// call, each into its own slot of a batch allocated once, and after a call
// that found the socket drained it lingers (Config.ReceiveLinger, 25 ms)
// while nobody waits on the socket: the kernel queues records without a
// wake-up and the next call takes them by the hundred. On a 2-core VM under
// 50,000 module-load attempts a second a 1 ms linger cut the daemon's CPU
// by about a quarter and kauditd's by a sixth; 4 ms cut another quarter
// to a third at 30,000 a second (half the context switches per event).
// Longer lingers gain little more in a storm, where reads already take
// their 256 records, but at 1,000-5,000 events a second each cycle of
// wake-ups (the reader's timer, the processor, the Go runtime's monitor
// thread, which the first system call after an idle spell wakes into a
// 20 us polling loop) costs the same however few records it brings: at
// 5,000 module-load attempts a second 10 ms cut 15-18 % against 4 ms, and
// 25 ms another quarter against 10 ms (50 ms: a third). A record waits at
// most 25 ms more; the socket buffer (8 MiB, several thousand records)
// and the kernel's backlog hold what arrives meanwhile, and kauditd waits
// for room in the socket rather than dropping.
// The records of one call go to the BatchHooks (Config.Hooks,
// Client.AddHook: the raw record file and the rule guard), then to the
// consumer as one batch (Client.Batches or NextBatch); the queue is
// bounded in records and a batch that does not fit is dropped whole, every
// record counted, after the hooks saw it.
//
// Buffer ownership: the reader's read buffers are allocated once and reused
// for every message. auditevent.ParseNetlink copies the record text out of
// it, so a Record returned by Next never aliases the buffer. The reader never
// blocks on the consumer: when the bounded queue is full the batch is
// dropped and its records counted. Loss is counted at every step (ENOBUFS, truncation,
// queue drops, parse errors). The Client's collector (Client.Collector)
// reads the kernel status at scrape time and turns the kernel's Lost
// counter, which counts since boot and can be reset, into a counter of what
// was lost since Open (polled every Config.StatusPollInterval so a reset is
// seen); it also exports the data socket's SO_MEMINFO drops, the exact
// number of records an ENOBUFS stands for. With Config.StateFile, the boot
// id, the lost counter and the last serial outlive the process, so the
// next unicast start reports what was lost in between (a SIGKILL included).
// A pid held by a process that no longer exists is reclaimed: the kernel
// resets it when the claim's AUDIT_REPLACE probe fails.
package netlink
