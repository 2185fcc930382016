// Package auditrules parses, builds, installs and loads kernel audit rules
// written in auditctl syntax, as in auditlkm's audit.rules.d snippets.
//
// It owns the translation of rule lines into the kernel's struct
// audit_rule_data ("wire" bytes). It is the only package whose code
// imports go-libaudit's rule packages (tests aside; .golangci.yml's
// depguard rules enforce it): go-libaudit builds the syscall and watch
// rules, and this package adds what go-libaudit gets wrong or lacks: rules
// on the filesystem list (-a never,filesystem -F fstype=...), -A
// (prepend) rules, b64/b32 and syscall names resolved against a given host
// arch instead of the build arch, and watches whose directory does not
// exist yet (go-libaudit and auditctl silently turn those into file
// watches; here a watch that cannot be placed is skipped with a reason),
// rules on the io_uring list (-a always,io_uring -S openat,... with
// IORING_OP_* names; a dir= on a missing directory falls back to its
// parent; Install writes them commented out, auditctl 3.0 cannot read
// them), a name watch (path=) beside every directory watch (dir=), and
// ParseFS skipping a -w or io_uring line that names, through a symlink,
// what an earlier line watches (ParseOptions.Realpath).
// Configuration lines (-b, -f, -e, -r, --backlog_wait_time, -D, -i, -c)
// are parsed and kept for display but never applied.
//
// A rule file with any bad line yields no rules at all, and every bad line
// is reported as "file:line: why" (*LineError). Load adds only the rules
// the kernel does not already have and returns exactly what it added;
// Unload deletes exactly those. A kernel rule is auditlkm's when it equals
// a shipped line and carries a key starting with KeyPrefix ("auditlkm-");
// Compare splits a kernel list into present, missing, ours and others, and
// UnloadOurs (for "auditlkm rules unload") deletes ours and nothing else,
// so an identical unkeyed rule of auditd stays. CheckImmutable explains a
// locked kernel (enabled=2). The package must never delete a rule it did
// not add, and never sends anything to the kernel itself: the caller
// passes a Loader (internal/netlink.Control).
package auditrules
