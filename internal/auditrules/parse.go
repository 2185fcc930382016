package auditrules

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	auditrule "github.com/elastic/go-libaudit/v2/rule"
)

const (
	// MaxLineBytes bounds one line of a rule file (auditctl itself stops
	// far earlier; a longer line is an error, not a truncation).
	MaxLineBytes = 64 << 10
	// maxLines bounds the number of lines read from one file.
	maxLines = 100_000
	// maxFiles bounds the number of *.rules files read by ParseFS.
	maxFiles = 1_000
	// maxReported bounds how many bad lines one parse reports.
	maxReported = 20
	// maxKeyBytes is AUDIT_MAX_KEY_LEN: all -k keys of a rule joined by
	// 0x01 must fit.
	maxKeyBytes = 256
)

// ParseFile parses one rule file. Every bad line is reported as a
// *LineError (joined, at most maxReported of them); when any line is bad no
// rule is returned, so a caller can never load half a file.
func ParseFile(name string, r io.Reader, opts ParseOptions) ([]Rule, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	br := bufio.NewReaderSize(r, MaxLineBytes+1)
	var (
		rules []Rule
		errs  []error
		n     int
	)
	report := func(line int, err error) {
		if len(errs) < maxReported {
			errs = append(errs, &LineError{File: name, Line: line, Err: err})
		}
	}
	for {
		raw, err := br.ReadSlice('\n')
		if len(raw) == 0 && err == io.EOF {
			break
		}
		n++
		if n > maxLines {
			report(n, fmt.Errorf("more than %d lines", maxLines))
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) || len(bytes.TrimRight(raw, "\n")) > MaxLineBytes {
			// Skip the rest of the overlong line and go on: every bad
			// line is reported, not only the first.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			report(n, fmt.Errorf("line longer than %d bytes", MaxLineBytes))
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("read rule file %s: %w", name, err)
			}
			continue
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read rule file %s: %w", name, err)
		}
		text := string(bytes.TrimSpace(raw))
		if text != "" && text[0] != '#' {
			r, perr := parseLine(text, opts)
			if perr != nil {
				report(n, perr)
			} else {
				r.File, r.Line, r.Text = name, n, text
				named := r.named
				r.named = nil
				rules = append(rules, r)
				if named != nil {
					rules = append(rules, Rule{File: name, Line: n, Text: text, Kind: r.Kind, Wire: named, watch: r.watch})
				}
			}
		}
		if err == io.EOF {
			break
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

// ParseFS parses every *.rules file at the top of fsys in name order, the
// order augenrules concatenates them. Any bad line in any file fails the
// whole set.
func ParseFS(fsys fs.FS, opts ParseOptions) ([]Rule, error) {
	names, err := fs.Glob(fsys, "*.rules")
	if err != nil {
		return nil, fmt.Errorf("list rule files: %w", err)
	}
	if len(names) > maxFiles {
		return nil, fmt.Errorf("list rule files: more than %d files", maxFiles)
	}
	sort.Strings(names)
	var (
		all  []Rule
		errs []error
	)
	for _, name := range names {
		f, err := fsys.Open(name)
		if err != nil {
			return nil, fmt.Errorf("open rule file %s: %w", name, err)
		}
		rules, err := ParseFile(name, f, opts)
		f.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, rules...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	dedupeURing(all)
	dedupeWatches(all, opts)
	return all, nil
}

// dedupeWatches marks a watch that names, through a symlink, the same
// file or directory as an earlier watch as skipped. A missing path is
// resolved through its parent.
func dedupeWatches(rs []Rule, opts ParseOptions) {
	if opts.Realpath == nil {
		return
	}
	real := func(p string) string {
		if r, err := opts.Realpath(p); err == nil {
			return r
		}
		if r, err := opts.Realpath(path.Dir(p)); err == nil {
			return path.Join(r, path.Base(p))
		}
		return p
	}
	seen := map[string]string{}
	for i := range rs {
		r := &rs[i]
		if r.watch == "" || (r.Kind != KindWatch && !(r.Loadable() && IsURing(r.Wire))) {
			continue
		}
		k := real(r.watch)
		ns := k
		if r.Kind != KindWatch {
			ns = "io_uring " + k
		}
		first, dup := seen[ns]
		switch {
		case !dup:
			seen[ns] = r.watch
		case first != r.watch:
			r.Kind, r.Skip = KindSkipped, "skipped: "+r.watch+" is "+k+", watched as "+first
		}
	}
}

// dedupeURing marks an io_uring rule that equals an earlier one as
// skipped: several missing directories under one parent all fall back to
// a rule on that parent.
func dedupeURing(rs []Rule) {
	seen := map[string]string{}
	for i := range rs {
		r := &rs[i]
		if !r.Loadable() || !IsURing(r.Wire) {
			continue
		}
		k, err := normalize(r.Wire)
		if err != nil {
			continue
		}
		if first, dup := seen[k]; dup {
			r.Kind, r.Skip = KindSkipped, "skipped: same rule as "+first
			continue
		}
		seen[k] = fmt.Sprintf("%s:%d", r.File, r.Line)
	}
}

// line is the parsed form of one line before it is built.
type line struct {
	op      string // "a", "A", "d", "w", "W" or a control flag
	list    string
	action  string
	filters []auditrule.FilterSpec
	sysc    []string
	path    string
	perms   string
	hasPerm bool
	keys    []string
	value   string // control argument
}

// optArg lists the options that take an argument; the value says whether
// the option is an operation (true) or a modifier (false).
var optArg = map[string]bool{
	"a": true, "A": true, "d": true, "w": true, "W": true,
	"b": true, "f": true, "e": true, "r": true, "backlog_wait_time": true,
	"F": false, "C": false, "S": false, "p": false, "k": false,
}

// optNoArg lists the options without an argument (all are controls).
var optNoArg = map[string]bool{"D": true, "i": true, "c": true,
	"loginuid-immutable": true, "reset-lost": true, "reset_backlog_wait_time_actual": true}

func parseLine(text string, opts ParseOptions) (Rule, error) {
	words, err := splitWords(text)
	if err != nil {
		return Rule{}, err
	}
	var l line
	setOp := func(op string) error {
		if l.op != "" {
			return fmt.Errorf("options -%s and -%s cannot be combined on one line", l.op, op)
		}
		l.op = op
		return nil
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if len(w) < 2 || w[0] != '-' {
			return Rule{}, fmt.Errorf("unexpected word %q", w)
		}
		var name, val string
		hasVal := false
		if strings.HasPrefix(w, "--") {
			name = w[2:]
			if k, v, ok := strings.Cut(name, "="); ok {
				name, val, hasVal = k, v, true
			}
			if name != "backlog_wait_time" && !optNoArg[name] {
				return Rule{}, fmt.Errorf("unknown option %q", w)
			}
		} else {
			name = w[1:2]
			if len(w) > 2 {
				val, hasVal = w[2:], true
			}
		}
		if optNoArg[name] {
			if hasVal {
				return Rule{}, fmt.Errorf("option -%s takes no value", name)
			}
			if err := setOp(name); err != nil {
				return Rule{}, err
			}
			continue
		}
		isOp, known := optArg[name]
		if !known {
			return Rule{}, fmt.Errorf("unknown option %q", w)
		}
		if !hasVal {
			if i+1 >= len(words) {
				return Rule{}, fmt.Errorf("option -%s needs a value", name)
			}
			i++
			val = words[i]
		}
		if isOp {
			if err := setOp(name); err != nil {
				return Rule{}, err
			}
		}
		if err := l.set(name, val); err != nil {
			return Rule{}, err
		}
	}
	return l.build(opts)
}

func (l *line) set(name, val string) error {
	switch name {
	case "a", "A", "d":
		return l.setListAction(name, val)
	case "w", "W":
		if val == "" {
			return fmt.Errorf("option -%s needs a path", name)
		}
		l.path = val
	case "p":
		if l.hasPerm {
			return errors.New("option -p given twice")
		}
		if val == "" {
			return errors.New("option -p needs permissions")
		}
		for _, c := range val {
			if !strings.ContainsRune("rwxa", c) {
				return fmt.Errorf("bad permission %q in -p %q", c, val)
			}
		}
		l.perms, l.hasPerm = val, true
	case "k":
		if val == "" {
			return errors.New("option -k needs a key")
		}
		l.keys = append(l.keys, val)
	case "S":
		for _, s := range strings.Split(val, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				return fmt.Errorf("empty syscall name in -S %q", val)
			}
			l.sysc = append(l.sysc, s)
		}
	case "F":
		f, err := parseField(val, false)
		if err != nil {
			return err
		}
		l.filters = append(l.filters, f)
	case "C":
		f, err := parseField(val, true)
		if err != nil {
			return err
		}
		l.filters = append(l.filters, f)
	default: // controls
		l.value = val
	}
	return nil
}

func (l *line) setListAction(opt, val string) error {
	if val == "" {
		return fmt.Errorf("option -%s needs list,action", opt)
	}
	for _, part := range strings.Split(val, ",") {
		switch part {
		case "exit", "task", "user", "exclude", "filesystem", "io_uring":
			if l.list != "" {
				return fmt.Errorf("two lists in -%s %q", opt, val)
			}
			l.list = part
		case "always", "never":
			if l.action != "" {
				return fmt.Errorf("two actions in -%s %q", opt, val)
			}
			l.action = part
		case "entry", "possible":
			return fmt.Errorf("%s is not supported in -%s %q", part, opt, val)
		default:
			return fmt.Errorf("unknown list or action %q in -%s %q", part, opt, val)
		}
	}
	if l.list == "" {
		return fmt.Errorf("missing list in -%s %q", opt, val)
	}
	if l.action == "" {
		return fmt.Errorf("missing action in -%s %q", opt, val)
	}
	return nil
}

var operators = map[string]bool{"=": true, "!=": true, "<": true, ">": true, "<=": true, ">=": true, "&": true, "&=": true}

// fieldNames holds every -F field name the kernel knows. unsupported marks
// the ones go-libaudit cannot build and this package does not either.
var fieldNames = map[string]bool{
	"a0": true, "a1": true, "a2": true, "a3": true, "arch": true, "auid": true,
	"devmajor": true, "devminor": true, "dir": true, "egid": true, "euid": true,
	"exe": true, "exit": true, "filetype": true, "fsgid": true, "fsuid": true,
	"gid": true, "inode": true, "key": true, "msgtype": true, "obj_gid": true,
	"obj_lev_high": true, "obj_lev_low": true, "obj_role": true, "obj_type": true,
	"obj_uid": true, "obj_user": true, "path": true, "perm": true, "pers": true,
	"pid": true, "ppid": true, "saddr_fam": true, "sgid": true, "suid": true,
	"subj_clr": true, "subj_role": true, "subj_sen": true, "subj_type": true,
	"subj_user": true, "success": true, "uid": true, "fstype": true,
	// Known to the kernel but not buildable here.
	"sessionid": false, "loginuid_set": false, "uringop": false,
}

func parseField(val string, compare bool) (auditrule.FilterSpec, error) {
	opt := "-F"
	if compare {
		opt = "-C"
	}
	i := 0
	for i < len(val) && (val[i] == '_' || val[i] >= 'a' && val[i] <= 'z' || val[i] >= '0' && val[i] <= '9') {
		i++
	}
	name := val[:i]
	j := i
	for j < len(val) && strings.IndexByte("=!<>&", val[j]) >= 0 {
		j++
	}
	op, rhs := val[i:j], val[j:]
	switch {
	case name == "":
		return auditrule.FilterSpec{}, fmt.Errorf("%s %q: missing field name", opt, val)
	case op == "":
		if i == len(val) {
			return auditrule.FilterSpec{}, fmt.Errorf("%s %q: missing operator and value", opt, val)
		}
		return auditrule.FilterSpec{}, fmt.Errorf("%s %q: bad operator", opt, val)
	case !operators[op]:
		return auditrule.FilterSpec{}, fmt.Errorf("%s %q: bad operator %q", opt, val, op)
	case rhs == "":
		return auditrule.FilterSpec{}, fmt.Errorf("%s %q: missing value", opt, val)
	}
	if ok, known := fieldNames[name]; !known {
		return auditrule.FilterSpec{}, fmt.Errorf("%s %q: unknown field %q", opt, val, name)
	} else if !ok {
		return auditrule.FilterSpec{}, fmt.Errorf("%s %q: field %q is not supported", opt, val, name)
	}
	typ := auditrule.ValueFilterType
	if compare {
		typ = auditrule.InterFieldFilterType
		if op != "=" && op != "!=" {
			return auditrule.FilterSpec{}, fmt.Errorf("-C %q: only = and != compare fields", val)
		}
	}
	return auditrule.FilterSpec{Type: typ, LHS: name, Comparator: op, RHS: rhs}, nil
}

func (l *line) build(opts ParseOptions) (Rule, error) {
	switch l.op {
	case "":
		if len(l.keys) > 0 || len(l.filters) > 0 || len(l.sysc) > 0 || l.hasPerm {
			return Rule{}, errors.New("no -a, -A, -d, -w or -W operation")
		}
		return Rule{}, errors.New("no operation")
	case "a", "A", "d":
		if l.path != "" || l.hasPerm {
			return Rule{}, errors.New("-p cannot be used with -" + l.op)
		}
		return l.buildSyscall(opts)
	case "w", "W":
		if len(l.filters) > 0 || len(l.sysc) > 0 {
			return Rule{}, fmt.Errorf("-F, -C and -S cannot be used with -%s", l.op)
		}
		return l.buildWatch(opts)
	}
	// Controls.
	if len(l.filters) > 0 || len(l.sysc) > 0 || l.hasPerm || (len(l.keys) > 0 && l.op != "D") {
		return Rule{}, fmt.Errorf("option -%s cannot be combined with rule options", l.op)
	}
	if err := checkControl(l.op, l.value); err != nil {
		return Rule{}, err
	}
	c := &Control{Flag: l.op, Value: l.value}
	if l.op == "D" && len(l.keys) > 0 {
		c.Value = strings.Join(l.keys, ",")
	}
	return Rule{Kind: KindControl, Control: c}, nil
}

func checkControl(flag, v string) error {
	switch flag {
	case "f", "e":
		if v != "0" && v != "1" && v != "2" {
			return fmt.Errorf("option -%s takes 0, 1 or 2, not %q", flag, v)
		}
	case "b", "r", "backlog_wait_time":
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return fmt.Errorf("option -%s takes a number, not %q", flag, v)
		}
	}
	return nil
}

func joinKeys(keys []string) (string, error) {
	k := strings.Join(keys, "\x01")
	if len(k) > maxKeyBytes {
		return "", fmt.Errorf("keys longer than %d bytes", maxKeyBytes)
	}
	return k, nil
}

func (l *line) kind() Kind {
	if l.op == "d" || l.op == "W" {
		return KindDelete
	}
	if l.op == "w" {
		return KindWatch
	}
	return KindSyscall
}

func (l *line) buildSyscall(opts ParseOptions) (Rule, error) {
	if l.list == "filesystem" {
		if len(l.sysc) > 0 {
			return Rule{}, errors.New("-S cannot be used with the filesystem list")
		}
		wire, err := buildFilesystem(l)
		if err != nil {
			return Rule{}, err
		}
		k := KindFilesystem
		if l.op == "d" {
			k = KindDelete
		}
		return Rule{Kind: k, Wire: wire}, nil
	}
	if l.list == "io_uring" {
		for i, f := range l.filters {
			if (f.LHS == "path" || f.LHS == "dir") && f.Comparator == "=" && f.Type == auditrule.ValueFilterType {
				skip := checkFilterPath(f.LHS, f.RHS, opts)
				if skip != "" && f.LHS == "dir" {
					// A directory that does not exist yet: filter on its
					// parent (dir= is recursive), so that its creation
					// and everything written into it through io_uring is
					// seen; the daemon's guard re-parses and narrows the
					// rule once the directory exists.
					parent := path.Dir(path.Clean(f.RHS))
					if parent != "/" && checkFilterPath("dir", parent, opts) == "" {
						l.filters[i].RHS, skip = parent, ""
					}
				}
				if skip != "" {
					return Rule{Kind: KindSkipped, Skip: skip}, nil
				}
			}
		}
		wire, err := buildURing(l)
		if err != nil {
			return Rule{}, err
		}
		r := Rule{Kind: l.kind(), Wire: wire}
		for _, f := range l.filters {
			if f.LHS == "dir" && f.Comparator == "=" {
				r.watch = path.Clean(f.RHS)
			}
		}
		return r, nil
	}
	if l.list == "exclude" || l.list == "user" {
		if len(l.sysc) > 0 {
			return Rule{}, fmt.Errorf("-S cannot be used with the %s list", l.list)
		}
	}
	// Resolve b64/b32 and syscall names against opts.Arch so the result
	// does not depend on the architecture this program was built for.
	arch := opts.Arch
	filters := make([]auditrule.FilterSpec, 0, len(l.filters))
	for _, f := range l.filters {
		if f.LHS == "fstype" {
			return Rule{}, errors.New("field fstype is only valid on the filesystem list")
		}
		if f.LHS == "arch" && f.Type == auditrule.ValueFilterType {
			if f.Comparator != "=" && f.Comparator != "!=" {
				return Rule{}, fmt.Errorf("-F %q: arch takes = or !=", "arch"+f.Comparator+f.RHS)
			}
			name, skip, err := resolveArch(f.RHS, opts.Arch)
			if err != nil {
				return Rule{}, err
			}
			if skip != "" {
				return Rule{Kind: KindSkipped, Skip: skip}, nil
			}
			f.RHS = name
			if f.Comparator == "=" {
				arch = name
			}
		}
		if (f.LHS == "path" || f.LHS == "dir") && f.Comparator == "=" && f.Type == auditrule.ValueFilterType {
			if skip := checkFilterPath(f.LHS, f.RHS, opts); skip != "" {
				return Rule{Kind: KindSkipped, Skip: skip}, nil
			}
		}
		filters = append(filters, f)
	}
	sysc := make([]string, 0, len(l.sysc))
	for _, s := range l.sysc {
		if s == "all" {
			sysc = append(sysc, s)
			continue
		}
		n, err := syscallNumber(arch, s)
		if err != nil {
			return Rule{}, err
		}
		sysc = append(sysc, strconv.Itoa(n))
	}
	if l.list == "exit" && len(sysc) == 0 {
		sysc = []string{"all"}
	}
	if len(l.keys) > 0 {
		if _, err := joinKeys(l.keys); err != nil {
			return Rule{}, err
		}
	}
	wire, err := auditrule.Build(&auditrule.SyscallRule{
		List: l.list, Action: l.action, Filters: filters, Syscalls: sysc, Keys: l.keys,
	})
	if err != nil {
		return Rule{}, fmt.Errorf("build rule: %w", err)
	}
	if l.op == "A" {
		setPrepend(wire)
	}
	return Rule{Kind: l.kind(), Wire: wire}, nil
}

// resolveArch turns b64/b32 into the concrete audit arch name for host. A
// width the host has no ABI for yields a skip reason rather than an error,
// so one rule file serves every architecture.
func resolveArch(v, host string) (name, skip string, err error) {
	pair := archB64[host]
	switch strings.ToLower(v) {
	case "b64":
		if pair[0] == "" {
			return "", "skipped: no 64-bit ABI on " + host, nil
		}
		return pair[0], "", nil
	case "b32":
		if pair[1] == "" {
			return "", "skipped: no 32-bit ABI on " + host, nil
		}
		return pair[1], "", nil
	}
	if _, ok := syscallTables[v]; ok || v == "ppc64" || v == "ppc64le" {
		return v, "", nil
	}
	return "", "", fmt.Errorf("-F arch=%s: unknown arch", v)
}

func (l *line) buildWatch(opts ParseOptions) (Rule, error) {
	if l.list != "" {
		return Rule{}, fmt.Errorf("-a cannot be used with -%s", l.op)
	}
	p := l.path
	if !strings.HasPrefix(p, "/") {
		return Rule{}, fmt.Errorf("watch path %q is not absolute", p)
	}
	if strings.ContainsRune(p, 0) {
		return Rule{}, fmt.Errorf("watch path %q contains a NUL byte", p)
	}
	if len(p) > pathMax {
		return Rule{}, fmt.Errorf("watch path longer than %d bytes", pathMax)
	}
	field, skip := resolveWatch(p, opts)
	if skip != "" {
		return Rule{Kind: KindSkipped, Skip: skip}, nil
	}
	perms := l.perms
	if !l.hasPerm {
		perms = "rwxa"
	}
	build := func(field string) ([]byte, error) {
		target := path.Clean(p)
		if field == "dir" && opts.Realpath != nil {
			// A directory reached through a symlink (a configuration
			// directory symlinked into place, ln -s /root/staged
			// /usr/local/lib/modules-load.d): the tree watch goes on the
			// directory it points to, where files written through the
			// link land; the name watch stays on the link's name.
			if real, err := opts.Realpath(target); err == nil && strings.HasPrefix(real, "/") {
				target = real
			}
		}
		wire, err := auditrule.Build(&auditrule.SyscallRule{
			List:   "exit",
			Action: "always",
			Filters: []auditrule.FilterSpec{
				{Type: auditrule.ValueFilterType, LHS: field, Comparator: "=", RHS: target},
				{Type: auditrule.ValueFilterType, LHS: "perm", Comparator: "=", RHS: perms},
			},
			Syscalls: []string{"all"},
			Keys:     l.keys,
		})
		if err != nil {
			return nil, fmt.Errorf("build watch: %w", err)
		}
		return wire, nil
	}
	wire, err := build(field)
	if err != nil {
		return Rule{}, err
	}
	r := Rule{Kind: l.kind(), Wire: wire, watch: path.Clean(p)}
	if field == "dir" && l.op == "w" {
		// A directory is also watched by its name (path=): the dir= tree
		// follows the directory's inode, so after "mv dir away && mkdir
		// dir" it watches the old one, while the kernel keeps a name
		// watch on the name in its parent: it records the new directory's
		// creation and the files created in it at once, before anything
		// reloads the rules.
		if r.named, err = build("path"); err != nil {
			return Rule{}, err
		}
	}
	return r, nil
}

const pathMax = 4096
