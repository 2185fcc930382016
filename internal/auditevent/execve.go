package auditevent

import "strings"

// MaxArgs bounds the arguments kept for one EXECVE event. The kernel's own
// bound is ARG_MAX; a larger index in a record is hostile and ignored.
const MaxArgs = 1 << 16

// preallocArgs bounds the argument slots reserved up front from argc;
// larger argv grow as pieces arrive.
const preallocArgs = 256

// maxArgPieces bounds the aN[i] pieces of one argument. The kernel splits
// an argument (at most MAX_ARG_STRLEN, 128 KiB) into pieces of at most
// 7500 bytes of record text, so a real argument has fewer than 40; a
// larger index is hostile and ignored (it would otherwise allocate that
// many pieces for every such field).
const maxArgPieces = 64

// execveBuilder collects EXECVE arguments from one or more records, in any
// order. It understands both forms the kernel writes:
//
//	a1="short" a2=2F746D70            whole arguments, quoted or hex
//	a1_len=20000 a1[0]=... a1[1]=...  one long argument in pieces
//
// and continuation records that carry no argc. go-libaudit fails the whole
// record on the second form; here a missing piece only marks the argv
// partial.
type execveBuilder struct {
	argc   int
	hasArc bool
	args   []execArg
}

type execArg struct {
	whole   string
	has     bool
	pieces  []string
	got     []bool
	lenWant int
}

func (x *execveBuilder) arg(i int) *execArg {
	for len(x.args) <= i {
		x.args = append(x.args, execArg{})
	}
	return &x.args[i]
}

func (x *execveBuilder) add(e *Event, body []byte) {
	for n := 0; n < MaxFields; n++ {
		f, rest, ok := NextField(body)
		if !ok {
			return
		}
		body = rest
		k := f.Key
		if string(k) == "argc" {
			if v := atoiDefault(f.Value, -1); v >= 0 && v <= MaxArgs {
				x.argc, x.hasArc = v, true
				if cap(x.args) < v && v <= preallocArgs {
					x.args = append(make([]execArg, 0, v), x.args...)
				}
			}
			continue
		}
		if len(k) < 2 || k[0] != 'a' {
			continue
		}
		digits := 1
		for digits < len(k) && k[digits] >= '0' && k[digits] <= '9' {
			digits++
		}
		idx := atoiDefault(k[1:digits], -1)
		if idx < 0 || idx >= MaxArgs {
			continue
		}
		suffix := k[digits:]
		switch {
		case len(suffix) == 0:
			a := x.arg(idx)
			a.whole, _ = e.untrusted("execve argument", f)
			a.has = true
		case string(suffix) == "_len":
			a := x.arg(idx)
			a.lenWant = atoiDefault(f.Value, 0)
		case suffix[0] == '[' && suffix[len(suffix)-1] == ']':
			p := atoiDefault(suffix[1:len(suffix)-1], -1)
			if p < 0 || p >= maxArgPieces {
				e.warn("execve argument piece index out of range, ignored")
				continue
			}
			a := x.arg(idx)
			for len(a.pieces) <= p {
				a.pieces = append(a.pieces, "")
				a.got = append(a.got, false)
			}
			a.pieces[p], _ = e.untrusted("execve argument piece", f)
			a.got[p] = true
		}
	}
}

func (x *execveBuilder) finish() (argc int, argv []string, partial bool) {
	n := len(x.args)
	if x.hasArc {
		switch {
		case x.argc < n:
			partial = true // more arguments than argc: keep them all
		case x.argc > n:
			// Arguments announced but never sent: empty up to argc, but
			// past preallocArgs (a forged argc of 65536) argv holds only
			// what the records carried, not thousands of empty strings
			// every consumer would walk (~17 ms an event before).
			partial = true
			if x.argc <= preallocArgs {
				n = x.argc
			}
		}
	}
	argv = make([]string, n)
	for i := 0; i < n; i++ {
		if i >= len(x.args) {
			partial = true
			continue
		}
		a := &x.args[i]
		switch {
		case a.has:
			argv[i] = a.whole
		case len(a.pieces) > 0:
			for _, g := range a.got {
				if !g {
					partial = true
				}
			}
			argv[i] = strings.Join(a.pieces, "")
			if a.lenWant > 0 && len(argv[i]) != a.lenWant {
				partial = true
			}
		default:
			partial = true
		}
	}
	if !x.hasArc {
		partial = true
		argc = n
	} else {
		argc = x.argc
	}
	return argc, argv, partial
}
