package detections

import (
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// KoFileCreationID is the stable id of the kernel object file detection.
const KoFileCreationID = "kernel-object-file-creation"

// modulesDirs are where the kernel's modules live (D1, P5).
var modulesDirs = []string{"/lib/modules/*", "/usr/lib/modules/*"}

// modulesDirGlobs is modulesDirs prepared for matching.
var modulesDirGlobs = newGlobs(modulesDirs)

// E8Exclusions is E8's list as shipped, plus H2's paths and the package
// managers that install modules (D1).
func E8Exclusions() []Exclusion {
	pkg := []string{RequirePackage}
	mkinitramfs := []string{"/usr/sbin/mkinitramfs", "/usr/sbin/update-initramfs", "/usr/bin/unmkinitramfs"}
	dracut := []string{"/usr/bin/dracut", "/usr/sbin/dracut", "/sbin/dracut", "/usr/lib/dracut/*"}
	return []Exclusion{
		{Reason: "build-or-initramfs", Source: "E8", Path: []string{"/tmp/mkinitramfs*", "/tmp/user/0/mkinitramfs*", "/var/tmp/mkinitramfs_*"},
			Ancestor: mkinitramfs, Note: "only under a package-owned mkinitramfs: anybody can create these names in /tmp"},
		{Reason: "build-or-initramfs", Source: "E8", Path: []string{"/var/tmp/dracut.*"}, Ancestor: dracut, Note: "only under a package-owned dracut"},
		{Reason: "build-or-initramfs", Source: "E8", Path: []string{"/var/cache/uptrack/*"}, Ancestor: []string{"/usr/sbin/uptrack-*", "/usr/lib/uptrack/*"},
			Note: "only under package-owned Ksplice Uptrack"},
		{Reason: "build-or-initramfs", Source: "E8", Path: []string{"/var/lib/dkms/*"}, Ancestor: []string{"/usr/sbin/dkms", "/usr/lib/dkms/*"},
			Note: "only under a package-owned dkms"},
		{Reason: "build-or-initramfs", Source: "E8", Path: []string{"/var/tmp/portage/*"}, Ancestor: []string{"/usr/bin/emerge", "/usr/lib/portage/*"},
			Note: "only under package-owned portage"},
		{Reason: "build-or-initramfs", Source: "E8", Path: []string{"/var/tmp/supermin*"}, Ancestor: []string{"/usr/bin/supermin*"},
			Note: "only under a package-owned supermin"},
		{Reason: "build-or-initramfs", Source: "E8", Path: []string{"/build/*"}, Ancestor: []string{"/usr/bin/dpkg-buildpackage", "/usr/bin/sbuild", "/usr/bin/rpmbuild"},
			Note: "only under a package build (dpkg-buildpackage, sbuild, rpmbuild)"},
		{Reason: "build-or-initramfs", Source: "E8", Path: []string{"/mnt/Samsung/*", "/mnt/img/storage/squashfs-root/*"}, Ancestor: []string{"/usr/bin/unsquashfs", "/sbin/unsquashfs"},
			Note: "only when a package-owned unsquashfs extracts there"},
		{Reason: "build-or-initramfs", Source: "E8", Path: []string{"/var/opt/eset/*"}, Ancestor: []string{"/opt/eset/*"},
			Note: "only under ESET's package-owned programs"},
		{Reason: "package-manager", Source: "E8", Require: pkg, Exe: []string{"/sbin/dracut", "/usr/bin/dracut", "/opt/traps/bin/pmd",
			"/usr/bin/pacman", "/usr/bin/containerd", "/usr/sbin/dockerd", "/usr/bin/dockerd", "/usr/lib/dracut/dracut-initramfs-restore", "/sbin/unsquashfs",
			"/usr/bin/unsquashfs"},
			Note: "package-owned and unchanged"},
		{Reason: "package-manager", Source: "E8", Exe: []string{"/usr/local/v3net/suarez/bin/suarez"},
			Note: "exact path the vendor listed, outside any package: the path stands"},
		{Reason: "package-manager", Source: "E8", Require: []string{RequireSnap}, Exe: []string{"/snap/*"},
			Note: "an installed snap's revision, not any file under /snap"},
		{Reason: "archive-extraction", Source: "E8", Name: []string{"cpio"}, Ancestor: append(append([]string{}, mkinitramfs...), dracut...),
			Note: "cpio alone copies anything anywhere: only when it unpacks for mkinitramfs or dracut"},
		{Reason: "initramfs", Source: "H2", Path: []string{"/run/initramfs/*", "/var/tmp/mkinitramfs*"}, Ancestor: append(append([]string{}, mkinitramfs...), dracut...),
			Note: "only under a package-owned initramfs builder"},
		{Reason: "package-manager", Source: "D1", Require: []string{RequirePackage, RequirePackageManager}, Exe: []string{"/usr/bin/dpkg", "/bin/dpkg",
			"/usr/bin/rpm", "/bin/rpm", "/usr/bin/dnf", "/usr/bin/dnf5", "/usr/bin/yum"},
			Note: "package-owned and unchanged"},
		{Reason: "package-manager", Source: "D1", Require: []string{RequirePackage, RequirePackageManager}, Exe: []string{"/usr/lib/systemd/systemd", "/lib/systemd/systemd"},
			Note: "systemd writing a module file happens when a package manager runs it (D1); a package manager must be an ancestor"},
	}
}

// koFileCreation fires when a kernel object file (.ko, .ko.xz, .ko.zst,
// .ko.gz) is created, renamed or linked into place: anywhere the audit
// rules see it (E8, H2's first query), and in the modules tree (D1) or a
// drivers directory (P5), where it is raised.
type koFileCreation struct {
	def        Definition
	exclusions []Exclusion
	dirs       *dirIndex
}

func newKoFileCreation(extra []Exclusion, dirs *dirIndex) *koFileCreation {
	return &koFileCreation{
		def: Definition{
			ID:   KoFileCreationID,
			Name: "Kernel Object File Creation",
			Description: "A kernel module file (.ko, compressed or not) was created, renamed or hard-linked. In " +
				"/lib/modules or a kernel/drivers directory it is ready for modprobe and depmod.",
			Severity: Low, RiskScore: 21, Threat: T1547006,
			Covers: []string{"E8", "H2", "D1", "P5"},
			Needs:  []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_CWD, auparse.AUDIT_PATH},
		},
		exclusions: append(E8Exclusions(), extra...),
		dirs:       dirs,
	}
}

func (r *koFileCreation) Definition() *Definition { return &r.def }

func (r *koFileCreation) Evaluate(dst []Alert, in *Input) []Alert {
	ev, st := in.Event, in.State
	if !ev.HasSyscall || ev.Syscall.Success == auditevent.SuccessNo {
		return dst
	}
	if ev.Syscall.IsURing && len(ev.Paths) == 0 {
		return r.uringUnnamedOpen(dst, in)
	}
	inPlace, classified := false, false
	for i := range ev.Paths {
		p := &ev.Paths[i]
		switch {
		case p.Name != "" && !isModuleFile(p.Name):
			continue
		case p.Nametype == "CREATE":
		case p.Nametype == "NORMAL" && p.Mode&0o170000 == 0o100000:
			// An existing module opened for writing or truncated: a
			// module trojaned in place is loaded by the next modprobe
			// or boot like a new one. Only in the modules tree (a
			// build directory rewrites its .ko files all the time).
			if !classified {
				inPlace, classified = normalWrite(ev) == writeContent, true
			}
			if !inPlace {
				continue
			}
		default:
			continue
		}
		where := r.dirs.itemPath(ev, i, &modulesDirGlobs)
		if where == "" {
			where = p.Name
		}
		if !isModuleFile(where) {
			continue // an io_uring item (no name) that is no module file
		}
		modified := p.Nametype == "NORMAL"
		if modified && !modulesDirGlobs.match(where) {
			continue
		}
		proc, parent := in.Actor()
		a := newAlert(&r.def, ev, proc, parent)
		a.Category, a.Type, a.Action = categoryFile, typeCreation, "creation"
		a.File = &File{Path: where}
		switch {
		case modified:
			a.Type, a.Action = []string{"change"}, "modification"
		case renameSource(ev, p) != "":
			a.Action, a.File.OriginalPath = "rename", renameSource(ev, p)
		case isLinkSyscall(ev.Syscall.Name):
			a.Action, a.File.OriginalPath = "hard-link", linkSource(ev)
		}
		verb := " created by "
		if modified {
			verb = " opened for writing (overwritten or truncated in place) by "
		}
		a.Reason = "kernel module file " + where + verb + orUnknown(proc.Exe)
		if modulesDirGlobs.match(where) || strings.Contains(where, "/kernel/drivers/") {
			a.Severity, a.RiskScore = Medium, 47
			a.Reason += " in the kernel modules tree"
		}
		if ev.Syscall.IsURing {
			a.Reason += uringNote(ev)
		}
		s := fileSubject(&proc, parent, st, ev, where, "")
		suppress(&a, r.exclusions, &s)
		dst = append(dst, a)
	}
	return dst
}

// uringUnnamedOpen: an io_uring open of an existing file has no PATH item
// (see configFileChange.uringUnnamedOpen). Keyed by the module tree's
// io_uring rule, it alerts when the process's open files show a module
// file in the tree (the rule falls back to the tree's parent where the
// tree is missing, so an unnamed open says too little to alert on).
func (r *koFileCreation) uringUnnamedOpen(dst []Alert, in *Input) []Alert {
	ev, st := in.Event, in.State
	if (ev.Syscall.Name != "openat" && ev.Syscall.Name != "openat2") || ev.Syscall.Success == auditevent.SuccessNo {
		return dst
	}
	keyed := false
	for _, k := range ev.Syscall.Keys {
		keyed = keyed || k == "auditlkm-ko"
	}
	if !keyed {
		return dst
	}
	where := r.dirs.procFDPath(ev.Syscall.PID, func(p string) bool { return isModuleFile(p) && modulesDirGlobs.match(p) })
	if where == "" {
		return dst
	}
	proc, parent := in.Actor()
	a := newAlert(&r.def, ev, proc, parent)
	a.Category, a.Type, a.Action = categoryFile, typeChange, "modification"
	a.Severity, a.RiskScore = Medium, 47
	a.File = &File{Path: where}
	a.Reason = "kernel module file " + where + " in the kernel modules tree opened by " + orUnknown(proc.Exe) + uringNote(ev)
	s := fileSubject(&proc, parent, st, ev, where, "")
	suppress(&a, r.exclusions, &s)
	return append(dst, a)
}
