package toolargs

import "strings"

// bpftool's options (tools/bpf/bpftool/main.c): getopt_long, permuting,
// "VhpjfLmndSi:k:B:l" plus their long names.
var bpftoolGrammar = grammar{
	short: "VhpjfLmndSi:k:B:l",
	long: []longOpt{
		{"json", noArg, "json"}, {"help", noArg, "help"}, {"pretty", noArg, "pretty"}, {"version", noArg, "version"},
		{"bpffs", noArg, "bpffs"}, {"mapcompat", noArg, "mapcompat"}, {"nomount", noArg, "nomount"},
		{"debug", noArg, "debug"}, {"use-loader", noArg, "use-loader"}, {"sign", noArg, "sign"},
		{"base-btf", requiredArg, "base-btf"}, {"legacy", noArg, "legacy"},
	},
	shortCanon: shortMap("V", "version", "h", "help", "p", "pretty", "j", "json", "f", "bpffs", "L", "use-loader",
		"m", "mapcompat", "n", "nomount", "d", "debug", "S", "sign", "i", "cert", "k", "key", "B", "base-btf",
		"l", "legacy"),
}

// bpftool picks a command as cmd_select does: the first entry of the
// table, in order, that the word is a prefix of ("p" is prog, "lo" load).
var (
	bpftoolObjects = []string{"help", "batch", "prog", "map", "link", "cgroup", "perf", "net", "feature", "btf",
		"gen", "struct_ops", "iter", "token", "version"}
	bpftoolVerbs = map[string][]string{
		"prog": {"show", "list", "help", "dump", "pin", "load", "loadall", "attach", "detach", "tracelog", "run",
			"profile"},
		"map": {"show", "list", "help", "dump", "update", "lookup", "getnext", "delete", "pin", "event_pipe",
			"create", "peek", "push", "enqueue", "pop", "dequeue", "freeze"},
		"link":       {"show", "list", "help", "pin", "detach"},
		"struct_ops": {"show", "list", "dump", "register", "unregister", "help"},
		"cgroup":     {"show", "list", "tree", "attach", "detach", "help"},
		"net":        {"show", "list", "attach", "detach", "help"},
	}
)

// selectCmd returns the first entry of table that word is a non-empty
// prefix of, "" when none.
func selectCmd(table []string, word string) string {
	if word == "" {
		return ""
	}
	for _, c := range table {
		if strings.HasPrefix(c, word) {
			return c
		}
	}
	return ""
}

// Bpftool is a parsed bpftool command line.
type Bpftool struct {
	// Object and Verb are the full command names bpftool selects
	// ("prog", "load" for "pro lo"); "" when there is none or it is not
	// one bpftool knows.
	Object, Verb string
	Opts         []Opt
	// Query is set when an option ends the run before the command
	// (-h/--help; -V/--version is a command of its own).
	Query bool
}

// ParseBpftool parses bpftool's argv (argv[0] included).
func ParseBpftool(argv []string) Bpftool {
	if len(argv) < 2 {
		return Bpftool{}
	}
	p := bpftoolGrammar.parse(argv[1:])
	b := Bpftool{Opts: p.opts}
	for i := range p.opts {
		if p.opts[i].Name == "help" || p.opts[i].Name == "version" {
			b.Query = true
		}
	}
	if len(p.operands) == 0 {
		return b
	}
	b.Object = selectCmd(bpftoolObjects, p.operands[0])
	if verbs, ok := bpftoolVerbs[b.Object]; ok && len(p.operands) > 1 {
		b.Verb = selectCmd(verbs, p.operands[1])
	}
	return b
}

// Loads reports whether the command loads, attaches, pins or runs a BPF
// program, or creates or pins a map or link (E7, S3), registers struct_ops
// programs, or runs a batch file (whose commands audit never sees).
func (b *Bpftool) Loads() bool {
	if b.Query {
		return false
	}
	switch b.Object {
	case "prog":
		switch b.Verb {
		case "load", "loadall", "attach", "detach", "run", "pin":
			return true
		}
	case "map":
		return b.Verb == "create" || b.Verb == "pin"
	case "link":
		return b.Verb == "pin"
	case "struct_ops":
		return b.Verb == "register"
	case "batch":
		return true
	}
	return false
}
