package toolargs

import "strings"

// hasArg says whether an option takes a value.
type hasArg uint8

const (
	noArg hasArg = iota
	requiredArg
)

// longOpt is one entry of a getopt_long table: the long name, whether it
// takes a value, and the canonical name it stands for (the short option's
// long name, so -r and --remove both read "remove").
type longOpt struct {
	name  string
	arg   hasArg
	canon string
}

// grammar is a tool's option table, as the tool gives it to getopt_long.
type grammar struct {
	// short lists the short options; a ':' after a letter means it takes
	// a value (getopt's syntax).
	short string
	long  []longOpt
	// shortCanon maps a short option to its canonical name.
	shortCanon map[byte]string
	// noPermute is set for a '+' optstring: parsing stops at the first
	// operand (kmod's own command parser).
	noPermute bool
}

// Opt is one option as getopt_long would return it.
type Opt struct {
	Name  string // canonical name ("remove", "config"); "?" for an error
	Value string // the option's value, when it takes one
	// Raw is the argument it was read from ("-qr", "--config=/x").
	Raw string
	// AfterOperand is set when the option came after the first operand:
	// glibc's getopt moves it in front (the default), but with
	// POSIXLY_CORRECT in the environment, which audit does not record,
	// it and everything after it are operands.
	AfterOperand bool
	// Error says why Name is "?": unknown, ambiguous, a missing value or
	// a value given to an option that takes none.
	Error string
}

// parsed is the result of running a grammar over arguments.
type parsed struct {
	opts     []Opt
	operands []string
	// dashDash is set when "--" ended the options; operandsBefore is how
	// many operands came before it.
	dashDash bool
}

func (g *grammar) takesArg(c byte) (known, arg bool) {
	i := strings.IndexByte(g.short, c)
	if i < 0 || c == ':' || c == '+' {
		return false, false
	}
	return true, i+1 < len(g.short) && g.short[i+1] == ':'
}

// lookupLong resolves a long option name like glibc: an exact match, else
// the unique prefix match (several prefix matches that all mean the same
// option are not ambiguous).
func (g *grammar) lookupLong(name string) (*longOpt, string) {
	var hit *longOpt
	for i := range g.long {
		if g.long[i].name == name {
			return &g.long[i], ""
		}
	}
	for i := range g.long {
		l := &g.long[i]
		if !strings.HasPrefix(l.name, name) {
			continue
		}
		if hit == nil {
			hit = l
		} else if hit.canon != l.canon || hit.arg != l.arg {
			return nil, "ambiguous"
		}
	}
	if hit == nil {
		return nil, "unknown"
	}
	return hit, ""
}

// parse runs g over args (argv without argv[0]), the way glibc's
// getopt_long does by default: options anywhere before "--" (permuted in
// front of the operands), short options clustered ("-qv"), a short
// option's value attached ("-Cfile") or in the next argument, a long
// option's value after '=' or in the next argument, unambiguous long
// prefixes, a lone "-" an operand. It never fails: errors are options
// named "?".
func (g *grammar) parse(args []string) parsed {
	var p parsed
	// Room for every argument as an operand: one allocation, not one
	// per growth.
	p.operands = make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		after := len(p.operands) > 0
		switch {
		case a == "--":
			p.dashDash = true
			p.operands = append(p.operands, args[i+1:]...)
			return p
		case len(a) < 2 || a[0] != '-' || (after && g.noPermute):
			if g.noPermute && !after {
				// '+': the first operand ends the options.
				p.operands = append(p.operands, args[i:]...)
				return p
			}
			p.operands = append(p.operands, a)
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			l, why := g.lookupLong(name)
			o := Opt{Raw: a, AfterOperand: after}
			switch {
			case l == nil:
				o.Name, o.Error = "?", why+" option --"+name
			case l.arg == noArg && hasVal:
				o.Name, o.Error = "?", "option --"+l.name+" takes no value"
			case l.arg == requiredArg && !hasVal:
				if i+1 >= len(args) {
					o.Name, o.Error = "?", "option --"+l.name+" needs a value"
				} else {
					i++
					o.Name, o.Value = l.canon, args[i]
				}
			default:
				o.Name, o.Value = l.canon, val
			}
			p.opts = append(p.opts, o)
		default:
			for j := 1; j < len(a); j++ {
				c := a[j]
				o := Opt{Raw: a, AfterOperand: after}
				known, arg := g.takesArg(c)
				switch {
				case !known:
					o.Name, o.Error = "?", "unknown option -"+string(c)
				case arg && j+1 < len(a):
					o.Name, o.Value = g.shortCanon[c], a[j+1:]
					j = len(a)
				case arg && i+1 < len(args):
					i++
					o.Name, o.Value = g.shortCanon[c], args[i]
				case arg:
					o.Name, o.Error = "?", "option -"+string(c)+" needs a value"
				default:
					o.Name = g.shortCanon[c]
				}
				p.opts = append(p.opts, o)
			}
		}
	}
	return p
}
