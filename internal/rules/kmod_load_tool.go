package rules

import (
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// KmodLoadToolID is the stable id of the kmod load tool detection.
const KmodLoadToolID = "kmod-load-tool"

// E1Exclusions is Elastic's exclusion block for E1 ("Kernel Module Load
// via Built-in Utility"), as shipped, clause by clause.
func E1Exclusions() []Exclusion {
	return []Exclusion{
		{Reason: "security-agent", Source: "E1", ParentExe: []string{"/opt/ds_agent/*", "/opt/TrendMicro/vls_agent/*", "/opt/intel/oneapi/*"}},
		{Reason: "security-agent", Source: "E1", Cwd: []string{"/opt/vinchin/agent", "/var/opt/ds_agent/am", "/opt/ds_agent", "/var/opt/TrendMicro/vls_agent/am"}},
		{Reason: "vendor-loader", Source: "E1", ParentExe: []string{
			"/usr/lib/uptrack/ksplice-apply", "/opt/commvault/commvault/Base/linux_drv", "/opt/cisco/amp/bin/cisco-amp-helper",
			"/usr/bin/kcarectl", "/usr/share/ksplice/ksplice-apply", "/opt/commvault/Base/linux_drv", "/usr/sbin/veeamsnap-loader",
			"/bin/falcoctl", "/usr/sbin/veeamworker"}},
		{Reason: "vendor-loader", Source: "E1", ParentExe: []string{
			"/sbin/iptables-multi*", "/var/ossec/bin/wazuh-modulesd", "/usr/sbin/mkinitramfs", "/usr/share/initramfs-tools/hooks/lvm2",
			"/usr/lpp/mmfs/bin/*", "/opt/forticlient/*", "/opt/traps/bin/*", "/snap/lxd/*/sbin/lxd", "/usr/sbin/xtables*"}},
		{Reason: "package-update", Source: "E1", ParentName: []string{"python*", "platform-python*"}, ParentArgs: []string{"--smart-update", "--auto-update"}},
		{Reason: "query-only", Source: "E1", Args: []string{"--showconfig", "--dump-modversions"}},
		{Reason: "kernel-autoload", Source: "E1", Exe: []string{"*/kmod"}, Invoked: []string{"modprobe"}, ArgsAll: []string{"-q", "--"},
			Args: []string{"net-pf-10", "binfmt-464c", "netdev-*", "block-major-*"}},
		{Reason: "cis-check", Source: "E1", Exe: []string{"*/kmod"}, Invoked: []string{"modprobe"}, ArgsAll: []string{"-n", "-v"},
			Args: []string{"usb-storage", "dccp", "squashfs", "udf", "sctp", "cramfs", "hfsplus", "rds", "hfs", "jffs2", "freevxfs", "vfat", "overlay"}},
		{Reason: "initramfs-hook", Source: "E1", ParentArgs: []string{"/usr/share/initramfs-tools/hooks/*"}},
	}
}

// kmodLoadTool fires when insmod or modprobe (not -r) starts, however it
// is run: the kmod symlinks, "kmod insmod", busybox applets. It is the
// audit form of Sigma S1, Splunk P1/P2/P6/P7, Elastic E1 (with E1's
// exclusions) and the deprecated D2, and the "kmod processes" part of
// hunt H2.
type kmodLoadTool struct {
	def        Definition
	exclusions []Exclusion
}

func newKmodLoadTool(extra []Exclusion) *kmodLoadTool {
	return &kmodLoadTool{
		def: Definition{
			ID:   KmodLoadToolID,
			Name: "Kernel Module Load via Built-in Utility",
			Description: "insmod or modprobe was executed to load a module (kmod symlink, kmod subcommand, busybox " +
				"applet or a binary of that name). A modprobe the kernel ran itself (request_module) is marked " +
				"kernel-requested; E1's vendor and argument exclusions apply.",
			Severity: Medium, RiskScore: 47, Threat: T1547006,
			Covers: []string{"S1", "P1", "P2", "P6", "P7", "E1", "D2", "H2"},
			Needs:  []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_EXECVE, auparse.AUDIT_CWD},
		},
		exclusions: append(E1Exclusions(), extra...),
	}
}

func (r *kmodLoadTool) Definition() *Definition { return &r.def }

func (r *kmodLoadTool) Evaluate(ev *auditevent.Event, st State) []Alert {
	proc, parent, c, ok := kmodRun(ev, st, kmodLoad)
	if !ok {
		return nil
	}
	a := newAlert(&r.def, ev, proc, parent)
	a.Category, a.Type, a.Action = []string{"process", "driver"}, []string{"start"}, "load-module-tool"
	what := strings.Join(kmodModules(&c), " ")
	if ko := koArgument(proc.Args, proc.Cwd); ko != "" {
		a.File = &File{Path: ko}
	}
	via := c.Tool
	if c.Busybox {
		via = "busybox " + c.Tool
	}
	a.Reason = via + " run to load " + orNothing(what) + " by " + parentDesc(parent)
	if name, ok := kernelAutoload(&proc, parent); ok {
		a.Action, a.Autoload = ActionKernelAutoload, true
		a.Severity, a.RiskScore = Low, 21
		a.Reason = "the kernel requested module " + quoteIfOdd(name) + " (modprobe run as a usermode helper, no login session)"
	}
	if copyFailModule(ev, &proc) {
		a.Severity, a.RiskScore = Critical, 90
		a.Reason = "modprobe of crypto-authencesn (CVE-2026-31431 Copy-Fail indicator): " + a.Reason
	}
	s := subjectOf(&proc, parent)
	s.setFile(a.File)
	suppress(&a, r.exclusions, &s)
	return []Alert{a}
}

// argv0Name is the basename of the event's argv[0], without allocating.
func argv0Name(ev *auditevent.Event) string {
	args := ev.Args()
	if len(args) == 0 {
		return ""
	}
	return BaseName(args[0])
}

func orNothing(s string) string {
	if s == "" {
		return "(no module named)"
	}
	return s
}

// parentDesc names the parent for a reason sentence.
func parentDesc(parent *auditevent.Process) string {
	switch {
	case parent == nil:
		return "an unknown parent"
	case parent.Exe != "":
		return parent.Exe + " (pid " + itoa(int64(parent.PID)) + ")"
	case parent.Comm != "":
		return parent.Comm + " (pid " + itoa(int64(parent.PID)) + ")"
	}
	return "pid " + itoa(int64(parent.PID))
}

// kmodRun recognises a successful exec of a kmod tool (by comm, the kmod
// binary, busybox, or argv0) doing op, and returns the acting process, its
// parent and the parsed invocation. The cheap checks come first: most
// events are not kmod runs.
func kmodRun(ev *auditevent.Event, st State, op kmodOp) (auditevent.Process, *auditevent.Process, kmodCall, bool) {
	if !successfulExec(ev) {
		return auditevent.Process{}, nil, kmodCall{}, false
	}
	if c := ev.Syscall.Comm; !isKmodTool(c) && c != "kmod" && !strings.HasPrefix(c, "busybox") && !isKmodTool(argv0Name(ev)) {
		return auditevent.Process{}, nil, kmodCall{}, false
	}
	proc, parent := actor(ev, st)
	c := kmodInvocation(&proc)
	if c.Op != op {
		return auditevent.Process{}, nil, kmodCall{}, false
	}
	return proc, parent, c, true
}
