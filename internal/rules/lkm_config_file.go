package rules

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

// E9Exclusions is Elastic's exclusion list for E9, as shipped.
func E9Exclusions() []Exclusion {
	return []Exclusion{
		{Reason: "package-manager", Source: "E9", Exe: []string{
			"/bin/dpkg", "/usr/bin/dpkg", "/bin/dockerd", "/usr/bin/dockerd", "/usr/sbin/dockerd", "/bin/microdnf",
			"/usr/bin/microdnf", "/bin/rpm", "/usr/bin/rpm", "/bin/snapd", "/usr/bin/snapd", "/bin/yum", "/usr/bin/yum",
			"/bin/dnf", "/usr/bin/dnf", "/bin/podman", "/usr/bin/podman", "/bin/dnf-automatic", "/usr/bin/dnf-automatic",
			"/bin/pacman", "/usr/bin/pacman", "/usr/bin/dpkg-divert", "/bin/dpkg-divert", "/sbin/apk", "/usr/sbin/apk",
			"/usr/local/sbin/apk", "/usr/bin/apt", "/usr/sbin/pacman", "/usr/bin/puppet", "/bin/puppet",
			"/opt/puppetlabs/puppet/bin/puppet", "/usr/bin/chef-client", "/bin/chef-client", "/bin/autossl_check",
			"/usr/bin/autossl_check", "/proc/self/exe", "/dev/fd/*", "/usr/bin/pamac-daemon", "/bin/pamac-daemon",
			"/usr/local/bin/dockerd", "/opt/elasticbeanstalk/bin/platform-engine", "/opt/puppetlabs/puppet/bin/ruby",
			"/usr/libexec/platform-python", "/opt/imunify360/venv/bin/python3", "/opt/eset/efs/lib/utild",
			"/usr/sbin/anacron", "/kaniko/kaniko-executor", "/usr/bin/prime-select", "/usr/lib/dracut/dracut-install",
			"/usr/bin/dnf5", "./usr/bin/podman", "/usr/libexec/packagekitd", "/usr/bin/buildah",
			"./usr/lib/snapd/snap-update-ns", "/usr/lib/snapd/snapd", "/usr/local/bin/podman", "/usr/sbin/yum-cron",
			"./usr/bin/qemu-aarch64-static", "/.envbuilder/bin/envbuilder",
		}},
		{Reason: "editor-swap-file", Source: "E9", Extension: []string{"swp", "swpx", "swx", "dpkg-remove"}},
		{Reason: "dpkg-new-rename", Source: "E9", OriginalExtension: []string{"dpkg-new"}},
		{Reason: "package-manager", Source: "E9", Exe: []string{
			"/nix/store/*", "/var/lib/dpkg/info/kmod.postinst", "/tmp/vmis.*", "/snap/*", "/dev/fd/*",
			"/usr/libexec/platform-python*", "./snap/snapd/*/snap-update-ns",
		}},
		{Reason: "no-executable", Source: "E9", NoExecutable: true},
		{Reason: "system-agent", Source: "E9", Name: []string{
			"crond", "executor", "puppet", "droplet-agent.postinst", "cf-agent", "schedd", "imunify-notifier",
			"perl", "jumpcloud-agent", "crio", "dnf_install", "utild", "dockerd",
		}},
		{Reason: "python", Source: "E9", Name: []string{"python*"}},
		{Reason: "sed-temp-file", Source: "E9", Name: []string{"sed"}, FileName: []string{"sed*"}},
		{Reason: "e2scrub-temp-file", Source: "E9", Name: []string{"perl"}, FileName: []string{"e2scrub_all.tmp*"}},
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

func (r *configFileCreation) Evaluate(ev *auditevent.Event, st State) []Alert {
	if !ev.HasSyscall || ev.Syscall.Success == auditevent.SuccessNo {
		return nil
	}
	r.dirs.follow(ev)
	var out []Alert
	for i := range ev.Paths {
		p := &ev.Paths[i]
		if p.Nametype != "CREATE" {
			continue
		}
		where := r.dirs.itemPath(ev, i, configFilePaths)
		if where == "" || !anyGlob(configFilePaths, where) {
			continue
		}
		proc, parent := actor(ev, st)
		a := newAlert(&r.def, ev, proc, parent)
		a.Category, a.Type, a.Action = []string{"file"}, []string{"creation"}, "creation"
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
		s := subjectOf(&proc, parent)
		s.markURing(ev)
		s.Path, s.FileName, s.Extension = where, BaseName(where), Extension(BaseName(where))
		if a.File.OriginalPath != "" {
			s.OriginalExtension = Extension(BaseName(a.File.OriginalPath))
		}
		if reason, ok := firstMatch(r.exclusions, &s); ok {
			a.Suppressed = reason
		}
		out = append(out, a)
	}
	return out
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
