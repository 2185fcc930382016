package detections

import (
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/toolargs"
)

// KmodLoadToolID is the stable id of the kmod load tool detection.
const KmodLoadToolID = "kmod-load-tool"

// E1Exclusions is Elastic's exclusion block for E1 ("Kernel Module Load
// via Built-in Utility"), as shipped, clause by clause.
func E1Exclusions() []Exclusion {
	pkg := []string{RequirePackage}
	return []Exclusion{
		{Reason: "security-agent", Source: "E1", Require: pkg, ParentExe: []string{"/opt/ds_agent/*", "/opt/TrendMicro/vls_agent/*", "/opt/intel/oneapi/*"},
			Note: "the parent must be package-owned and unchanged, not just live under the vendor's directory"},
		{Reason: "security-agent", Source: "E1", Require: pkg, Cwd: []string{"/opt/vinchin/agent", "/var/opt/ds_agent/am", "/opt/ds_agent", "/var/opt/TrendMicro/vls_agent/am"},
			ParentExe: []string{"/opt/vinchin/*", "/opt/ds_agent/*", "/opt/TrendMicro/*"},
			Note:      "anybody can cd into these directories: the parent must also be the vendor's package-owned program"},
		{Reason: "vendor-loader", Source: "E1", Require: pkg, ParentExe: []string{
			"/usr/lib/uptrack/ksplice-apply", "/usr/bin/kcarectl", "/usr/share/ksplice/ksplice-apply", "/usr/sbin/veeamsnap-loader",
			"/bin/falcoctl", "/usr/bin/falcoctl", "/usr/sbin/veeamworker"},
			Note: "package-owned and unchanged (kcarectl and ksplice-apply are scripts: the script is checked, the interpreter too)"},
		{Reason: "vendor-loader", Source: "E1", ParentExe: []string{"/opt/commvault/commvault/Base/linux_drv", "/opt/cisco/amp/bin/cisco-amp-helper",
			"/opt/commvault/Base/linux_drv"},
			Note: "exact paths the vendor listed, installed by the vendor's own installer outside the package manager: the path stands"},
		{Reason: "vendor-loader", Source: "E1", Require: pkg, ParentExe: []string{
			"/sbin/iptables-multi*", "/usr/sbin/iptables-multi*", "/var/ossec/bin/wazuh-modulesd", "/usr/sbin/mkinitramfs", "/usr/share/initramfs-tools/hooks/lvm2",
			"/usr/lpp/mmfs/bin/*", "/opt/forticlient/*", "/opt/traps/bin/*", "/usr/sbin/xtables*"},
			Note: "package-owned and unchanged (mkinitramfs and the lvm2 hook are shell scripts: matched by script)"},
		{Reason: "vendor-loader", Source: "E1", Require: []string{RequireSnap}, ParentExe: []string{"/snap/lxd/*/sbin/lxd"},
			Note: "the revision must be an installed snap (snapd's copy in /var/lib/snapd/snaps)"},
		{Reason: "package-update", Source: "E1", Require: pkg, ParentName: []string{"python*", "platform-python*"}, ParentArgs: []string{"--smart-update", "--auto-update"},
			Note: "the interpreter and the script it runs must be package-owned and unchanged"},
		{Reason: "query-only", Source: "E1", Options: []string{"show-config"},
			Note: "never reached: modprobe --showconfig/-c loads nothing and is not a load (internal/toolargs); module parameters after the module or -- are not options"},
		{Reason: "query-only", Source: "E1", Options: []string{"show-modversions"},
			Note: "never reached: --dump-modversions loads nothing and is not a load"},
		{Reason: "kernel-autoload", Source: "E1", Require: pkg, Exe: []string{"*/kmod"}, Invoked: []string{"modprobe"}, Options: []string{"quiet", "--"},
			Modules: []string{"net-pf-10", "binfmt-464c", "netdev-*", "block-major-*"},
			Note:    "-q and -- must be options (parsed), the module the operand; kmod package-owned and unchanged"},
		{Reason: "cis-check", Source: "E1", Require: pkg, Exe: []string{"*/kmod"}, Invoked: []string{"modprobe"}, Options: []string{"dry-run", "verbose"},
			Modules: []string{"usb-storage", "dccp", "squashfs", "udf", "sctp", "cramfs", "hfsplus", "rds", "hfs", "jffs2", "freevxfs", "vfat", "overlay"},
			Note:    "never reached: modprobe -n loads nothing and is not a load"},
		{Reason: "initramfs-hook", Source: "E1", Require: pkg, ParentExe: []string{"/usr/share/initramfs-tools/hooks/*"},
			Note: "the parent's script (was: any parent argument) must be a package-owned, unchanged hook"},
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

func (r *kmodLoadTool) Evaluate(dst []Alert, in *Input) []Alert {
	ev, st := in.Event, in.State
	proc, parent, c, ok := kmodRun(in, true)
	if !ok {
		return dst
	}
	a := newAlert(&r.def, ev, proc, parent)
	a.Category, a.Type, a.Action = categoryProcessDriver, typeStart, "load-module-tool"
	what := strings.Join(c.Modules, " ")
	if ko := koArgument(&proc); ko != "" {
		a.File = &File{Path: ko}
	}
	via := c.Tool
	if c.Busybox {
		via = "busybox " + c.Tool
	}
	a.Reason = via + " run to load " + orNothing(what) + " by " + parentDesc(parent)
	if c.MaybeLoad {
		a.Severity, a.RiskScore = Low, 21
		a.Reason += " (" + c.Why + ": not a load as glibc orders arguments by default, a load of " +
			orNothing(what) + " with POSIXLY_CORRECT set)"
	}
	if foreign := c.ForeignConfigs(); len(foreign) > 0 {
		a.Severity, a.RiskScore = High, 73
		a.Reason += " with configuration " + strconvQuote(foreign[0]) + " outside the system directories"
	}
	if c.Dirname != "" && c.Dirname != "/" {
		a.Severity, a.RiskScore = High, 73
		a.Reason += " from module tree " + strconvQuote(c.Dirname)
	}
	if name, ok := kernelAutoload(&proc, parent); ok {
		a.Action, a.Autoload = ActionKernelAutoload, true
		a.Severity, a.RiskScore = Low, 21
		a.Reason = "the kernel requested module " + quoteIfOdd(name) + " (modprobe run as a usermode helper, no login session)"
	}
	if copyFailModule(ev, &proc) {
		a.Severity, a.RiskScore = Critical, 90
		a.Reason = "modprobe of crypto-authencesn (CVE-2026-31431 Copy-Fail indicator): " + a.Reason
	}
	s := subjectOf(&proc, parent, st)
	s.setKmod(&c)
	s.setFile(a.File)
	suppress(&a, r.exclusions, &s)
	return append(dst, a)
}

// argv0Name is the basename of the event's argv[0], without allocating.
func argv0Name(ev *auditevent.Event) string {
	args := ev.Args()
	if len(args) == 0 {
		return ""
	}
	return auditevent.BaseName(args[0])
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
// binary, busybox, or argv0) and parses it; load asks for a run that loads
// (or may, see toolargs.Kmod.MaybeLoad), else for a removal. It returns
// the acting process, its parent and the parsed command line. The cheap
// checks come first: most events are not kmod runs.
func kmodRun(in *Input, load bool) (auditevent.Process, *auditevent.Process, toolargs.Kmod, bool) {
	if ev := in.Event; !successfulExec(ev) || !mayBeKmod(ev) {
		return auditevent.Process{}, nil, toolargs.Kmod{}, false
	}
	proc, parent := in.Actor()
	c := kmodInvocation(&proc)
	if (load && !c.Loads()) || (!load && c.Op != toolargs.Unload) {
		return auditevent.Process{}, nil, toolargs.Kmod{}, false
	}
	return proc, parent, c, true
}
