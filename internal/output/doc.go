// Package output delivers ECS JSON lines to where operators want them:
// stdout, files that logrotate may rotate, and syslog (RFC 5424 over the
// local socket or TCP), several at once.
//
// A Fanout encodes each alert once (through the ECS encoder it is given)
// and hands the line to every Writer; one failing Writer never keeps a
// line from the others. Writers count what they write, fail and drop in
// auditlkm_output_* metrics labelled by output name: every line once, as
// written or as lost (auditlkm_output_lost_total, Fanout.Lost). A write
// cut short leaves no half line in a file (the partial line is cut off
// again), and a file found ending mid-line is given a newline when opened.
// The Fanout logs each output's first failure and, at Close, the lines it
// lost. A syslog line counts as written once the server took it (TCP
// acknowledgement, local stream read); an alert too large for one syslog
// message goes as a valid, marked copy without its largest fields.
//
// Lifetimes: a File is opened by OpenFile and must be closed; Reopen swaps
// in a freshly opened file at the same path (SIGUSR1 after logrotate moved
// the old one) without losing or splitting a line. A Syslog starts one
// sender goroutine in NewSyslog; Close stops it after draining its bounded
// queue for at most SyslogConfig.DrainTimeout. Writes never block on the
// network: when the queue is full a line is dropped and counted.
//
// This package never imports log/syslog (its format is RFC 3164). Of the
// alerts it carries it reads only the severity (AlertSeverity, for the
// syslog header); the line itself comes from the encoder.
package output
