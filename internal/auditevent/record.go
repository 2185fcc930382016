package auditevent

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"
)

// Sentinel errors for records that cannot be parsed. Callers count them by
// reason; none of them is fatal to a stream.
var (
	// ErrNoHeader: the text lacks the "audit(SEC.MSEC:SERIAL):" header.
	ErrNoHeader = errors.New("no audit(...) header")
	// ErrNoType: a log line lacks the "type=" field.
	ErrNoType = errors.New("no type= field")
	// ErrUnknownType: the type name is neither known nor UNKNOWN[N].
	ErrUnknownType = errors.New("unknown record type")
	// ErrTooLong: the record is longer than MaxRecordLen.
	ErrTooLong = errors.New("record too long")
	// ErrBadNode: a log line's node= prefix is empty or longer than
	// MaxNodeLen. auditd never writes either; an empty one would pass a
	// remote host's record off as this machine's.
	ErrBadNode = errors.New("bad node= name")
)

// MaxNodeLen bounds a node name (auditd's node= prefix): a host name is
// at most 253 bytes, and auditd's own configuration lines are shorter.
const MaxNodeLen = 255

// MaxRecordLen bounds one record's text. The kernel never sends more than
// MAX_AUDIT_MESSAGE_LENGTH (8970) bytes; auditd lines are at most a little
// longer (node= prefix, ENRICHED suffix). Anything longer is hostile.
const MaxRecordLen = 64 << 10

// Record is one kernel audit record. Its Text is a private copy: it is
// never backed by a read buffer.
//
// The fields are ordered so that a Record takes 64 bytes (a million of
// them pass through a replay of the heavy corpus, in the reassembler's
// slabs and the events).
type Record struct {
	Sec  int64  // seconds since the epoch, from the header
	Node string // the node= prefix of a log line, if any
	// Text is "audit(SEC.MSEC:SERIAL): body" as the kernel wrote it.
	Text    []byte
	Serial  uint32
	Type    auparse.AuditMessageType
	Milli   uint16 // milliseconds, from the header
	bodyOff int32  // at most MaxRecordLen
}

// Body returns the record's fields, after the "audit(...): " header.
func (r *Record) Body() []byte { return r.Text[r.bodyOff:] }

// Time returns the record's timestamp.
func (r *Record) Time() time.Time {
	return time.Unix(r.Sec, int64(r.Milli)*int64(time.Millisecond)).UTC()
}

// UnixMilli returns the timestamp in milliseconds since the epoch.
func (r *Record) UnixMilli() int64 { return r.Sec*1000 + int64(r.Milli) }

// TypeName returns the record type's name, or UNKNOWN[N].
func TypeName(t auparse.AuditMessageType) string {
	if t >= typeNamesFrom && t < typeNamesFrom+auparse.AuditMessageType(len(namesOfTypes)) {
		return namesOfTypes[t-typeNamesFrom]
	}
	return typeName(t)
}

// namesOfTypes holds TypeName of the types the kernel sends (1000-2999), so
// that naming a record (every alert's records, every raw log line) is an
// index instead of a map lookup and, for unknown types, an allocation.
var namesOfTypes = func() (names [2000]string) {
	for i := range names {
		names[i] = typeName(typeNamesFrom + auparse.AuditMessageType(i))
	}
	return names
}()

const typeNamesFrom auparse.AuditMessageType = 1000

func typeName(t auparse.AuditMessageType) string {
	s := t.String()
	if len(s) > 0 && s[0] >= '0' && s[0] <= '9' || s == "" {
		return "UNKNOWN[" + strconv.Itoa(int(t)) + "]"
	}
	return s
}

// Line renders the record the way auditd writes it to audit.log (raw format).
func (r *Record) Line() string {
	return string(r.AppendLine(nil))
}

// AppendLine appends Line's text to dst without building a string: the
// raw record log (--output.records) writes every record received this way.
func (r *Record) AppendLine(dst []byte) []byte {
	typ := TypeName(r.Type)
	// Grown at most once, to twice what is needed: a batch appended record
	// by record reallocates a logarithmic number of times.
	if n := len(dst) + len("node= type= msg=") + len(r.Node) + len(typ) + len(r.Text); cap(dst) < n {
		dst = append(make([]byte, 0, n+len(dst)), dst...)
	}
	if r.Node != "" {
		dst = append(dst, "node="...)
		dst = append(dst, r.Node...)
		dst = append(dst, ' ')
	}
	dst = append(dst, "type="...)
	dst = append(dst, typ...)
	dst = append(dst, " msg="...)
	return append(dst, r.Text...)
}

// ParseNetlink builds a Record from one netlink audit message: typ is the
// netlink message type, data its payload ("audit(...): body"). data is
// copied, so the caller may reuse its buffer.
func ParseNetlink(typ uint16, data []byte) (Record, error) {
	return parseNetlink(typ, data, nil)
}

// ParseNetlinkArena is ParseNetlink with the record's text copied into a
// (see Arena), so that a stream of records costs one allocation per arena
// chunk instead of one per record.
func ParseNetlinkArena(typ uint16, data []byte, a *Arena) (Record, error) {
	return parseNetlink(typ, data, a)
}

func parseNetlink(typ uint16, data []byte, a *Arena) (Record, error) {
	data = trimTail(data)
	if len(data) > MaxRecordLen {
		return Record{}, fmt.Errorf("parse %s record: %w (%d bytes)", TypeName(auparse.AuditMessageType(typ)), ErrTooLong, len(data))
	}
	r := Record{Type: auparse.AuditMessageType(typ)}
	if err := r.parseHeader(data); err != nil {
		return Record{}, fmt.Errorf("parse %s record: %w", TypeName(r.Type), err)
	}
	r.Text = a.Copy(data)
	return r, nil
}

// ParseLine builds a Record from one audit.log line in raw or ENRICHED
// format, with or without a node= prefix. line is copied.
func ParseLine(line []byte) (Record, error) { return parseLine(line, nil) }

// ParseLineArena is ParseLine with the record's text copied into a, so
// that a stream of records costs one allocation per arena chunk.
func ParseLineArena(line []byte, a *Arena) (Record, error) { return parseLine(line, a) }

func parseLine(line []byte, a *Arena) (Record, error) {
	line = trimTail(line)
	if len(line) > MaxRecordLen {
		return Record{}, fmt.Errorf("parse log line: %w (%d bytes)", ErrTooLong, len(line))
	}
	// ENRICHED format appends interpreted fields after a 0x1d separator.
	if i := bytes.IndexByte(line, 0x1d); i >= 0 {
		line = trimTail(line[:i])
	}
	var r Record
	rest := line
	if bytes.HasPrefix(rest, []byte("node=")) {
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			return Record{}, fmt.Errorf("parse log line: %w", ErrNoType)
		}
		node := rest[len("node="):sp]
		if len(node) == 0 || len(node) > MaxNodeLen {
			return Record{}, fmt.Errorf("parse log line: %w: %d bytes", ErrBadNode, len(node))
		}
		r.Node = string(node)
		rest = rest[sp+1:]
	}
	if !bytes.HasPrefix(rest, []byte("type=")) {
		return Record{}, fmt.Errorf("parse log line: %w", ErrNoType)
	}
	rest = rest[len("type="):]
	sp := bytes.IndexByte(rest, ' ')
	if sp < 0 {
		return Record{}, fmt.Errorf("parse log line: %w", ErrNoHeader)
	}
	t, err := parseTypeName(rest[:sp])
	if err != nil {
		return Record{}, fmt.Errorf("parse log line: %w", err)
	}
	r.Type = t
	rest = rest[sp+1:]
	if !bytes.HasPrefix(rest, []byte("msg=")) {
		return Record{}, fmt.Errorf("parse %s line: %w", TypeName(t), ErrNoHeader)
	}
	rest = rest[len("msg="):]
	if err := r.parseHeader(rest); err != nil {
		return Record{}, fmt.Errorf("parse %s line: %w", TypeName(t), err)
	}
	r.Text = a.Copy(rest)
	return r, nil
}

func parseTypeName(b []byte) (auparse.AuditMessageType, error) {
	// The types that make up almost every event, without a hash lookup.
	switch string(b) {
	case "SYSCALL":
		return auparse.AUDIT_SYSCALL, nil
	case "PATH":
		return auparse.AUDIT_PATH, nil
	case "CWD":
		return auparse.AUDIT_CWD, nil
	case "EXECVE":
		return auparse.AUDIT_EXECVE, nil
	case "PROCTITLE":
		return auparse.AUDIT_PROCTITLE, nil
	case "EOE":
		return auparse.AUDIT_EOE, nil
	}
	if bytes.HasPrefix(b, []byte("UNKNOWN[")) && len(b) > len("UNKNOWN[]") && b[len(b)-1] == ']' {
		n, ok := atou(b[len("UNKNOWN[") : len(b)-1])
		if !ok || n > 0xffff {
			return 0, fmt.Errorf("%w %q", ErrUnknownType, b)
		}
		return auparse.AuditMessageType(n), nil
	}
	if t, ok := typeNames()[string(b)]; ok {
		return t, nil
	}
	t, err := auparse.GetAuditMessageType(string(b))
	if err != nil {
		return 0, fmt.Errorf("%w %q", ErrUnknownType, b)
	}
	return t, nil
}

// typeNames maps the upper-case names of the record types go-libaudit
// knows (all in 1000..2999) to their numbers, so that the common case of
// ParseLine needs neither strings.ToUpper nor an allocation; anything else
// (lower case) falls back to auparse.GetAuditMessageType.
var typeNames = sync.OnceValue(func() map[string]auparse.AuditMessageType {
	m := make(map[string]auparse.AuditMessageType, 512)
	for t := auparse.AuditMessageType(1000); t < 3000; t++ {
		if s := t.String(); !strings.HasPrefix(s, "UNKNOWN[") {
			m[s] = t
		}
	}
	return m
})

// parseHeader reads "audit(SEC.MSEC:SERIAL): " from the start of b.
func (r *Record) parseHeader(b []byte) error {
	const pfx = "audit("
	if len(b) < len(pfx) || string(b[:len(pfx)]) != pfx {
		return ErrNoHeader
	}
	p := len(pfx)
	end := bytes.IndexByte(b[p:], ')')
	if end < 0 {
		return ErrNoHeader
	}
	h := b[p : p+end]
	dot := bytes.IndexByte(h, '.')
	colon := bytes.IndexByte(h, ':')
	if dot <= 0 || colon <= dot+1 || colon == len(h)-1 {
		return fmt.Errorf("%w: bad stamp %q", ErrNoHeader, h)
	}
	sec, ok1 := atou(h[:dot])
	ms, ok2 := atou(h[dot+1 : colon])
	ser, ok3 := atou(h[colon+1:])
	if !ok1 || !ok2 || !ok3 || ms > 999 || ser > 0xffffffff || sec > 1<<40 {
		return fmt.Errorf("%w: bad stamp %q", ErrNoHeader, h)
	}
	r.Sec, r.Milli, r.Serial = int64(sec), uint16(ms), uint32(ser)
	off := p + end + 1
	if off < len(b) && b[off] == ':' {
		off++
	}
	for off < len(b) && b[off] == ' ' {
		off++
	}
	r.bodyOff = int32(off)
	return nil
}

// atou parses a decimal unsigned number of at most 19 digits.
func atou(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

func trimTail(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case 0, '\n', '\r':
			b = b[:len(b)-1]
		default:
			return b
		}
	}
	return b
}
