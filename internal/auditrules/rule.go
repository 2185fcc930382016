package auditrules

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Kind says what a parsed line asks for.
type Kind int

// The kinds of rule lines. Only KindSyscall, KindWatch and KindFilesystem
// carry wire bytes that Load adds to the kernel.
const (
	// KindSyscall is an -a/-A rule on the exit, task, user or exclude list.
	KindSyscall Kind = iota + 1
	// KindWatch is a -w file or directory watch.
	KindWatch
	// KindFilesystem is an -a rule on the filesystem list (-F fstype=...).
	KindFilesystem
	// KindDelete is a -d or -W line: a request to delete one rule. Load
	// never applies it; it is kept so "rules print" can show it.
	KindDelete
	// KindControl is a configuration line (-b, -f, -e, -r,
	// --backlog_wait_time, -D, -i, -c). Load never applies it: the daemon
	// owns the kernel configuration.
	KindControl
	// KindSkipped is a valid line that cannot be loaded on this host, for
	// example a watch whose parent directory is missing or a b32 rule on a
	// host without a 32-bit ABI. Rule.Skip says why.
	KindSkipped
)

var kindNames = map[Kind]string{
	KindSyscall:    "syscall",
	KindWatch:      "watch",
	KindFilesystem: "filesystem",
	KindDelete:     "delete",
	KindControl:    "control",
	KindSkipped:    "skipped",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Control is a configuration line. Flag is the option as written without
// dashes ("b", "f", "e", "r", "backlog_wait_time", "D", "i", "c"); Value is
// its argument, empty when it takes none.
type Control struct {
	Flag  string
	Value string
}

// Rule is one non-blank, non-comment line of a rule file.
type Rule struct {
	File string // name of the file, as given to ParseFile
	Line int    // 1-based line number
	Text string // the line without surrounding blanks
	Kind Kind
	// Wire is the kernel struct audit_rule_data for KindSyscall, KindWatch,
	// KindFilesystem and KindDelete; nil otherwise.
	Wire []byte
	// Control is set for KindControl.
	Control *Control
	// Skip is the reason for KindSkipped ("skipped: parent missing").
	Skip string
	// named is the name watch (path=) that goes with a directory watch;
	// ParseFile turns it into a rule of its own, with the same line.
	named []byte
	// watch is the cleaned path of a -w line.
	watch string
}

// Loadable reports whether Load would add this rule to the kernel.
func (r Rule) Loadable() bool {
	switch r.Kind {
	case KindSyscall, KindWatch, KindFilesystem:
		return len(r.Wire) > 0
	}
	return false
}

// String returns "file:line: text".
func (r Rule) String() string { return fmt.Sprintf("%s:%d: %s", r.File, r.Line, r.Text) }

// ParseOptions carries the host facts a rule depends on.
type ParseOptions struct {
	// Arch is the audit name of the host architecture ("x86_64",
	// "aarch64", ...). b64 and b32 resolve against it and syscall names
	// are looked up in its table. Empty means the running program's arch.
	Arch string
	// Stat looks up a watched path; it follows symlinks like os.Stat. It
	// decides between a directory (dir=) and a file (path=) watch and
	// whether the parent exists. Nil means os.Stat.
	Stat func(path string) (fs.FileInfo, error)
	// Realpath resolves the symlinks of a path (filepath.EvalSymlinks).
	// ParseFS uses it to skip a -w line that names, through a symlink,
	// what an earlier line watches already (/lib/modules on a merged-/usr
	// host is /usr/lib/modules), so only hosts where both are real
	// directories get both watches. Nil means no such check.
	Realpath func(path string) (string, error)
}

// DefaultParseOptions returns options for the running host.
func DefaultParseOptions() ParseOptions {
	return ParseOptions{Arch: runtimeArch(), Stat: os.Stat, Realpath: filepath.EvalSymlinks}
}

// Validate checks that the architecture is one this package knows.
func (o ParseOptions) Validate() error {
	a := o.Arch
	if a == "" {
		a = runtimeArch()
	}
	if _, ok := archB64[a]; !ok {
		return fmt.Errorf("validate parse options: unknown arch %q", o.Arch)
	}
	return nil
}

func (o ParseOptions) withDefaults() ParseOptions {
	if o.Arch == "" {
		o.Arch = runtimeArch()
	}
	if o.Stat == nil {
		o.Stat = os.Stat
	}
	return o
}

// archB64 maps a host arch to its (b64, b32) audit arch names. An empty
// b32 means the host has no 32-bit compat ABI that audit can filter on.
var archB64 = map[string][2]string{
	"x86_64":  {"x86_64", "i386"},
	"aarch64": {"aarch64", "arm"},
	"ppc64":   {"ppc64", "ppc"},
	"ppc64le": {"ppc64le", "ppc"},
	"s390x":   {"s390x", "s390"},
	"i386":    {"", "i386"},
	"arm":     {"", "arm"},
	"ppc":     {"", "ppc"},
	"s390":    {"", "s390"},
}

func runtimeArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i386"
	default:
		return runtime.GOARCH
	}
}

// Sentinel errors.
var (
	// ErrInvalidRule matches every *LineError.
	ErrInvalidRule = errors.New("invalid audit rule")
	// ErrImmutable: the kernel refused a rule change with EPERM. With
	// CAP_AUDIT_CONTROL held this means the rules are locked ("-e 2")
	// until reboot; the caller, who can read the audit status, may refine
	// the diagnosis.
	ErrImmutable = errors.New("kernel audit rules are locked (enabled=2) or permission denied")
)

// LineError is a bad line in a rule file.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// Unwrap returns the cause.
func (e *LineError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidRule.
func (e *LineError) Is(target error) bool { return target == ErrInvalidRule }
