// Package auditevent holds auditlkm's domain types: one kernel audit Record
// and one reassembled Event, and every decoder of hostile record text.
//
// It owns the parsing of the record header (type, timestamp, serial), the
// key=value field scanner, and the decoding of the kernel's "untrusted
// string" encoding (a value is either double-quoted or upper-case hex). All
// of it works on byte slices without regular expressions; a Record owns a
// private copy of its text, so callers may reuse their read buffers as soon
// as ParseNetlink or ParseLine returns.
//
// An io_uring operation's URINGOP record (type 1336, no SYSCALL) is
// decoded into Event.Syscall: IsURing and URingOp are set and Name is the
// system call the operation stands for ("openat", "renameat2", ...);
// its PATH records have no names (name=(null)), only inodes.
//
// The package must never panic on input: truncated records, unterminated
// quotes, odd-length hex and non-UTF-8 bytes are reported as errors or kept
// verbatim with a flag. It imports nothing from auditlkm and only the
// auparse tables of go-libaudit, so every other package can depend on it.
package auditevent
