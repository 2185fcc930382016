package detections

import (
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// ConfigFileChangeID is the stable id of the LKM/boot configuration change
// detection.
const ConfigFileChangeID = "lkm-config-file-change"

// lkmConfigPaths are every place that decides which modules load or how:
// E9's, E14's /etc/modprobe.conf, and the locations no public rule covers
// (initramfs-tools, dracut, RHEL boot module scripts, rc.modules).
var lkmConfigPaths = append(append([]string{}, configFilePaths...),
	"/etc/modprobe.conf", "/lib/modules-load.d/*",
	"/etc/initramfs-tools/modules", "/etc/initramfs-tools/hooks/*", "/etc/initramfs-tools/conf.d/*",
	"/etc/dracut.conf", "/etc/dracut.conf.d/*", "/etc/sysconfig/modules/*", "/etc/rc.modules",
)

// bootPaths are E15's initramfs, bootloader and udev locations: a module
// or a module-loading hook put there runs at the next boot.
var bootPaths = []string{
	"/etc/default/grub", "/etc/default/grub.d/*", "/etc/grub.d/*", "/boot/grub2/grub.cfg", "/boot/grub/grub.cfg",
	"/boot/efi/EFI/*/grub.cfg", "/etc/sysconfig/grub", "/lib/dracut/modules.d/*", "/usr/lib/dracut/modules.d/*",
	"/lib/udev/*", "/etc/udev/rules.d/*", "/usr/lib/udev/rules.d/*", "/run/udev/rules.d/*", "/usr/local/lib/udev/rules.d/*",
}

// changePaths are all the locations this rule watches.
var changePaths = append(append([]string{}, lkmConfigPaths...), bootPaths...)

// changeGlobs, lkmConfigGlobs: changePaths and lkmConfigPaths prepared
// for matching.
var changeGlobs, lkmConfigGlobs = newGlobs(changePaths), newGlobs(lkmConfigPaths)

// changeDirs are the configuration directories of changePaths themselves
// ("/etc/modprobe.d" for "/etc/modprobe.d/*"): creating, removing,
// renaming or symlinking one of them changes what is read at boot as
// surely as writing a file in it.
var changeDirs = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range changePaths {
		if d, ok := strings.CutSuffix(p, "/*"); ok && !strings.ContainsAny(d, "*?[") {
			m[d] = true
		}
	}
	return m
}()

// e14Paths are E14's locations; its process exclusions only hold there.
var e14Paths = []string{"/etc/modprobe.conf", "/etc/modprobe.d", "/etc/modprobe.d/*"}

// E15Exclusions is E15's list, as shipped.
func E15Exclusions() []Exclusion {
	return []Exclusion{
		{Reason: "temp-file", Source: "E15", Require: []string{RequireInertFile}, Path: []string{"/var/spool/cron/crontabs/tmp.*", "/run/udev/rules.d/*rules.*",
			"/home/*/.ssh/known_hosts.*", "/root/.ssh/known_hosts.*"},
			Note: "only names the loader ignores: /run/udev/rules.d/x-rules.y.rules matches the pattern and udev reads it"},
		{Reason: "package-manager-temp", Source: "E15", Require: []string{RequireInertFile}, Extension: []string{"dpkg-new", "dpkg-remove", "SEQ"},
			Note: "inert names only; the rename into place is judged on its own"},
	}
}

// E14Exclusions is E14's list, as shipped, except the process name "cp":
// copying a file over a modprobe.d entry is the plainest way to plant one,
// so excluding every cp would exclude the attack (the evasion suite runs
// it). E14's "modprobe" only reads and never reaches a write rule.
func E14Exclusions() []Exclusion {
	return []Exclusion{
		{Reason: "system-tool", Source: "E14", Require: []string{RequirePackage}, Path: e14Paths, Name: []string{"dpkg", "dockerd", "lynis", "mkinitramfs", "snapd",
			"systemd-udevd", "borg", "auditbeat", "lspci", "aide", "modprobe", "python*"},
			Note: "package-owned and unchanged (scripts such as lynis and mkinitramfs by the script an interpreter runs); cp left out (see above)"},
		{Reason: "security-agent", Source: "E14", Require: []string{RequirePackage}, Path: e14Paths, Exe: []string{"/opt/sophos/*", "/opt/eset/*", "/var/lib/elastic*",
			"/opt/Elastic/*", "/usr/lib/dracut/dracut-install", "/usr/bin/pacman", "/opt/saltstack/salt/bin/python*",
			"/var/lib/waagent/*", "/opt/sophos-spl/plugins/av/bin/*"},
			Note: "package-owned and unchanged"},
	}
}

// configFileChange is E15 ("updated") and E14 for module configuration,
// initramfs and bootloader files: content written (open for writing,
// truncate), attributes changed, or the file removed; and files created in
// the locations the creation rule (E9) does not cover.
type configFileChange struct {
	def        Definition
	exclusions []Exclusion
	dirs       *dirIndex
}

func newConfigFileChange(extra []Exclusion, dirs *dirIndex) *configFileChange {
	xs := append(E15Exclusions(), E14Exclusions()...)
	// Package managers own these files: E9's executable list holds here too.
	for _, x := range E9Exclusions() {
		if x.Reason != "no-executable" && x.Reason != "system-agent" && x.Reason != "python" {
			xs = append(xs, x)
		}
	}
	return &configFileChange{
		def: Definition{
			ID:   ConfigFileChangeID,
			Name: "Kernel Module or Boot Configuration File Changed",
			Description: "A kernel module configuration file (modprobe.d, modules-load.d, /etc/modules, " +
				"/etc/modprobe.conf, initramfs-tools, dracut, /etc/sysconfig/modules, rc.modules) or an " +
				"initramfs/bootloader/udev file was written, truncated, had its attributes changed or was removed, " +
				"or was created where E9 does not look.",
			Severity: Low, RiskScore: 21, Threat: T1547006,
			Covers: []string{"E14", "E15"},
			Needs:  []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_CWD, auparse.AUDIT_PATH},
		},
		exclusions: append(xs, extra...),
		dirs:       dirs,
	}
}

func (r *configFileChange) Definition() *Definition { return &r.def }

func (r *configFileChange) Evaluate(dst []Alert, in *Input) []Alert {
	ev, st := in.Event, in.State
	if ev.HasSyscall && ev.Syscall.IsURing && len(ev.Paths) == 0 && ev.Syscall.Success != auditevent.SuccessNo {
		return r.uringUnnamedOpen(dst, in)
	}
	if !ev.HasSyscall || len(ev.Paths) == 0 || ev.Syscall.Success == auditevent.SuccessNo {
		return dst
	}
	r.dirs.follow(ev)
	var wk writeKind
	classified := false
	for i := range ev.Paths {
		p := &ev.Paths[i]
		var action string
		switch p.Nametype {
		case "NORMAL":
			if !classified {
				wk, classified = normalWrite(ev), true
			}
			switch wk {
			case writeContent:
				action = "modification"
			case writeAttr:
				action = "attributes-modified"
			default:
				continue
			}
		case "DELETE":
			action = "deletion"
		case "CREATE":
			action = "creation"
		default:
			continue
		}
		where := r.dirs.itemPath(ev, i, &changeGlobs)
		isDir := changeDirs[where]
		if where == "" || !(isDir || changeGlobs.match(where)) {
			continue
		}
		if action == "creation" && configFileGlobs.match(where) {
			continue // E9's rule reports it
		}
		if action == "deletion" && r.movedOrReplaced(ev, p) {
			continue // a rename's source or the file a rename replaced: reported with the CREATE
		}
		proc, parent := in.Actor()
		a := newAlert(&r.def, ev, proc, parent)
		a.Category, a.Type, a.Action = categoryFile, typeChange, action
		switch action {
		case "creation":
			a.Type = []string{"creation"}
		case "deletion":
			a.Type = []string{"deletion"}
		}
		a.File = &File{Path: where, OriginalPath: renameSource(ev, p)}
		if lkmConfigGlobs.match(where) {
			a.Severity, a.RiskScore = Medium, 47
		}
		what := "kernel module or boot configuration "
		if isDir {
			what += "directory "
			if lkmConfigGlobs.match(where + "/x") {
				a.Severity, a.RiskScore = Medium, 47
			}
			if p.Mode&0o170000 == 0o120000 {
				action = "symlink-" + action
				a.Action = action
			}
		}
		a.Reason = what + where + ": " + action + " by " + orUnknown(proc.Exe)
		if ev.Syscall.IsURing {
			a.Reason += uringNote(ev)
		}
		s := fileSubject(&proc, parent, st, ev, where, a.File.OriginalPath)
		suppress(&a, r.exclusions, &s)
		dst = append(dst, a)
	}
	return dst
}

// movedOrReplaced reports whether the DELETE item d is one half of a
// rename within the event: the source (same inode as a CREATE item) or the
// file the rename replaced (same name as a CREATE item), when the CREATE
// stays in a watched location. A file moved out is a deletion.
func (r *configFileChange) movedOrReplaced(ev *auditevent.Event, d *auditevent.Path) bool {
	for i := range ev.Paths {
		q := &ev.Paths[i]
		if q.Nametype != "CREATE" {
			continue
		}
		if (q.Inode != 0 && q.Inode == d.Inode && q.Dev == d.Dev) || (q.Resolved != "" && q.Resolved == d.Resolved) {
			return changeGlobs.match(r.dirs.itemPath(ev, i, &changeGlobs))
		}
	}
	return false
}

// uringConfigKey is the key of the io_uring rules on the configuration
// directories (47-auditlkm-io-uring.rules).
const uringConfigKey = "auditlkm-config"

// uringUnnamedOpen handles an io_uring open of an existing file, which the
// kernel records with no PATH item at all: the records cannot say which
// file it was, so (as the one exception to deciding from content) the
// rule key says it was under a configuration directory. The file is named
// from the process's open files when it still holds it.
func (r *configFileChange) uringUnnamedOpen(dst []Alert, in *Input) []Alert {
	ev, st := in.Event, in.State
	switch ev.Syscall.Name {
	case "openat", "openat2":
	default:
		return dst
	}
	keyed := false
	for _, k := range ev.Syscall.Keys {
		keyed = keyed || k == uringConfigKey
	}
	if !keyed {
		return dst
	}
	where := r.dirs.procFDPath(ev.Syscall.PID, func(p string) bool { return changeGlobs.match(p) })
	proc, parent := in.Actor()
	a := newAlert(&r.def, ev, proc, parent)
	a.Category, a.Type, a.Action = categoryFile, typeChange, "modification"
	a.Severity, a.RiskScore = Medium, 47
	if where != "" {
		a.File = &File{Path: where}
		a.Reason = "kernel module or boot configuration " + where + ": opened by " + orUnknown(proc.Exe)
	} else {
		a.Reason = "an existing file in a kernel module configuration directory was opened by " + orUnknown(proc.Exe) +
			" (the kernel records no name for it; the process no longer holds it)"
	}
	a.Reason += uringNote(ev)
	s := fileSubject(&proc, parent, st, ev, where, "")
	suppress(&a, r.exclusions, &s)
	return append(dst, a)
}
