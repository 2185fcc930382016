package detections

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/provenance"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// tree is a process table for exclusion tests: Parent and Ancestry follow
// PPID.
type tree map[int]auditevent.Process

func (t tree) Process(pid int) (auditevent.Process, bool) { p, ok := t[pid]; return p, ok }
func (t tree) Parent(pid int) (auditevent.Process, bool) {
	p, ok := t[pid]
	if !ok {
		return auditevent.Process{}, false
	}
	q, ok := t[p.PPID]
	return q, ok
}
func (t tree) Ancestry(pid, max int) []auditevent.Process { return t.AppendAncestry(nil, pid, max) }
func (t tree) AppendAncestry(out []auditevent.Process, pid, max int) []auditevent.Process {
	p, ok := t[pid]
	for n := 0; ok && n < max; n++ {
		q, ok2 := t[p.PPID]
		if !ok2 || q.PID == p.PID {
			break
		}
		out = append(out, q)
		p = q
	}
	return out
}

// chain builds a tree: procs[0] is the acting process (its pid is pid),
// each next one the parent of the previous.
func chain(pid int, procs ...auditevent.Process) tree {
	t := tree{}
	for i := range procs {
		p := procs[i]
		p.PID = pid + i
		if i+1 < len(procs) {
			p.PPID = pid + i + 1
		}
		t[p.PID] = p
	}
	return t
}

func proc(exe string, args ...string) auditevent.Process {
	return auditevent.Process{Exe: exe, Comm: auditevent.BaseName(exe), Args: args, Cwd: "/"}
}

// execd is proc with its argv from an EXECVE record (its exec was
// audited), not from memory the process can rewrite.
func execd(exe string, args ...string) auditevent.Process {
	p := proc(exe, args...)
	p.ArgsFromExec = true
	return p
}

// exclusionCase is one vendor exclusion tried as the vendor meant it
// (suppressed, by its reason) and as an attacker would borrow it (alerted;
// refused names the exclusion and why when its criteria matched).
type exclusionCase struct {
	name       string
	lines      []string
	st         State
	suppressed string // the reason, or "" for an alert
	refused    string // prefix of Alert.ExclusionRefused on an alert
}

// owned are the programs of the test system's package "genuine";
// tampered are listed with another checksum; loose exist, unowned.
var (
	ownedPrograms = []string{
		"/usr/bin/kmod", "/usr/bin/bash", "/usr/bin/dash", "/usr/sbin/veeamsnap-loader", "/usr/bin/kcarectl", "/usr/bin/python3.11",
		"/usr/sbin/mkinitramfs", "/usr/share/initramfs-tools/hooks/zz-other", "/usr/bin/podman", "/usr/sbin/kdump-config",
		"/usr/bin/kdumpctl", "/usr/bin/dpkg", "/usr/bin/dpkg-divert", "/usr/bin/apt-get", "/usr/bin/sed", "/usr/bin/perl",
		"/usr/sbin/e2scrub_all", "/usr/sbin/crond", "/usr/bin/cp", "/usr/bin/mv", "/usr/bin/cpio", "/usr/sbin/dkms",
		"/usr/sbin/lynis", "/usr/bin/rpm", "/usr/lib/python3/dist-packages/tuned/x.py", "/usr/lib/kernelcare/updater.py",
		"/opt/ds_agent/dsa", "/usr/sbin/kexec", "/usr/bin/insmod-wrapper",
	}
	tamperedPrograms = []string{"/usr/bin/chef-client", "/usr/sbin/veeamworker"}
	loosePrograms    = []string{"/usr/local/sbin/crond", "/opt/x/executor", "/tmp/evil.py", "/opt/ds_agent/evil", "/tmp/kmod",
		"/usr/local/bin/kdumpctl", "/usr/local/bin/lynis", "/var/lib/snapd/snaps/lxd_123.snap", "/var/lib/snapd/snaps/core_1.snap",
		"/var/tmp/rpm-tmp.42"}
)

// createBy is create with the process's own command line in PROCTITLE,
// as the kernel records it.
func createBy(exe, cwd, name string, argv ...string) []string {
	lines := create(exe, auditevent.BaseName(exe), cwd, name)
	lines[len(lines)-1] = `type=PROCTITLE msg=audit(1700000000.100:42): proctitle=` + strings.ToUpper(hex.EncodeToString([]byte(strings.Join(argv, "\x00"))))
	return lines
}

func runExclusionCases(t *testing.T, r Detection, cases []exclusionCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alerts := evalOne(r, event(t, tc.lines...), tc.st)
			if len(alerts) != 1 {
				t.Fatalf("%d alerts, want 1", len(alerts))
			}
			a := alerts[0]
			if a.Suppressed != tc.suppressed {
				t.Fatalf("suppressed %q (refused %q), want %q", a.Suppressed, a.ExclusionRefused, tc.suppressed)
			}
			if !strings.HasPrefix(a.ExclusionRefused, tc.refused) || (tc.refused == "" && a.ExclusionRefused != "") {
				t.Errorf("refused %q, want %q", a.ExclusionRefused, tc.refused)
			}
		})
	}
}

func TestE1Exclusions(t *testing.T) {
	sys := newTestSystem(t, ownedPrograms, loosePrograms, tamperedPrograms)
	r := withProvenance(newKmodLoadTool(nil), sys.v)
	insmod := execve(700, 650, 0, "insmod", "/usr/bin/kmod", "/", "insmod", "/lib/x.ko")
	kid := proc("/usr/bin/kmod", "insmod", "/lib/x.ko")
	parent := func(p auditevent.Process) tree { return chain(700, kid, p) }
	withCwd := func(p auditevent.Process, cwd string) auditevent.Process { p.Cwd = cwd; return p }
	runExclusionCases(t, r, []exclusionCase{
		{"security agent parent", insmod, chain(700, kid, proc("/opt/ds_agent/dsa")), "security-agent", ""},
		{"abuse: unowned program under the agent's directory", insmod, chain(700, kid, proc("/opt/ds_agent/evil")), "", "security-agent/not-package-owned"},
		{"agent working directory with the agent parent", insmod, chain(700, withCwd(kid, "/opt/ds_agent"), proc("/opt/ds_agent/dsa")), "security-agent", ""},
		{"abuse: cd into the agent's directory from a shell", execve(700, 650, 0, "insmod", "/usr/bin/kmod", "/opt/ds_agent", "insmod", "/lib/x.ko"),
			chain(700, withCwd(kid, "/opt/ds_agent"), proc("/usr/bin/bash", "bash")), "", ""},
		{"vendor loader", insmod, parent(proc("/usr/sbin/veeamsnap-loader")), "vendor-loader", ""},
		{"abuse: vendor loader overwritten", insmod, parent(proc("/usr/sbin/veeamworker")), "", "vendor-loader/modified"},
		{"vendor loader script (kcarectl under python)", insmod, parent(execd("/usr/bin/python3.11", "python3", "/usr/bin/kcarectl", "--update")), "vendor-loader", ""},
		{"abuse: python -c naming kcarectl", insmod, parent(proc("/usr/bin/python3.11", "python3", "-c", "import os", "/usr/bin/kcarectl")), "", ""},
		{"vendor exact path outside packages", insmod, parent(proc("/opt/commvault/Base/linux_drv")), "vendor-loader", ""},
		{"mkinitramfs (a shell script)", insmod, parent(execd("/usr/bin/dash", "/bin/sh", "/usr/sbin/mkinitramfs", "-o", "/tmp/x")), "vendor-loader", ""},
		{"lxd from an installed snap", insmod, parent(proc("/snap/lxd/123/sbin/lxd")), "vendor-loader", ""},
		{"abuse: lxd at a revision no snap installed", insmod, parent(proc("/snap/lxd/999/sbin/lxd")), "", "vendor-loader/not-installed-snap"},
		{"package update script", insmod, parent(execd("/usr/bin/python3.11", "python3", "/usr/lib/kernelcare/updater.py", "--auto-update")), "package-update", ""},
		{"abuse: python script in /tmp with --auto-update", insmod, parent(execd("/usr/bin/python3.11", "python3", "/tmp/evil.py", "--auto-update")), "", "package-update/script-not-package-owned"},
		{"kernel autoload of net-pf-10", execve(700, 2, 4294967295, "modprobe", "/usr/bin/kmod", "/", "/sbin/modprobe", "-q", "--", "net-pf-10"), nil, "kernel-autoload", ""},
		{"abuse: net-pf-10 as a module parameter", execve(700, 2, 4294967295, "modprobe", "/usr/bin/kmod", "/", "/sbin/modprobe", "-q", "--", "evil", "net-pf-10"), nil, "", ""},
		{"abuse: a kmod look-alike", execve(700, 2, 4294967295, "modprobe", "/tmp/kmod", "/", "/sbin/modprobe", "-q", "--", "net-pf-10"), nil, "", "kernel-autoload/not-package-owned"},
		{"abuse: --showconfig as a parameter after --", execve(700, 650, 0, "modprobe", "/usr/bin/kmod", "/", "modprobe", "evil", "--", "--showconfig"), nil, "", ""},
		{"initramfs hook script", insmod, parent(execd("/usr/bin/dash", "/bin/sh", "/usr/share/initramfs-tools/hooks/zz-other")), "initramfs-hook", ""},
		{"abuse: hook path as a shell argument", insmod, parent(proc("/usr/bin/bash", "bash", "-c", "insmod /lib/x.ko", "/usr/share/initramfs-tools/hooks/zz-other")), "", ""},
	})
}

func TestE4Exclusions(t *testing.T) {
	sys := newTestSystem(t, ownedPrograms, loosePrograms, tamperedPrograms)
	r := withProvenance(newModuleLoadLocation(nil), sys.v)
	kid := func(cwd string) auditevent.Process {
		p := proc("/usr/bin/kmod", "insmod", "/lib/x.ko")
		p.Cwd = cwd
		return p
	}
	ev := func(cwd string) []string {
		return execve(700, 650, 0, "insmod", "/usr/bin/kmod", cwd, "insmod", "/lib/x.ko")
	}
	runExclusionCases(t, r, []exclusionCase{
		{"podman parent", ev("/tmp"), chain(700, kid("/tmp"), proc("/usr/bin/podman")), "container-build", ""},
		{"/tmp/newroot under podman", ev("/tmp/newroot"), chain(700, kid("/tmp/newroot"), proc("/usr/bin/dash", "sh"), proc("/usr/bin/podman")), "container-build", ""},
		{"abuse: /tmp/newroot from a shell", ev("/tmp/newroot"), chain(700, kid("/tmp/newroot"), proc("/usr/bin/bash", "bash")), "", "container-build/no-ancestor"},
		{"abuse: the widened prefix /tmp/newroot2", ev("/tmp/newroot2"), chain(700, kid("/tmp/newroot2"), proc("/usr/bin/dash", "sh"), proc("/usr/bin/podman")), "", ""},
	})
}

func TestE5Exclusions(t *testing.T) {
	sys := newTestSystem(t, ownedPrograms, loosePrograms, tamperedPrograms)
	r := withProvenance(newKmodUnloadTool(nil), sys.v)
	rm := execve(700, 650, 0, "rmmod", "/usr/bin/kmod", "/", "rmmod", "x")
	kid := proc("/usr/bin/kmod", "rmmod", "x")
	runExclusionCases(t, r, []exclusionCase{
		{"rpm scriptlet", rm, chain(700, kid, proc("/usr/bin/dash", "/bin/sh", "/var/tmp/rpm-tmp.42"), proc("/usr/bin/rpm", "rpm", "-U", "x.rpm")), "rpm-scriptlet", ""},
		{"abuse: an rpm-tmp script without rpm", rm, chain(700, kid, proc("/usr/bin/dash", "/bin/sh", "/var/tmp/rpm-tmp.42")), "", "rpm-scriptlet/no-package-manager"},
		{"abuse: NVIDIA's directory name", execve(700, 650, 0, "rmmod", "/usr/bin/kmod", "/tmp/makeself.1/NVIDIA-Linux-x", "rmmod", "x"), nil, "", "nvidia-installer/unverifiable"},
	})
}

func TestE13Exclusions(t *testing.T) {
	sys := newTestSystem(t, ownedPrograms, loosePrograms, tamperedPrograms)
	r := withProvenance(newKexecLoad(nil), sys.v)
	kx := execve(700, 650, 0, "kexec", "/usr/sbin/kexec", "/", "kexec", "-p", "--load", "/boot/vmlinuz")
	kid := proc("/usr/sbin/kexec", "kexec", "-p", "--load", "/boot/vmlinuz")
	runExclusionCases(t, r, []exclusionCase{
		{"kdumpctl (a script)", kx, chain(700, kid, execd("/usr/bin/bash", "/bin/bash", "/usr/bin/kdumpctl", "restart")), "kdump", ""},
		{"kdump-config (a script)", kx, chain(700, kid, execd("/usr/bin/bash", "/bin/bash", "/usr/sbin/kdump-config", "load")), "kdump", ""},
		{"abuse: a perl parent that rewrote its argv to name kdumpctl", kx, chain(700, kid, proc("/usr/bin/perl", "/bin/bash", "/usr/bin/kdumpctl")), "", "kdump/script-argv-rewritable"},
		{"abuse: a bash parent whose argv is not from its exec", kx, chain(700, kid, proc("/usr/bin/bash", "/bin/bash", "/usr/bin/kdumpctl")), "", "kdump/script-argv-rewritable"},
		{"abuse: kdumpctl copied to /usr/local/bin", kx, chain(700, kid, proc("/usr/local/bin/kdumpctl")), "", "kdump/not-package-owned"},
		{"abuse: the kdump path as any argument", kx, chain(700, kid, proc("/usr/bin/bash", "bash", "-c", "kexec -l x", "/usr/sbin/kdump-config")), "", ""},
	})
}

func TestE9Exclusions(t *testing.T) {
	sys := newTestSystem(t, ownedPrograms, loosePrograms, tamperedPrograms)
	r := withProvenance(newConfigFileCreation(nil, nil), sys.v)
	at := func(exe string, args ...string) tree { return chain(11, proc(exe, args...)) }
	under := func(p auditevent.Process, ancestors ...auditevent.Process) tree {
		return chain(11, append([]auditevent.Process{p}, ancestors...)...)
	}
	dpkg := proc("/usr/bin/dpkg", "dpkg", "-i", "x.deb")
	conf := "/etc/modprobe.d/x.conf"
	runExclusionCases(t, r, []exclusionCase{
		{"dpkg", create("/usr/bin/dpkg", "dpkg", "/", conf), at("/usr/bin/dpkg", "dpkg", "--unpack"), "package-manager", ""},
		{"dpkg-divert under dpkg", create("/usr/bin/dpkg-divert", "dpkg-divert", "/", conf), under(proc("/usr/bin/dpkg-divert"), proc("/usr/bin/dash", "/bin/sh", "/var/lib/dpkg/info/x.preinst"), dpkg), "package-manager", ""},
		{"abuse: dpkg-divert by hand", create("/usr/bin/dpkg-divert", "dpkg-divert", "/", conf), under(proc("/usr/bin/dpkg-divert"), proc("/usr/bin/bash", "bash")), "", "package-manager/no-package-manager"},
		{"abuse: chef-client overwritten", create("/usr/bin/chef-client", "chef-client", "/", conf), at("/usr/bin/chef-client"), "", "package-manager/modified"},
		{"crond", create("/usr/sbin/crond", "crond", "/", conf), at("/usr/sbin/crond"), "system-agent", ""},
		{"abuse: a copy at /usr/local/sbin/crond", create("/usr/local/sbin/crond", "crond", "/", conf), at("/usr/local/sbin/crond"), "", "system-agent/not-package-owned"},
		{"abuse: /opt/x/executor", create("/opt/x/executor", "executor", "/", conf), at("/opt/x/executor"), "", "system-agent/not-package-owned"},
		{"perl running a package-owned script", createBy("/usr/bin/perl", "/", conf, "perl", "/usr/sbin/e2scrub_all"), chain(11, execd("/usr/bin/perl", "perl", "/usr/sbin/e2scrub_all")), "system-agent", ""},
		{"abuse: perl with $0 rewritten to a package-owned script", createBy("/usr/bin/perl", "/", conf, "perl", "/usr/sbin/e2scrub_all"), nil, "", "system-agent/script-argv-rewritable"},
		{"abuse: perl -e", createBy("/usr/bin/perl", "/", conf, "perl", "-e", "open F, '>/etc/modprobe.d/x.conf'"), nil, "", "system-agent/interpreter-without-script"},
		{"python running a package-owned script", createBy("/usr/bin/python3.11", "/", conf, "python3", "/usr/lib/python3/dist-packages/tuned/x.py"), chain(11, execd("/usr/bin/python3.11", "python3", "/usr/lib/python3/dist-packages/tuned/x.py")), "python", ""},
		{"abuse: python3 -c", createBy("/usr/bin/python3.11", "/", conf, "python3", "-c", "open('/etc/modprobe.d/x.conf','w')"), nil, "", "python/interpreter-without-script"},
		{"abuse: python3 /tmp/evil.py", createBy("/usr/bin/python3.11", "/", conf, "python3", "/tmp/evil.py"), chain(11, execd("/usr/bin/python3.11", "python3", "/tmp/evil.py")), "", "python/script-not-package-owned"},
		{"sed's temporary file under dpkg", create("/usr/bin/sed", "sed", "/etc/modprobe.d", "sedAbC123"), under(proc("/usr/bin/sed", "sed", "-i", "s/a/b/", conf), proc("/usr/bin/dash", "sh"), dpkg), "sed-temp-file", ""},
		{"abuse: a sed temporary name outside a package manager", create("/usr/bin/sed", "sed", "/etc/modprobe.d", "sedAbC123"), at("/usr/bin/sed", "sed", "-i", "x", conf), "", "sed-temp-file/no-package-manager"},
		{"abuse: sed.conf, read by modprobe", create("/usr/bin/sed", "sed", "/etc/modprobe.d", "sed.conf"), under(proc("/usr/bin/sed", "sed"), dpkg), "", "sed-temp-file/loader-reads-file"},
		{"a .dpkg-new renamed under dpkg", rename("/usr/bin/mv", "/etc/modules-load.d/x.conf.dpkg-new", "/etc/modules-load.d/x.conf"), chain(12, proc("/usr/bin/mv", "mv"), dpkg), "dpkg-new-rename", ""},
		{"abuse: a planted .dpkg-new renamed by hand", rename("/usr/bin/mv", "/etc/modules-load.d/x.conf.dpkg-new", "/etc/modules-load.d/x.conf"), chain(12, proc("/usr/bin/mv", "mv"), proc("/usr/bin/bash", "bash")), "", "dpkg-new-rename/no-package-manager"},
		{"an editor swap file (inert)", create("/usr/bin/bash", "vim", "/", "/etc/modprobe.d/.x.conf.swp"), at("/usr/bin/bash"), "editor-swap-file", ""},
		{"an installed snap", create("/snap/core/1/usr/bin/x", "x", "/", conf), at("/snap/core/1/usr/bin/x"), "package-manager", ""},
		{"abuse: a file under /snap from no snap", create("/snap/fake/1/x", "x", "/", conf), at("/snap/fake/1/x"), "", "package-manager/not-installed-snap"},
		{"abuse: /tmp/vmis.* (anybody's)", create("/tmp/vmis.x/installer", "installer", "/", conf), at("/tmp/vmis.x/installer"), "", "package-manager/unverifiable"},
		{"abuse: /nix/store", create("/nix/store/abc-x/bin/x", "x", "/", conf), at("/nix/store/abc-x/bin/x"), "", "package-manager/unverifiable"},
	})
}

func TestE14E15Exclusions(t *testing.T) {
	sys := newTestSystem(t, ownedPrograms, loosePrograms, tamperedPrograms)
	r := withProvenance(newConfigFileChange(nil, nil), sys.v)
	at := func(exe string, args ...string) tree { return chain(11, proc(exe, args...)) }
	runExclusionCases(t, r, []exclusionCase{
		{"lynis (a script) on /etc/modprobe.conf", createBy("/usr/bin/dash", "/", "/etc/modprobe.conf", "/bin/sh", "/usr/sbin/lynis", "audit", "system"), chain(11, execd("/usr/bin/dash", "/bin/sh", "/usr/sbin/lynis", "audit", "system")), "system-tool", ""},
		{"abuse: lynis copied to /usr/local/bin", create("/usr/local/bin/lynis", "lynis", "/", "/etc/modprobe.conf"), at("/usr/local/bin/lynis"), "", "system-tool/not-package-owned"},
		{"a .dpkg-new in a udev rules directory (inert)", create("/usr/bin/bash", "bash", "/", "/etc/udev/rules.d/x.rules.dpkg-new"), at("/usr/bin/bash"), "package-manager-temp", ""},
		{"udev's temporary name", create("/usr/bin/bash", "bash", "/", "/run/udev/rules.d/x.rules.tmp"), at("/usr/bin/bash"), "temp-file", ""},
		{"abuse: a rules file matching *rules.*", create("/usr/bin/bash", "bash", "/", "/run/udev/rules.d/a-rules.b.rules"), at("/usr/bin/bash"), "", "temp-file/loader-reads-file"},
	})
}

func TestE8Exclusions(t *testing.T) {
	sys := newTestSystem(t, ownedPrograms, loosePrograms, tamperedPrograms)
	r := withProvenance(newKoFileCreation(nil, nil), sys.v)
	under := func(p auditevent.Process, ancestors ...auditevent.Process) tree {
		return chain(11, append([]auditevent.Process{p}, ancestors...)...)
	}
	runExclusionCases(t, r, []exclusionCase{
		{"dkms build tree", create("/usr/bin/cp", "cp", "/", "/var/lib/dkms/x/1/x.ko"), under(proc("/usr/bin/cp", "cp"), execd("/usr/bin/bash", "/bin/bash", "/usr/sbin/dkms", "build")), "build-or-initramfs", ""},
		{"abuse: a .ko dropped in the dkms tree by hand", create("/usr/bin/cp", "cp", "/", "/var/lib/dkms/x/1/x.ko"), under(proc("/usr/bin/cp", "cp"), proc("/usr/bin/bash", "bash")), "", "build-or-initramfs/no-ancestor"},
		{"cpio for mkinitramfs", create("/usr/bin/cpio", "cpio", "/", "/tmp/x/y.ko"), under(proc("/usr/bin/cpio", "cpio", "-i"), execd("/usr/bin/dash", "/bin/sh", "/usr/sbin/mkinitramfs")), "archive-extraction", ""},
		{"abuse: cpio alone", create("/usr/bin/cpio", "cpio", "/", "/tmp/x/y.ko"), under(proc("/usr/bin/cpio", "cpio", "-i"), proc("/usr/bin/bash", "bash")), "", "archive-extraction/no-ancestor"},
		{"abuse: /tmp/mkinitramfs* created by anybody", create("/usr/bin/cp", "cp", "/", "/tmp/mkinitramfs_x/y.ko"), under(proc("/usr/bin/cp", "cp"), proc("/usr/bin/bash", "bash")), "", "build-or-initramfs/no-ancestor"},
		{"dpkg installing a module", create("/usr/bin/dpkg", "dpkg", "/", "/usr/lib/modules/6.1/x.ko"), under(proc("/usr/bin/dpkg", "dpkg")), "package-manager", ""},
	})
}

// TestExclusionsFailClosedWithoutProvenance: with no verifier (a replay of
// another host's log) an exclusion needing provenance never applies.
func TestExclusionsFailClosedWithoutProvenance(t *testing.T) {
	r := newConfigFileCreation(nil, nil)
	a := evalOne(r, event(t, create("/usr/bin/dpkg", "dpkg", "/", "/etc/modprobe.d/x.conf")...), chain(11, proc("/usr/bin/dpkg", "dpkg")))
	if len(a) != 1 || a[0].Suppressed != "" || a[0].ExclusionRefused != "package-manager/no-provenance" {
		t.Fatalf("%+v", a)
	}
}

// TestExclusionsFailClosedWithoutPackageDatabase: on a system without a
// package database (a minimal container) the real dpkg is not excluded:
// nothing proves it, and the refusal says why.
func TestExclusionsFailClosedWithoutPackageDatabase(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/bin/dpkg"), []byte("dpkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := withProvenance(newConfigFileCreation(nil, nil), provenance.New(root, nil))
	a := evalOne(r, event(t, create("/usr/bin/dpkg", "dpkg", "/", "/etc/modprobe.d/x.conf")...), chain(11, proc("/usr/bin/dpkg", "dpkg")))
	if len(a) != 1 || a[0].Suppressed != "" || a[0].ExclusionRefused != "package-manager/"+provenance.NoPackageDB {
		t.Fatalf("%+v", a)
	}
}

// TestExclusionsNotProvenForAnotherHost: an event another machine sent
// (node=) is not proven by this machine's files.
func TestExclusionsNotProvenForAnotherHost(t *testing.T) {
	sys := newTestSystem(t, ownedPrograms, loosePrograms, tamperedPrograms)
	r := withProvenance(newConfigFileCreation(nil, nil), sys.v)
	lines := create("/usr/bin/dpkg", "dpkg", "/", "/etc/modprobe.d/x.conf")
	for i := range lines {
		lines[i] = "node=hostB " + lines[i]
	}
	a := evalOne(r, event(t, lines...), chain(11, proc("/usr/bin/dpkg", "dpkg")))
	if len(a) != 1 || a[0].Suppressed != "" || a[0].ExclusionRefused != "package-manager/other-host" {
		t.Fatalf("%+v", a)
	}
	// The same event from this machine is dpkg's.
	a = evalOne(r, event(t, create("/usr/bin/dpkg", "dpkg", "/", "/etc/modprobe.d/x.conf")...), chain(11, proc("/usr/bin/dpkg", "dpkg")))
	if len(a) != 1 || a[0].Suppressed != "package-manager" {
		t.Fatalf("%+v", a)
	}
}
