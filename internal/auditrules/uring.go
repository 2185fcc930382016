package auditrules

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	auditrule "github.com/elastic/go-libaudit/v2/rule"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// filterURing is AUDIT_FILTER_URING_EXIT (include/uapi/linux/audit.h,
// kernel 5.16 and later): the list the kernel filters io_uring operations
// on. Its rules carry IORING_OP_* numbers in the place of syscall numbers.
const filterURing = 0x07

// uringOps maps the names audit-userspace (3.1 and later) uses in -S on
// the io_uring list to IORING_OP_* numbers (auditevent.URingOps).
var uringOps = func() map[string]int {
	m := make(map[string]int, len(auditevent.URingOps))
	for n, name := range auditevent.URingOps {
		m[name] = n
	}
	return m
}()

// uringOpNumber resolves an -S word on the io_uring list: a name of
// uringOps or a number.
func uringOpNumber(s string) (int, error) {
	if n, ok := uringOps[s]; ok {
		return n, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < 32*maskWords {
		return n, nil
	}
	return 0, fmt.Errorf("unknown io_uring operation %q", s)
}

// buildURing builds a rule on the io_uring list. The kernel filters it
// like an exit rule (the same field checks) with the operation mask in
// place of the syscall mask, so the wire bytes are go-libaudit's for an
// exit rule whose "syscalls" are the operation numbers, moved to list 7.
// The kernel refuses some fields on this list (see kernel_uring_test.go):
// this function does not second-guess it.
func buildURing(l *line) ([]byte, error) {
	if len(l.sysc) == 0 {
		return nil, errors.New("io_uring rule needs -S with the operations")
	}
	ops := make([]string, 0, len(l.sysc))
	for _, s := range l.sysc {
		n, err := uringOpNumber(s)
		if err != nil {
			return nil, err
		}
		ops = append(ops, strconv.Itoa(n))
	}
	for _, f := range l.filters {
		if f.LHS == "arch" || f.LHS == "fstype" {
			return nil, fmt.Errorf("field %s is not valid on the io_uring list", f.LHS)
		}
	}
	if len(l.keys) > 0 {
		if _, err := joinKeys(l.keys); err != nil {
			return nil, err
		}
	}
	wire, err := auditrule.Build(&auditrule.SyscallRule{
		List: "exit", Action: l.action, Filters: l.filters, Syscalls: ops, Keys: l.keys,
	})
	if err != nil {
		return nil, fmt.Errorf("build io_uring rule: %w", err)
	}
	flags := ne.Uint32(wire[offFlags:])
	ne.PutUint32(wire[offFlags:], flags&^filterMask|filterURing)
	if l.op == "A" {
		setPrepend(wire)
	}
	return wire, nil
}

// IsURing reports whether wire bytes are a rule on the io_uring list.
func IsURing(wire []byte) bool {
	return len(wire) >= headerSize && ne.Uint32(wire[offFlags:])&filterMask == filterURing
}

// uringFieldNames names the fields an io_uring rule may carry when it is
// printed (the others print as fieldN=V).
var uringFieldNames = map[uint32]string{
	0: "pid", 1: "uid", 2: "euid", 3: "suid", 4: "fsuid", 5: "gid", 6: "egid", 7: "sgid",
	8: "fsgid", 9: "auid", 103: "exit", 104: "success", 105: "path", 106: "perm", 107: "dir",
	109: "obj_uid", 110: "obj_gid", 112: "exe", fieldKey: "key",
}

var wireOps = map[uint32]string{
	opEqual: "=", opNotEqual: "!=", 0x10000000: "<", 0x20000000: ">", 0x50000000: "<=",
	0x60000000: ">=", 0x08000000: "&", 0x48000000: "&=",
}

// uringCommandLine renders a rule on the io_uring list in the syntax
// audit-userspace 3.1 reads ("-a always,io_uring -S openat ...").
func uringCommandLine(r wireRule) string {
	opt := "-a"
	if r.flags&filterPrepend != 0 {
		opt = "-A"
	}
	act := "never"
	if r.action == actionAlways {
		act = "always"
	}
	parts := []string{opt, act + ",io_uring"}
	var ops []string
	for n := 0; n < 32*maskWords; n++ {
		if r.mask[n/32]&(1<<(n%32)) == 0 {
			continue
		}
		if name := auditevent.URingOpName(n); name != "" {
			ops = append(ops, name)
		} else {
			ops = append(ops, strconv.Itoa(n))
		}
		if len(ops) > 64 {
			break
		}
	}
	sort.SliceStable(ops, func(i, j int) bool { return uringOps[ops[i]] < uringOps[ops[j]] })
	if len(ops) > 0 {
		parts = append(parts, "-S", strings.Join(ops, ","))
	}
	for _, f := range r.fields {
		name, ok := uringFieldNames[f.typ]
		if !ok {
			name = fmt.Sprintf("field%d", f.typ)
		}
		op, ok := wireOps[f.op]
		if !ok {
			op = fmt.Sprintf("(op %#x)", f.op)
		}
		switch {
		case f.typ == fieldKey:
			for _, k := range strings.Split(f.str, "\x01") {
				parts = append(parts, "-F", "key="+k)
			}
		case isStringField(f.typ):
			parts = append(parts, "-F", name+op+f.str)
		case f.typ == 106: // perm
			parts = append(parts, "-F", name+op+permString(f.val))
		default:
			parts = append(parts, "-F", name+op+strconv.FormatInt(int64(int32(f.val)), 10))
		}
	}
	return strings.Join(parts, " ")
}

func permString(v uint32) string {
	var b strings.Builder
	for i, c := range "xwra" { // AUDIT_PERM_EXEC 1, WRITE 2, READ 4, ATTR 8
		if v&(1<<i) != 0 {
			b.WriteRune(c)
		}
	}
	return b.String()
}
