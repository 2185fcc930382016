package auditrules

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	auditrule "github.com/elastic/go-libaudit/v2/rule"
)

// Layout of struct audit_rule_data (include/uapi/linux/audit.h), native
// byte order: flags, action, field_count, mask[64], fields[64],
// values[64], fieldflags[64], buflen, then buf.
const (
	maxFields     = 64 // AUDIT_MAX_FIELDS
	maskWords     = 64 // AUDIT_BITMASK_SIZE
	offFlags      = 0
	offAction     = 4
	offFieldCount = 8
	offMask       = 12
	offFields     = offMask + 4*maskWords
	offValues     = offFields + 4*maxFields
	offFieldFlags = offValues + 4*maxFields
	offBufLen     = offFieldFlags + 4*maxFields
	headerSize    = offBufLen + 4 // 1040

	filterMask    = 0x07 // list number bits of flags
	filterPrepend = 0x10 // AUDIT_FILTER_PREPEND
	filterFS      = 0x06 // AUDIT_FILTER_FS
	actionNever   = 0    // AUDIT_NEVER
	actionAlways  = 2    // AUDIT_ALWAYS

	fieldFSType = 26  // AUDIT_FSTYPE
	fieldKey    = 210 // AUDIT_FILTERKEY
	opEqual     = 0x40000000
	opNotEqual  = 0x30000000

	// classBits are the top 16 bits of the last mask word: syscall class
	// flags the kernel expands and clears when it stores a rule.
	classBits = 0xFFFF0000
)

// fsMagic maps the filesystem names auditctl knows to their superblock
// magic (include/uapi/linux/magic.h).
var fsMagic = map[string]uint32{
	"debugfs": 0x64626720,
	"tracefs": 0x74726163,
}

var ne = binary.NativeEndian

// setPrepend marks a built rule as -A (go-libaudit ignores the type).
func setPrepend(wire []byte) {
	ne.PutUint32(wire[offFlags:], ne.Uint32(wire[offFlags:])|filterPrepend)
}

// buildFilesystem builds a rule on the filesystem list, which go-libaudit
// cannot express: fields are fstype (= or !=) and keys only.
func buildFilesystem(l *line) ([]byte, error) {
	type fld struct{ typ, op, val uint32 }
	var fields []fld
	keys := l.keys
	for _, f := range l.filters {
		if f.Type == auditrule.ValueFilterType && f.LHS == "key" {
			if f.Comparator != "=" {
				return nil, fmt.Errorf("-F key takes =, not %q", f.Comparator)
			}
			keys = append(keys, f.RHS)
			continue
		}
		if f.Type != auditrule.ValueFilterType || f.LHS != "fstype" {
			return nil, fmt.Errorf("field %q is not valid on the filesystem list", f.LHS)
		}
		var op uint32
		switch f.Comparator {
		case "=":
			op = opEqual
		case "!=":
			op = opNotEqual
		default:
			return nil, fmt.Errorf("-F fstype takes = or !=, not %q", f.Comparator)
		}
		magic, ok := fsMagic[f.RHS]
		if !ok {
			n, err := strconv.ParseUint(f.RHS, 0, 32)
			if err != nil {
				return nil, fmt.Errorf("unknown fstype %q", f.RHS)
			}
			magic = uint32(n)
		}
		fields = append(fields, fld{fieldFSType, op, magic})
	}
	if len(fields) == 0 {
		return nil, errors.New("filesystem rule needs -F fstype=")
	}
	var buf []byte
	if len(keys) > 0 {
		k, err := joinKeys(keys)
		if err != nil {
			return nil, err
		}
		buf = []byte(k)
		fields = append(fields, fld{fieldKey, opEqual, uint32(len(k))})
	}
	if len(fields) > maxFields {
		return nil, fmt.Errorf("more than %d fields", maxFields)
	}
	action := uint32(actionNever)
	if l.action == "always" {
		action = actionAlways
	}
	flags := uint32(filterFS)
	if l.op == "A" {
		flags |= filterPrepend
	}
	n := headerSize + len(buf)
	n += (4 - n%4) % 4
	w := make([]byte, n)
	ne.PutUint32(w[offFlags:], flags)
	ne.PutUint32(w[offAction:], action)
	ne.PutUint32(w[offFieldCount:], uint32(len(fields)))
	// All syscalls, like auditctl does for every list but task; the
	// kernel clears the class bits, so they are left clear here.
	for i := range maskWords {
		ne.PutUint32(w[offMask+4*i:], 0xFFFFFFFF)
	}
	ne.PutUint32(w[offMask+4*(maskWords-1):], ^uint32(classBits))
	for i, f := range fields {
		ne.PutUint32(w[offFields+4*i:], f.typ)
		ne.PutUint32(w[offValues+4*i:], f.val)
		ne.PutUint32(w[offFieldFlags+4*i:], f.op)
	}
	ne.PutUint32(w[offBufLen:], uint32(len(buf)))
	copy(w[headerSize:], buf)
	return w, nil
}

// isStringField reports whether a field's value is a length into buf
// (kernel audit_krule_to_data).
func isStringField(t uint32) bool {
	switch {
	case t >= 13 && t <= 17: // subj_user .. subj_clr
		return true
	case t >= 19 && t <= 23: // obj_user .. obj_lev_high
		return true
	}
	switch t {
	case 105, 107, 112, fieldKey: // path (AUDIT_WATCH), dir, exe, key
		return true
	}
	return false
}

type wireField struct {
	typ, op, val uint32
	str          string
}

type wireRule struct {
	flags, action uint32
	mask          [maskWords]uint32
	fields        []wireField
}

var errShortRule = errors.New("audit rule data truncated")

func decodeWire(b []byte) (wireRule, error) {
	var r wireRule
	if len(b) < headerSize {
		return r, errShortRule
	}
	r.flags = ne.Uint32(b[offFlags:])
	r.action = ne.Uint32(b[offAction:])
	n := ne.Uint32(b[offFieldCount:])
	if n > maxFields {
		return r, fmt.Errorf("audit rule data has %d fields", n)
	}
	for i := range maskWords {
		r.mask[i] = ne.Uint32(b[offMask+4*i:])
	}
	buflen := ne.Uint32(b[offBufLen:])
	if uint64(buflen) > uint64(len(b)-headerSize) {
		return r, errShortRule
	}
	buf := b[headerSize : headerSize+int(buflen)]
	off := uint32(0)
	r.fields = make([]wireField, n)
	for i := range int(n) {
		f := wireField{
			typ: ne.Uint32(b[offFields+4*i:]),
			val: ne.Uint32(b[offValues+4*i:]),
			op:  ne.Uint32(b[offFieldFlags+4*i:]),
		}
		if isStringField(f.typ) {
			if uint64(off)+uint64(f.val) > uint64(len(buf)) {
				return r, fmt.Errorf("audit rule field %d overflows its buffer", i)
			}
			f.str = string(buf[off : off+f.val])
			off += f.val
		}
		r.fields[i] = f
	}
	return r, nil
}

// normalize returns a comparison key for a rule that is equal for the
// bytes we send and the bytes the kernel lists back: padding and buflen
// are dropped, class bits cleared and fields sorted (a rule is a
// conjunction, so order carries no meaning). The key is binary, each
// number in four bytes and each string after its length, so two keys are
// equal exactly when the normalized rules are.
func normalize(b []byte) (string, error) {
	r, err := decodeWire(b)
	if err != nil {
		return "", err
	}
	r.mask[maskWords-1] &^= classBits
	slices.SortFunc(r.fields, func(a, c wireField) int {
		if n := cmp.Compare(a.typ, c.typ); n != 0 {
			return n
		}
		if n := cmp.Compare(a.op, c.op); n != 0 {
			return n
		}
		if n := cmp.Compare(a.val, c.val); n != 0 {
			return n
		}
		return strings.Compare(a.str, c.str)
	})
	n := 4 * (2 + maskWords + 1)
	for _, f := range r.fields {
		n += 4*4 + len(f.str)
	}
	k := make([]byte, 0, n)
	k = binary.LittleEndian.AppendUint32(k, r.flags)
	k = binary.LittleEndian.AppendUint32(k, r.action)
	for _, m := range r.mask {
		k = binary.LittleEndian.AppendUint32(k, m)
	}
	k = binary.LittleEndian.AppendUint32(k, uint32(len(r.fields)))
	for _, f := range r.fields {
		k = binary.LittleEndian.AppendUint32(k, f.typ)
		k = binary.LittleEndian.AppendUint32(k, f.op)
		k = binary.LittleEndian.AppendUint32(k, f.val)
		k = binary.LittleEndian.AppendUint32(k, uint32(len(f.str)))
		k = append(k, f.str...)
	}
	return string(k), nil
}

// ToCommandLine renders kernel wire bytes in auditctl syntax, as
// "auditctl -l" would, including rules on the filesystem list and -A
// rules that go-libaudit cannot print.
func ToCommandLine(wire []byte) (string, error) {
	r, err := decodeWire(wire)
	if err != nil {
		return "", fmt.Errorf("decode rule: %w", err)
	}
	if r.flags&filterMask == filterURing {
		return uringCommandLine(r), nil
	}
	opt := "-a"
	if r.flags&filterPrepend != 0 {
		opt = "-A"
	}
	if r.flags&filterMask == filterFS {
		act := "never"
		if r.action == actionAlways {
			act = "always"
		}
		parts := []string{opt, act + ",filesystem"}
		for _, f := range r.fields {
			switch f.typ {
			case fieldFSType:
				op := "="
				if f.op == opNotEqual {
					op = "!="
				}
				name := fmt.Sprintf("0x%x", f.val)
				for k, v := range fsMagic {
					if v == f.val {
						name = k
					}
				}
				parts = append(parts, "-F", "fstype"+op+name)
			case fieldKey:
				for _, k := range strings.Split(f.str, "\x01") {
					parts = append(parts, "-F", "key="+k)
				}
			default:
				parts = append(parts, "-F", fmt.Sprintf("field%d=%d", f.typ, f.val))
			}
		}
		return strings.Join(parts, " "), nil
	}
	w := wire
	if r.flags&filterPrepend != 0 {
		w = append([]byte(nil), wire...)
		ne.PutUint32(w[offFlags:], r.flags&^filterPrepend)
	}
	s, err := auditrule.ToCommandLine(w, false)
	if err != nil {
		return "", fmt.Errorf("render rule: %w", err)
	}
	if opt == "-A" {
		s = "-A" + strings.TrimPrefix(s, "-a")
	}
	return s, nil
}
