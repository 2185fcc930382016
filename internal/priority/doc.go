// Package priority raises the daemon's CPU scheduling priority, the way
// auditd's priority_boost does: under an audit storm the daemon competes
// for the CPU with the very processes it audits and with kauditd, and a
// reader that falls behind loses records.
//
// Linux keeps a nice value per thread and a new thread inherits its
// creator's, so Boost sets every thread the process has (the Go runtime's
// included) and the ones created later inherit it.
package priority
