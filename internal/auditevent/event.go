package auditevent

import (
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/elastic/go-libaudit/v2/auparse"
)

// Completion says why the reassembler handed an event on.
type Completion uint8

const (
	// CompleteEOE: the kernel's end-of-event record arrived.
	CompleteEOE Completion = iota + 1
	// CompleteStandalone: a record type the kernel sends alone.
	CompleteStandalone
	// CompleteIdle: no record arrived for the event within the timeout
	// (logs written by auditd carry no EOE, so this is normal in replay).
	CompleteIdle
	// CompleteEvicted: the in-flight window was full.
	CompleteEvicted
	// CompleteFlushed: the stream ended or the daemon shut down.
	CompleteFlushed
	// CompleteLate: records of a serial that had already been handed on.
	CompleteLate
)

var completionNames = [...]string{"", "eoe", "standalone", "idle", "evicted", "flushed", "late"}

func (c Completion) String() string {
	if int(c) < len(completionNames) {
		return completionNames[c]
	}
	return "unknown"
}

// Success is the tri-state outcome of a syscall.
type Success uint8

const (
	SuccessUnknown Success = iota
	SuccessYes
	SuccessNo
)

// Unset is the kernel's value for an unset auid, session or id (-1).
const Unset = 4294967295

// Syscall is the decoded SYSCALL record.
//
// The fields of 4 bytes and less follow the others, so that an Event
// (which holds a Syscall) takes 448 bytes instead of 512.
type Syscall struct {
	ArchName string // "x86_64", "i386", ...
	Number   int
	Name     string // from go-libaudit's per-arch tables; "" if unknown
	Exit     int64
	Args     [4]uint64
	Items    int
	PPID     int
	PID      int
	TTY      string
	Comm     string
	Exe      string
	Subj     string
	// Keys may be shared with other events (see Interner): read only.
	Keys    []string
	Arch    uint32
	AUID    uint32
	UID     uint32
	GID     uint32
	EUID    uint32
	SUID    uint32
	FSUID   uint32
	EGID    uint32
	Session uint32
	Success Success
	// IsURing is set when the event is an io_uring operation (a URINGOP
	// record): URingOp is its IORING_OP_* number, Name the system call it
	// stands for and Number -1; Comm and Exe are empty unless the
	// operation ran inline in an audited io_uring_enter.
	IsURing bool
	URingOp int
}

// Path is one decoded PATH record.
type Path struct {
	Item     int
	Name     string // as the kernel logged it (decoded)
	Resolved string // absolute and cleaned when it could be resolved, else ""
	Inode    uint64
	Dev      string
	Mode     uint32
	OUID     uint32
	Nametype string // NORMAL, CREATE, DELETE, PARENT, UNKNOWN
}

// Event is one reassembled audit event: every record sharing a serial,
// decoded. It is built once and then only read.
//
// The fields of 4 bytes and less come last, so that an Event takes 448
// bytes instead of 512: a replay builds hundreds of thousands.
type Event struct {
	Sec     int64
	Node    string
	Records []Record

	Syscall Syscall // if HasSyscall

	Argc int      // if HasExecve
	Argv []string // if HasExecve

	// Proctitle may be shared with other events (see Interner): read only.
	Proctitle []string

	Cwd string // if HasCwd

	Paths []Path

	Module string // KERN_MODULE name=, decoded; if HasModule

	// Warnings lists decoding problems; the record text is still in Records.
	Warnings []string

	in *Interner // only while building

	Serial      uint32
	Milli       uint16
	Completion  Completion
	HasSyscall  bool
	HasExecve   bool
	ArgvPartial bool // an argument or piece announced by argc/aN_len is missing
	HasCwd      bool
	HasModule   bool
}

// UnixMilli returns the event time in milliseconds since the epoch.
func (e *Event) UnixMilli() int64 { return e.Sec*1000 + int64(e.Milli) }

// Has reports whether the event holds a record of type t.
func (e *Event) Has(t auparse.AuditMessageType) bool {
	for i := range e.Records {
		if e.Records[i].Type == t {
			return true
		}
	}
	return false
}

// Args returns the best argv the event has: EXECVE, else PROCTITLE.
func (e *Event) Args() []string {
	if e.HasExecve {
		return e.Argv
	}
	return e.Proctitle
}

// Build decodes records (all with one serial, in any order) into an Event.
func Build(records []Record, how Completion) *Event {
	return BuildInterned(records, how, nil)
}

// BuildInterned is Build with the repeating short strings taken from in
// (see Interner); the reassembler keeps one per stream.
func BuildInterned(records []Record, how Completion, in *Interner) *Event {
	e := &Event{Completion: how, Records: records}
	if len(records) == 0 {
		return e
	}
	e.in = in
	e.Serial, e.Sec, e.Milli, e.Node = records[0].Serial, records[0].Sec, records[0].Milli, records[0].Node
	var ex execveBuilder
	nPaths := 0
	for i := range records {
		if records[i].Type == auparse.AUDIT_PATH {
			nPaths++
		}
	}
	if nPaths > 0 {
		e.Paths = in.pathsFor(nPaths)
	}
	for i := range records {
		r := &records[i]
		switch r.Type {
		case auparse.AUDIT_SYSCALL:
			first := !e.HasSyscall
			e.HasSyscall = true
			e.syscallRecord(r.Body(), first)
		case auparse.AUDIT_EXECVE:
			e.HasExecve = true
			ex.add(e, r.Body())
		case auparse.AUDIT_CWD:
			if f, ok := Lookup(r.Body(), "cwd"); ok {
				e.Cwd, e.HasCwd = e.untrusted("cwd", f)
			}
		case auparse.AUDIT_PATH:
			e.Paths = append(e.Paths, e.pathRecord(r.Body()))
		case auparse.AUDIT_PROCTITLE:
			e.proctitleRecord(r.Body())
		case auparse.AUDIT_KERN_MODULE:
			if f, ok := Lookup(r.Body(), "name"); ok {
				e.Module, e.HasModule = e.untrusted("name", f)
			}
		}
	}
	for i := range records {
		if isURingRecord(records[i].Type) {
			e.uringRecord(records[i].Body())
			break
		}
	}
	if e.HasExecve {
		e.Argc, e.Argv, e.ArgvPartial = ex.finish()
	}
	sortPaths(e.Paths)
	e.resolvePaths()
	e.in = nil
	return e
}

// syscallRecord decodes a SYSCALL body; first says e.Syscall is still
// empty (the event's first SYSCALL record).
func (e *Event) syscallRecord(body []byte, first bool) {
	var slot *memoSlot[Syscall]
	var pre, post []byte
	if e.in != nil && first {
		var args [4]uint64
		var ok bool
		if pre, post, args, ok = splitArgsRun(body); ok {
			slot = e.in.syscalls.slot(pre, post, decodeMemoSlots)
			if s, ok := slot.get(pre, post); ok {
				s.Args = args
				e.Syscall = s
				return
			}
		}
	}
	nw := len(e.Warnings)
	e.decodeSyscall(body)
	if slot != nil && len(e.Warnings) == nw && rememberable(pre, post) {
		slot.put(pre, post, e.Syscall) // as argsRun would have split it
	}
}

func (e *Event) proctitleRecord(body []byte) {
	var slot *memoSlot[proctitleMemo]
	if e.in != nil {
		slot = e.in.proctitles.slot(body, nil, decodeMemoSlots)
		if m, ok := slot.get(body, nil); ok {
			if m.set {
				e.Proctitle = m.args
			}
			return
		}
	}
	nw := len(e.Warnings)
	var m proctitleMemo
	if f, ok := Lookup(body, "proctitle"); ok {
		if s, ok := e.untrusted("proctitle", f); ok {
			m = proctitleMemo{args: e.in.split(strings.TrimRight(s, "\x00"), "\x00"), set: true}
			e.Proctitle = m.args
		}
	}
	if len(e.Warnings) == nw {
		slot.put(body, nil, m)
	}
}

func (e *Event) warn(s string) {
	if len(e.Warnings) < 16 {
		e.Warnings = append(e.Warnings, s)
	}
}

func (e *Event) untrusted(key string, f Field) (string, bool) {
	return e.untrustedAs(key, f, false)
}

// untrustedAs is untrusted; path says f is a PATH name (see Interner.name).
func (e *Event) untrustedAs(key string, f Field, path bool) (string, bool) {
	s, ok, bad := e.in.untrusted(f, path)
	if bad {
		e.warn(key + ": unquoted value is not hex, kept verbatim")
	}
	if f.Unterminated {
		e.warn(key + ": unterminated quote (truncated record)")
	}
	return s, ok
}

// syscallOrder is the order in which the kernel (audit_log_exit) writes
// the unquoted leading fields of a SYSCALL record.
var syscallOrder = [...]string{"arch=", "syscall=", "success=", "exit=", "a0=", "a1=", "a2=", "a3=",
	"items=", "ppid=", "pid=", "auid=", "uid=", "gid=", "euid=", "suid=", "fsuid=", "egid=", "sgid=",
	"fsgid=", "tty=", "ses="}

func (e *Event) decodeSyscall(body []byte) {
	s := &e.Syscall
	s.AUID, s.Session, s.UID, s.GID, s.EUID, s.SUID, s.FSUID, s.EGID = Unset, Unset, Unset, Unset, Unset, Unset, Unset, Unset
	// Fast path: the leading fields in the kernel's order, without
	// extracting and matching keys; the first surprise (a log edited by
	// hand, another kernel) hands the rest to the generic loop.
	i := 0
	for k, pfx := range syscallOrder {
		if len(body)-i < len(pfx) || string(body[i:i+len(pfx)]) != pfx {
			break
		}
		j := i + len(pfx)
		end := j
		for end < len(body) && body[end] != ' ' {
			end++
		}
		if end < len(body) && j < end && (body[j] == '"' || body[j] == '\'') {
			break // quoted: let the scanner handle it
		}
		s.setNumeric(k, body[j:end], e.in)
		i = end
		for i < len(body) && body[i] == ' ' {
			i++
		}
	}
	var sc Scanner
	sc.Reset(body[i:])
	for n := 0; n < MaxFields && sc.Next(); n++ {
		e.syscallField(s, &sc.Field)
	}
	if s.ArchName != "" {
		s.Name = syscallName(s.ArchName, s.Number)
	}
}

// setNumeric sets the k-th field of syscallOrder from its unquoted value.
// in interns the tty.
func (s *Syscall) setNumeric(k int, v []byte, in *Interner) {
	switch k {
	case 0:
		if x, ok := atox(v, 32); ok {
			s.Arch = uint32(x)
			s.ArchName = archName(s.Arch)
		}
	case 1:
		s.Number = atoiDefault(v, -1)
	case 2:
		switch string(v) {
		case "yes":
			s.Success = SuccessYes
		case "no":
			s.Success = SuccessNo
		}
	case 3:
		if x, ok := atoi64(v); ok {
			s.Exit = x
		}
	case 4, 5, 6, 7:
		if x, ok := atox(v, 64); ok {
			s.Args[k-4] = x
		}
	case 8:
		s.Items = atoiDefault(v, 0)
	case 9:
		s.PPID = atoiDefault(v, 0)
	case 10:
		s.PID = atoiDefault(v, 0)
	case 11:
		s.AUID = id32(v)
	case 12:
		s.UID = id32(v)
	case 13:
		s.GID = id32(v)
	case 14:
		s.EUID = id32(v)
	case 15:
		s.SUID = id32(v)
	case 16:
		s.FSUID = id32(v)
	case 17:
		s.EGID = id32(v)
	case 18, 19: // sgid, fsgid: not kept
	case 20:
		if string(v) == "(none)" {
			s.TTY = "(none)"
		} else {
			s.TTY = in.Bytes(v)
		}
	case 21:
		s.Session = id32(v)
	}
}

func (e *Event) syscallField(s *Syscall, f *Field) {
	if k := numericField(f.Key); k >= 0 {
		s.setNumeric(k, f.Value, e.in)
		return
	}
	v := f.Value
	switch string(f.Key) {
	case "comm":
		s.Comm, _ = e.untrusted("comm", *f)
	case "exe":
		s.Exe, _ = e.untrusted("exe", *f)
	case "subj":
		s.Subj = e.in.Bytes(v)
	case "key":
		if k, ok := e.untrusted("key", *f); ok {
			s.Keys = e.in.split(k, "\x01")
		}
	}
}

// numericField returns the position in syscallOrder of an unquoted
// SYSCALL field, or -1. (A switch: the compiler searches it by length and
// value instead of comparing every entry; TestNumericFieldOrder keeps it
// in step with syscallOrder.)
func numericField(key []byte) int {
	switch string(key) {
	case "arch":
		return 0
	case "syscall":
		return 1
	case "success":
		return 2
	case "exit":
		return 3
	case "a0":
		return 4
	case "a1":
		return 5
	case "a2":
		return 6
	case "a3":
		return 7
	case "items":
		return 8
	case "ppid":
		return 9
	case "pid":
		return 10
	case "auid":
		return 11
	case "uid":
		return 12
	case "gid":
		return 13
	case "euid":
		return 14
	case "suid":
		return 15
	case "fsuid":
		return 16
	case "egid":
		return 17
	case "sgid":
		return 18
	case "fsgid":
		return 19
	case "tty":
		return 20
	case "ses":
		return 21
	}
	return -1
}

// pathRecord decodes a PATH body, or takes its decoding from the memo: the
// same directory, binary or loader is named event after event.
func (e *Event) pathRecord(body []byte) Path {
	var slot *memoSlot[Path]
	if e.in != nil {
		slot = e.in.paths.slot(body, nil, pathMemoSlots)
		if p, ok := slot.get(body, nil); ok {
			return p
		}
	}
	nw := len(e.Warnings)
	p := e.decodePath(body)
	if len(e.Warnings) == nw {
		slot.put(body, nil, p)
	}
	return p
}

func (e *Event) decodePath(body []byte) Path {
	p := Path{Item: -1, OUID: Unset}
	var sc Scanner
	sc.Reset(body)
	for n := 0; n < MaxFields && sc.Next(); n++ {
		f := &sc.Field
		switch string(f.Key) {
		case "item":
			p.Item = atoiDefault(f.Value, -1)
		case "name":
			p.Name, _ = e.untrustedAs("name", *f, true)
		case "inode":
			p.Inode, _ = strconv.ParseUint(string(f.Value), 10, 64)
		case "dev":
			p.Dev = e.in.Bytes(f.Value) // a few devices: interned
		case "mode":
			if x, err := strconv.ParseUint(string(f.Value), 8, 32); err == nil {
				p.Mode = uint32(x)
			}
		case "ouid":
			p.OUID = id32(f.Value)
		case "nametype", "objtype": // objtype: kernels before 4.x
			p.Nametype = nametype(f.Value)
		}
	}
	return p
}

// resolvePaths makes relative PATH names absolute against CWD and cleans
// "..", "." and "//". A name relative to a directory fd (the *at syscalls
// with a0 != AT_FDCWD) cannot be resolved from the records and stays "".
func (e *Event) resolvePaths() {
	for i := range e.Paths {
		p := &e.Paths[i]
		switch {
		case p.Name == "":
		case strings.HasPrefix(p.Name, "/"):
			p.Resolved = cleanAbs(p.Name)
		case e.HasCwd && strings.HasPrefix(e.Cwd, "/") && !e.dirfdRelative():
			p.Resolved = path.Join(e.Cwd, p.Name)
		}
	}
}

// cleanAbs is path.Clean of an absolute path, without its scan when the
// path is clean already (as the kernel logs most): no empty, "." or ".."
// element and no trailing slash.
func cleanAbs(p string) string {
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") && (len(p) == 1 || p[len(p)-1] != '/') {
		return p
	}
	return path.Clean(p)
}

// atFDCWD is AT_FDCWD (-100) as the kernel logs a 64-bit a0.
const atFDCWD = 0xffffffffffffff9c

// dirfdRelative reports whether the syscall resolves relative names
// against a directory fd in a0 rather than the cwd.
func (e *Event) dirfdRelative() bool {
	if !e.HasSyscall {
		return false
	}
	switch e.Syscall.Name {
	case "openat", "openat2", "mkdirat", "mknodat", "unlinkat", "fchmodat", "fchownat",
		"newfstatat", "utimensat", "faccessat", "faccessat2", "execveat", "name_to_handle_at":
		a0 := e.Syscall.Args[0]
		return a0 != atFDCWD && a0 != 0xffffff9c
	}
	return false
}

func sortPaths(p []Path) {
	// Insertion sort by item: events carry a handful of PATH records.
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].Item < p[j-1].Item; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

func archName(a uint32) string {
	switch auparse.AuditArch(a) {
	case auparse.AUDIT_ARCH_X86_64:
		return "x86_64"
	case auparse.AUDIT_ARCH_I386:
		return "i386"
	}
	n, ok := auparse.AuditArchNames[auparse.AuditArch(a)]
	if !ok {
		return ""
	}
	return n
}

func atoiDefault(b []byte, def int) int {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	n, ok := atou(b)
	if !ok || n > 1<<31 {
		return def
	}
	if neg {
		return -int(n)
	}
	return int(n)
}

// atox parses unsigned hex digits of either case into at most bits bits,
// as strconv.ParseUint(s, 16, bits) does, without converting b to a string
// (SYSCALL records carry five hex fields; the conversions showed up in
// replay profiles).
func atox(b []byte, bits uint) (uint64, bool) {
	for len(b) > 1 && b[0] == '0' {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(d)
	}
	if bits < 64 && n>>bits != 0 {
		return 0, false
	}
	return n, true
}

// atoi64 parses an optionally signed decimal of at most 19 digits.
func atoi64(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	n, ok := atou(b)
	switch {
	case !ok:
		return 0, false
	case neg && n <= 1<<63:
		return -int64(n), true
	case !neg && n < 1<<63:
		return int64(n), true
	}
	return 0, false
}

func id32(b []byte) uint32 {
	if string(b) == "-1" || string(b) == "unset" {
		return Unset
	}
	n, ok := atou(b)
	if !ok || n > Unset {
		return Unset
	}
	return uint32(n)
}

// syscallTables holds go-libaudit's per-arch syscall names as slices for
// the two arches a host running auditlkm sees almost always; others fall
// back to the maps.
var syscallTables = sync.OnceValue(func() map[string][]string {
	out := map[string][]string{}
	for _, arch := range []string{"x86_64", "i386", "aarch64"} {
		m := auparse.AuditSyscalls[arch]
		hi := 0
		for n := range m {
			hi = max(hi, n)
		}
		if hi > 4096 {
			continue
		}
		t := make([]string, hi+1)
		for n, name := range m {
			if n >= 0 {
				t[n] = name
			}
		}
		out[arch] = t
	}
	return out
})

func syscallName(arch string, n int) string {
	if t, ok := syscallTables()[arch]; ok {
		if n >= 0 && n < len(t) {
			return t[n]
		}
		return ""
	}
	return auparse.AuditSyscalls[arch][n]
}

// nametype returns the kernel's PATH name types as constants (no
// allocation for the five the kernel writes).
func nametype(v []byte) string {
	switch string(v) {
	case "NORMAL":
		return "NORMAL"
	case "CREATE":
		return "CREATE"
	case "DELETE":
		return "DELETE"
	case "PARENT":
		return "PARENT"
	case "UNKNOWN":
		return "UNKNOWN"
	}
	return string(v)
}
