package rules

import (
	"strings"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// kmodOp is what a kmod tool invocation does to the kernel.
type kmodOp uint8

const (
	kmodNone   kmodOp = iota
	kmodLoad          // insmod, modprobe
	kmodUnload        // rmmod, modprobe -r
)

// kmodCall is a recognised kmod tool invocation.
type kmodCall struct {
	Op   kmodOp
	Tool string   // insmod, modprobe or rmmod
	Args []string // the tool's arguments, after the tool name
	// Busybox is set when the applet ran inside busybox.
	Busybox bool
}

// kmodInvocation recognises insmod, modprobe and rmmod however they are
// run: through their symlinks to /usr/bin/kmod or /bin/kmod (comm and
// argv0 are the tool, exe is kmod), as "kmod insmod ..." subcommands, as
// busybox applets ("busybox insmod" or a symlink to busybox), or as a
// standalone binary of that name (old module-init-tools). It needs the
// process's argv; without it, comm decides.
func kmodInvocation(p *auditevent.Process) kmodCall {
	exe := BaseName(p.Exe)
	var tool string
	var args []string
	invoked := p.Comm
	if len(p.Args) > 0 {
		invoked = BaseName(p.Args[0])
		args = p.Args[1:]
	}
	busybox := exe == "busybox" || strings.HasPrefix(exe, "busybox.")
	switch {
	case isKmodTool(invoked):
		tool = invoked
	case (exe == "kmod" || busybox || invoked == "kmod" || invoked == "busybox") && len(args) > 0 && isKmodTool(args[0]):
		tool, args = args[0], args[1:]
	case len(p.Args) == 0 && isKmodTool(p.Comm):
		tool = p.Comm
	default:
		return kmodCall{}
	}
	c := kmodCall{Tool: tool, Args: args, Busybox: busybox}
	switch tool {
	case "insmod":
		c.Op = kmodLoad
	case "rmmod":
		c.Op = kmodUnload
	case "modprobe":
		c.Op = kmodLoad
		if modprobeRemoves(args) {
			c.Op = kmodUnload
		}
	}
	return c
}

func isKmodTool(s string) bool { return s == "insmod" || s == "modprobe" || s == "rmmod" }

// modprobeRemoves reports whether modprobe's arguments ask for removal:
// -r or --remove anywhere (first, last or between modules), or r among
// combined short options (-rv, -qr). Splunk P4 needs "-r " with a trailing
// space and misses --remove and a final -r; this does not.
func modprobeRemoves(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--remove" || a == "-r" {
			return true
		}
		if len(a) > 1 && a[0] == '-' && a[1] != '-' {
			for i := 1; i < len(a); i++ {
				c := a[i]
				if c == 'r' {
					return true
				}
				// Options that take a value end the cluster: -C dir, -d dir, -o name, -S version.
				if c == 'C' || c == 'd' || c == 'o' || c == 'S' {
					break
				}
			}
		}
	}
	return false
}

// kmodModules returns the module names or files a kmod call names: the
// non-option arguments (insmod's first only: the rest are parameters).
func kmodModules(c *kmodCall) []string {
	var out []string
	skip, operands := false, false
	for _, a := range c.Args {
		switch {
		case skip:
			skip = false
		case a == "--" && !operands:
			operands = true
		case strings.HasPrefix(a, "-") && !operands:
			switch a {
			case "-C", "--config", "-d", "--dirname", "-o", "--name", "-S", "--set-version":
				skip = true
			}
		default:
			out = append(out, a)
			if c.Tool == "insmod" || (c.Tool == "modprobe" && c.Op == kmodLoad && !hasOpt(c.Args, "-a", "--all")) {
				return out
			}
		}
	}
	return out
}

func hasOpt(args []string, opts ...string) bool {
	for _, a := range args {
		for _, o := range opts {
			if a == o {
				return true
			}
		}
	}
	return false
}

// kernelAutoload reports whether p is modprobe run by the kernel as a
// usermode helper (request_module): argv "<modprobe_path> -q -- <name>",
// no login uid, and a parent that is a kernel thread: kthreadd (ppid 2,
// what call_usermodehelper's CLONE_PARENT gives on current kernels) or a
// process the correlation state knows as a kernel worker (no executable,
// comm kworker/khelper, as old kernels fork the helper). A parent the
// state does not know is not assumed to be the kernel: anybody without a
// login session can type the same command line. It returns the module.
func kernelAutoload(p *auditevent.Process, parent *auditevent.Process) (string, bool) {
	if p.AUID != auditevent.Unset || len(p.Args) != 4 || p.Args[1] != "-q" || p.Args[2] != "--" {
		return "", false
	}
	if BaseName(p.Args[0]) != "modprobe" && p.Comm != "modprobe" {
		return "", false
	}
	ppid := p.PPID
	if parent != nil && parent.PID > 0 {
		ppid = parent.PID
	}
	if ppid != 2 && (parent == nil || !kernelThread(parent)) {
		return "", false
	}
	return p.Args[3], true
}

// kernelThread reports whether q is known as a kernel thread: no
// executable or argv, and a kernel worker's name.
func kernelThread(q *auditevent.Process) bool {
	if q.Exe != "" || len(q.Args) > 0 {
		return false
	}
	return strings.HasPrefix(q.Comm, "kworker") || strings.HasPrefix(q.Comm, "khelper") || q.Comm == "kthreadd"
}
