package detections

import (
	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// ConfigFileCreationID is the stable id of the E9 detection.
const ConfigFileCreationID = "lkm-config-file-creation"

// configFilePaths are the module autoload configuration locations of E9.
var configFilePaths = []string{
	"/etc/modules", "/etc/modprobe.d/*", "/run/modprobe.d/*", "/usr/local/lib/modprobe.d/*",
	"/usr/lib/modprobe.d/*", "/lib/modprobe.d/*", "/etc/modules-load.d/*", "/run/modules-load.d/*",
	"/usr/local/lib/modules-load.d/*", "/usr/lib/modules-load.d/*",
}

// configFileGlobs is configFilePaths prepared for matching.
var configFileGlobs = newGlobs(configFilePaths)

// E9Exclusions is Elastic's exclusion list for E9, as shipped.
func E9Exclusions() []Exclusion {
	pkg := []string{RequirePackage}
	pm := []string{RequirePackage, RequirePackageManager}
	never := []string{RequireNever}
	return []Exclusion{
		{Reason: "package-manager", Source: "E9", Require: pm, Exe: []string{
			"/bin/dpkg", "/usr/bin/dpkg", "/bin/microdnf", "/usr/bin/microdnf", "/bin/rpm", "/usr/bin/rpm", "/bin/snapd", "/usr/bin/snapd",
			"/bin/yum", "/usr/bin/yum", "/bin/dnf", "/usr/bin/dnf", "/bin/dnf-automatic", "/usr/bin/dnf-automatic", "/bin/pacman",
			"/usr/bin/pacman", "/usr/bin/dpkg-divert", "/bin/dpkg-divert", "/sbin/apk", "/usr/sbin/apk", "/usr/local/sbin/apk", "/usr/bin/apt",
			"/usr/sbin/pacman", "/usr/bin/pamac-daemon", "/bin/pamac-daemon", "/usr/bin/dnf5", "/usr/libexec/packagekitd",
			"/usr/lib/snapd/snapd", "/usr/sbin/yum-cron"},
			Note: "package-owned and unchanged, with a package manager the process or an ancestor (dpkg-divert run by hand is not dpkg)"},
		{Reason: "package-manager", Source: "E9", Require: pkg, Exe: []string{
			"/bin/dockerd", "/usr/bin/dockerd", "/usr/sbin/dockerd", "/bin/podman", "/usr/bin/podman", "/usr/bin/puppet", "/bin/puppet",
			"/opt/puppetlabs/puppet/bin/puppet", "/usr/bin/chef-client", "/bin/chef-client", "/bin/autossl_check", "/usr/bin/autossl_check",
			"/usr/local/bin/dockerd", "/opt/elasticbeanstalk/bin/platform-engine", "/opt/puppetlabs/puppet/bin/ruby",
			"/usr/libexec/platform-python", "/opt/imunify360/venv/bin/python3", "/opt/eset/efs/lib/utild", "/usr/sbin/anacron",
			"/kaniko/kaniko-executor", "/usr/bin/prime-select", "/usr/lib/dracut/dracut-install", "/usr/bin/buildah",
			"/usr/local/bin/podman", "/.envbuilder/bin/envbuilder"},
			Note: "package-owned and unchanged; an interpreter in the list (ruby, platform-python, python3) only for a package-owned script"},
		{Reason: "package-manager", Source: "E9", Require: never, Exe: []string{"/proc/self/exe", "/dev/fd/*", "./usr/bin/podman",
			"./usr/lib/snapd/snap-update-ns", "./usr/bin/qemu-aarch64-static", "./snap/snapd/*/snap-update-ns"},
			Note: "audit reports a process's real executable, never these names; a file run from a descriptor proves nothing"},
		{Reason: "editor-swap-file", Source: "E9", Require: []string{RequireInertFile}, Extension: []string{"swp", "swpx", "swx", "dpkg-remove"},
			Note: "only where the loader ignores the name (modprobe.d and modules-load.d read *.conf)"},
		{Reason: "dpkg-new-rename", Source: "E9", Require: pm, OriginalExtension: []string{"dpkg-new"},
			Note: "a .dpkg-new renamed into place by a package-owned program with a package manager in its ancestry (dpkg does this itself)"},
		{Reason: "package-manager", Source: "E9", Require: []string{RequirePackageManager}, Exe: []string{"/var/lib/dpkg/info/kmod.postinst"},
			Note: "kmod's maintainer script is not in any package's file list: it applies under dpkg only"},
		{Reason: "package-manager", Source: "E9", Require: []string{RequireSnap}, Exe: []string{"/snap/*"},
			Note: "an installed snap's revision, not any file under /snap"},
		{Reason: "package-manager", Source: "E9", Require: pkg, Exe: []string{"/usr/libexec/platform-python*"},
			Note: "package-owned and unchanged, and only for a package-owned script"},
		{Reason: "package-manager", Source: "E9", Require: never, Exe: []string{"/nix/store/*", "/tmp/vmis.*"},
			Note: "/nix/store's database is sqlite (not read here) and anybody can create /tmp/vmis.*: never excluded"},
		{Reason: "no-executable", Source: "E9", Require: never, NoExecutable: true,
			Note: "audit names the executable of every user process: an event without one proves nothing"},
		{Reason: "system-agent", Source: "E9", Require: pkg, Name: []string{
			"crond", "executor", "puppet", "droplet-agent.postinst", "cf-agent", "schedd", "imunify-notifier",
			"perl", "jumpcloud-agent", "crio", "dnf_install", "utild", "dockerd",
		},
			Note: "by name only when the program is package-owned and unchanged (a copy at /usr/local/sbin/crond is not crond); perl only for a package-owned script"},
		{Reason: "python", Source: "E9", Require: pkg, Name: []string{"python*"},
			Note: "only for a package-owned, unchanged script (python3 -c or a script in /tmp is not excluded)"},
		{Reason: "sed-temp-file", Source: "E9", Require: []string{RequirePackage, RequirePackageManager, RequireInertFile}, Name: []string{"sed"}, FileName: []string{"sed*"},
			Note: "sed's temporary file, under a package manager, and never a name the loader reads (sed.conf is not a temporary file)"},
		{Reason: "e2scrub-temp-file", Source: "E9", Require: []string{RequirePackage, RequireInertFile}, Name: []string{"perl"}, FileName: []string{"e2scrub_all.tmp*"},
			Note: "perl running a package-owned script, and never a name the loader reads"},
	}
}

// configFileCreation is E9: a file created (or renamed into place) where
// modprobe or systemd-modules-load reads module configuration.
type configFileCreation struct {
	def        Definition
	exclusions []Exclusion
	dirs       *dirIndex
}

func newConfigFileCreation(extra []Exclusion, dirs *dirIndex) *configFileCreation {
	return &configFileCreation{
		dirs: dirs,
		def: Definition{
			ID:   ConfigFileCreationID,
			Name: "Loadable Kernel Module Configuration File Creation",
			Description: "A file was created in a kernel module configuration location (modprobe.d, modules-load.d, " +
				"/etc/modules): a module can be made to load at every boot or its options changed.",
			Severity: Medium, RiskScore: 47, Threat: T1547006,
			Covers: []string{"E9"},
			Needs:  []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_CWD, auparse.AUDIT_PATH},
		},
		exclusions: append(E9Exclusions(), extra...),
	}
}

func (r *configFileCreation) Definition() *Definition { return &r.def }

func (r *configFileCreation) Evaluate(dst []Alert, in *Input) []Alert {
	ev, st := in.Event, in.State
	if !ev.HasSyscall || ev.Syscall.Success == auditevent.SuccessNo {
		return dst
	}
	r.dirs.follow(ev)
	for i := range ev.Paths {
		p := &ev.Paths[i]
		if p.Nametype != "CREATE" {
			continue
		}
		where := r.dirs.itemPath(ev, i, &configFileGlobs)
		if where == "" || !configFileGlobs.match(where) {
			continue
		}
		proc, parent := in.Actor()
		a := newAlert(&r.def, ev, proc, parent)
		a.Category, a.Type, a.Action = categoryFile, typeCreation, "creation"
		a.File = &File{Path: where, OriginalPath: renameSource(ev, p)}
		if ev.Syscall.IsURing && ev.Syscall.Name == "renameat2" {
			// No names: the source is the DELETE item, placed like any
			// io_uring item ("<dir>/(inode N)" once it is renamed away).
			a.File.OriginalPath = "(unknown)"
			for j := range ev.Paths {
				if ev.Paths[j].Nametype == "DELETE" {
					if src := r.dirs.itemPath(ev, j, nil); src != "" {
						a.File.OriginalPath = src
					}
					break
				}
			}
		}
		switch {
		case a.File.OriginalPath != "":
			a.Type, a.Action = []string{"creation", "change"}, "rename"
		case isLinkSyscall(ev.Syscall.Name):
			a.Action = "hard-link"
			a.File.OriginalPath = linkSource(ev)
		}
		a.Reason = "kernel module configuration file " + where + " created by " + orUnknown(proc.Exe)
		switch {
		case ev.Syscall.IsURing:
			a.Reason += uringNote(ev)
		case where != p.Resolved:
			a.Reason += " (written as " + strconvQuote(p.Name) + ")"
		}
		s := fileSubject(&proc, parent, st, ev, where, a.File.OriginalPath)
		suppress(&a, r.exclusions, &s)
		dst = append(dst, a)
	}
	return dst
}

// renameSource returns the path a rename moved to p from: the DELETE item
// that is not p itself.
func renameSource(ev *auditevent.Event, created *auditevent.Path) string {
	switch ev.Syscall.Name {
	case "rename", "renameat", "renameat2":
	default:
		return ""
	}
	for i := range ev.Paths {
		q := &ev.Paths[i]
		if q.Nametype == "DELETE" && q.Resolved != created.Resolved {
			if q.Resolved != "" {
				return q.Resolved
			}
			return q.Name
		}
	}
	return ""
}

func isLinkSyscall(name string) bool { return name == "link" || name == "linkat" }

// linkSource returns the existing name a hard link was made from: the
// NORMAL item of link/linkat.
func linkSource(ev *auditevent.Event) string {
	for i := range ev.Paths {
		if q := &ev.Paths[i]; q.Nametype == "NORMAL" {
			if q.Resolved != "" {
				return q.Resolved
			}
			return q.Name
		}
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown process"
	}
	return s
}
