package toolargs

import "strings"

// Op is what a kmod tool run does to the kernel.
type Op uint8

const (
	// NotKmod: the program is not a kmod tool.
	NotKmod Op = iota
	// Load: insmod, or modprobe loading a module (or -a several).
	Load
	// Unload: rmmod, or modprobe -r/--remove.
	Unload
	// Query: the run loads and unloads nothing (modprobe -c, -D, -n, -R,
	// --show-modversions, --show-exports, -h, -V, an option error or no
	// module named; modinfo, depmod, lsmod, kmod list).
	Query
)

func (o Op) String() string {
	switch o {
	case Load:
		return "load"
	case Unload:
		return "unload"
	case Query:
		return "query"
	}
	return "not-kmod"
}

// Kmod is a parsed kmod tool command line.
type Kmod struct {
	Op Op
	// Tool is the program kmod acts as: insmod, modprobe, rmmod, modinfo,
	// depmod, lsmod or kmod.
	Tool string
	// Busybox is set when the applet runs inside busybox.
	Busybox bool
	// Opts are the options, in order, with canonical names.
	Opts []Opt
	// Modules are the modules (names, aliases or files) the run acts on:
	// insmod's file, modprobe's module (all operands with -a or -r),
	// rmmod's modules. Params are the module parameters that follow
	// (everything after the module for insmod and modprobe).
	Modules, Params []string
	// DashDash is set when "--" ended the options.
	DashDash bool
	// Why names what makes a run Query (the option, "no module named",
	// "option error", "modinfo"), or for Load and Unload what an option
	// after the module name changed (see MaybeLoad).
	Why string
	// MaybeLoad is set on a run that is not a load as glibc parses it by
	// default, but is one with POSIXLY_CORRECT in the environment (which
	// audit does not record): an option after the module name made it a
	// query, an error or a removal. Detections treat it as a load.
	MaybeLoad bool
	// Configs are the -C/--config files, Dirname the -d/--dirname root,
	// SetVersion the -S/--set-version kernel version.
	Configs             []string
	Dirname, SetVersion string
}

// Has reports whether option name (canonical) was given.
func (k *Kmod) Has(name string) bool {
	for i := range k.Opts {
		if k.Opts[i].Name == name {
			return true
		}
	}
	return false
}

func shortMap(pairs ...string) map[byte]string {
	m := make(map[byte]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i][0]] = pairs[i+1]
	}
	return m
}

// The option tables of kmod's tools (tools/*.c, cmdopts_s and cmdopts),
// canonical names being the long option each short one is.
var (
	modprobeGrammar = grammar{
		short: "arw:RibfDcnC:d:S:sqvVh",
		long: []longOpt{
			{"all", noArg, "all"}, {"remove", noArg, "remove"}, {"remove-dependencies", noArg, "remove-holders"},
			{"remove-holders", noArg, "remove-holders"}, {"wait", requiredArg, "wait"},
			{"resolve-alias", noArg, "show-alias"}, {"show-alias", noArg, "show-alias"}, {"first-time", noArg, "first-time"},
			{"ignore-install", noArg, "ignore-install"}, {"ignore-remove", noArg, "ignore-install"},
			{"use-blacklist", noArg, "use-blacklist"}, {"force", noArg, "force"},
			{"force-modversion", noArg, "force-modversion"}, {"force-vermagic", noArg, "force-vermagic"},
			{"show-depends", noArg, "show-depends"}, {"showconfig", noArg, "show-config"},
			{"show-config", noArg, "show-config"}, {"show-modversions", noArg, "show-modversions"},
			{"dump-modversions", noArg, "show-modversions"}, {"show-exports", noArg, "show-exports"},
			{"dry-run", noArg, "dry-run"}, {"show", noArg, "dry-run"}, {"config", requiredArg, "config"},
			{"dirname", requiredArg, "dirname"}, {"set-version", requiredArg, "set-version"},
			{"syslog", noArg, "syslog"}, {"quiet", noArg, "quiet"}, {"verbose", noArg, "verbose"},
			{"version", noArg, "version"}, {"help", noArg, "help"},
		},
		shortCanon: shortMap("a", "all", "r", "remove", "w", "wait", "R", "show-alias", "i", "ignore-install",
			"b", "use-blacklist", "f", "force", "D", "show-depends", "c", "show-config", "n", "dry-run",
			"C", "config", "d", "dirname", "S", "set-version", "s", "syslog", "q", "quiet", "v", "verbose",
			"V", "version", "h", "help"),
	}
	insmodGrammar = grammar{
		short: "fsvVh",
		long: []longOpt{{"force", noArg, "force"}, {"force-modversion", noArg, "force-modversion"},
			{"force-vermagic", noArg, "force-vermagic"}, {"syslog", noArg, "syslog"}, {"verbose", noArg, "verbose"},
			{"version", noArg, "version"}, {"help", noArg, "help"}},
		shortCanon: shortMap("f", "force", "s", "syslog", "v", "verbose", "V", "version", "h", "help"),
	}
	rmmodGrammar = grammar{
		short: "fsvVh",
		long: []longOpt{{"force", noArg, "force"}, {"syslog", noArg, "syslog"}, {"verbose", noArg, "verbose"},
			{"version", noArg, "version"}, {"help", noArg, "help"}},
		shortCanon: shortMap("f", "force", "s", "syslog", "v", "verbose", "V", "version", "h", "help"),
	}
	// kmod's own command parser stops at the first operand ("+hV").
	kmodGrammar = grammar{
		short:      "hV",
		long:       []longOpt{{"help", noArg, "help"}, {"version", noArg, "version"}},
		shortCanon: shortMap("h", "help", "V", "version"),
		noPermute:  true,
	}
)

// modprobeNoLoad are modprobe's options that make a run load nothing, in
// the order modprobe acts on them.
var modprobeNoLoad = []string{"help", "version", "show-config", "show-modversions", "show-exports", "dry-run",
	"show-depends", "show-alias"}

// IsTool reports whether name is one of the kmod tools.
func IsTool(name string) bool {
	switch name {
	case "insmod", "modprobe", "rmmod", "modinfo", "depmod", "lsmod":
		return true
	}
	return false
}

// ParseKmod recognises and parses a kmod tool run from the process's
// executable, comm and argv (argv[0] included). kmod picks the tool by
// argv[0]'s basename (the symlinks insmod, modprobe ... to /usr/bin/kmod),
// so that decides when the executable is kmod or busybox; "kmod TOOL" and
// "busybox TOOL" are accepted too (busybox runs the applet; current kmod
// refuses "kmod insmod", older builds and look-alikes need not, so it is
// parsed as the tool rather than trusted to fail). A standalone binary named
// like a tool (module-init-tools) is that tool. Without argv, comm decides
// and nothing is parsed. Op is NotKmod for other programs.
func ParseKmod(exe, comm string, argv []string) Kmod {
	exeName := base(exe)
	busybox := exeName == "busybox" || strings.HasPrefix(exeName, "busybox.")
	invoked := comm
	var args []string
	if len(argv) > 0 {
		invoked, args = base(argv[0]), argv[1:]
	}
	var tool string
	switch {
	case IsTool(invoked):
		tool = invoked
	case invoked == "kmod" || invoked == "busybox" || ((exeName == "kmod" || busybox) && len(argv) > 0):
		// kmod [-h|-V] COMMAND ...; busybox APPLET ...
		g := kmodGrammar
		p := g.parse(args)
		if len(p.operands) == 0 || len(p.opts) > 0 {
			if exeName == "kmod" || invoked == "kmod" {
				return Kmod{Op: Query, Tool: "kmod", Opts: p.opts, Why: "kmod without a command"}
			}
			return Kmod{}
		}
		sub := p.operands[0]
		if !IsTool(sub) {
			if exeName == "kmod" || invoked == "kmod" {
				return Kmod{Op: Query, Tool: "kmod", Why: "kmod " + sub}
			}
			return Kmod{}
		}
		tool, args = sub, p.operands[1:]
	case IsTool(exeName):
		tool = exeName
	default:
		return Kmod{}
	}
	k := Kmod{Tool: tool, Busybox: busybox}
	if len(argv) == 0 {
		// No argv: the tool is known, its work is not; a load or removal
		// tool counts as one (fail closed).
		switch tool {
		case "insmod", "modprobe":
			k.Op = Load
		case "rmmod":
			k.Op = Unload
		default:
			k.Op, k.Why = Query, tool
		}
		return k
	}
	switch tool {
	case "insmod":
		k.parseWith(&insmodGrammar, args)
		k.decideInsmod()
	case "modprobe":
		k.parseWith(&modprobeGrammar, args)
		k.decideModprobe()
	case "rmmod":
		k.parseWith(&rmmodGrammar, args)
		k.decideRmmod()
	default: // modinfo, depmod, lsmod read, or write modules.dep: no load
		k.Op, k.Why = Query, tool
		k.Modules = nil
	}
	return k
}

func (k *Kmod) parseWith(g *grammar, args []string) {
	p := g.parse(args)
	k.Opts, k.DashDash = p.opts, p.dashDash
	k.Modules = p.operands // split by the decide functions
	for i := range p.opts {
		o := &p.opts[i]
		switch o.Name {
		case "config":
			k.Configs = append(k.Configs, o.Value)
		case "dirname":
			k.Dirname = o.Value
		case "set-version":
			k.SetVersion = o.Value
		}
	}
}

// firstStop returns the first option among names, or the first error, in
// argument order, saying whether it came after the module name.
func (k *Kmod) firstStop(names []string) (string, bool, bool) {
	for i := range k.Opts {
		o := &k.Opts[i]
		if o.Name == "?" {
			return "option error: " + o.Error, o.AfterOperand, true
		}
		for _, n := range names {
			if o.Name == n {
				return n, o.AfterOperand, true
			}
		}
	}
	return "", false, false
}

// splitLoad keeps the first operand as the module and the rest as its
// parameters.
func (k *Kmod) splitLoad() {
	if len(k.Modules) > 1 {
		k.Params = k.Modules[1:]
		k.Modules = k.Modules[:1]
	}
}

func (k *Kmod) decideInsmod() {
	stop, after, ok := k.firstStop([]string{"help", "version"})
	switch {
	case len(k.Modules) == 0:
		k.Op, k.Why = Query, "no module named"
	case ok:
		k.Op, k.Why, k.MaybeLoad = Query, stop, after
	default:
		k.Op = Load
	}
	k.splitLoad()
}

func (k *Kmod) decideRmmod() {
	stop, after, ok := k.firstStop([]string{"help", "version"})
	switch {
	case len(k.Modules) == 0:
		k.Op, k.Why = Query, "no module named"
	case ok:
		k.Op, k.Why = Query, stop
		_ = after // a removal that might have been one: never a load
	default:
		k.Op = Unload
	}
}

func (k *Kmod) decideModprobe() {
	certain, _, isCertain := k.firstStopBefore(modprobeNoLoad)
	anyStop, _, isAny := k.firstStop(modprobeNoLoad)
	switch {
	case isCertain:
		k.Op, k.Why = Query, certain
		return
	case isAny:
		// Only options after the module name make it a query: with
		// POSIXLY_CORRECT they are parameters and this is a load.
		k.Op, k.Why, k.MaybeLoad = Query, anyStop+" after the module name", true
	case len(k.Modules) == 0:
		k.Op, k.Why = Query, "no module named"
		return
	case k.Has("remove") || k.Has("remove-holders"):
		k.Op = Unload
		for i := range k.Opts {
			if (k.Opts[i].Name == "remove" || k.Opts[i].Name == "remove-holders") && !k.Opts[i].AfterOperand {
				return
			}
		}
		// With POSIXLY_CORRECT this would load the module with a
		// parameter "-r"; the removal is reported as one (kmod-unload-tool)
		// and a load would show as its init_module call, so it is not
		// also raised as a possible load: "modprobe x -r" is common.
		k.Why = "remove after the module name"
	default:
		k.Op = Load
	}
	if !k.Has("all") && len(k.Modules) > 1 {
		k.Params = k.Modules[1:]
		k.Modules = k.Modules[:1]
	}
}

// firstStopBefore is firstStop over the options before the module name.
func (k *Kmod) firstStopBefore(names []string) (string, bool, bool) {
	for i := range k.Opts {
		o := &k.Opts[i]
		if o.AfterOperand {
			continue
		}
		if o.Name == "?" {
			return "option error: " + o.Error, false, true
		}
		for _, n := range names {
			if o.Name == n {
				return n, false, true
			}
		}
	}
	return "", false, false
}

// Loads reports whether detections should treat the run as a load: a
// load, or a possible one (MaybeLoad).
func (k *Kmod) Loads() bool { return k.Op == Load || k.MaybeLoad }

// SystemConfigDirs are where modprobe reads its configuration by default.
var SystemConfigDirs = []string{"/etc/modprobe.d/", "/run/modprobe.d/", "/usr/local/lib/modprobe.d/",
	"/usr/lib/modprobe.d/", "/lib/modprobe.d/"}

// ForeignConfigs returns the -C/--config files outside the system
// configuration directories (and /etc/modprobe.conf): a load that reads
// them follows install commands and options nobody reviews.
func (k *Kmod) ForeignConfigs() []string {
	var out []string
	for _, c := range k.Configs {
		if c == "/etc/modprobe.conf" {
			continue
		}
		sys := false
		for _, d := range SystemConfigDirs {
			if c == strings.TrimSuffix(d, "/") || (strings.HasPrefix(c, d) && !strings.Contains(c[len(d):], "/") &&
				!strings.Contains(c, "/../") && !strings.Contains(c, "/./")) {
				sys = true
				break
			}
		}
		if !sys {
			out = append(out, c)
		}
	}
	return out
}

func base(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
