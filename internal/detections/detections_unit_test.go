package detections

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/toolargs"
)

// fakeState is a process table for the rules' State view.
type fakeState map[int]auditevent.Process

func (f fakeState) Process(pid int) (auditevent.Process, bool) { p, ok := f[pid]; return p, ok }
func (f fakeState) Parent(pid int) (auditevent.Process, bool) {
	p, ok := f[pid]
	if !ok {
		return auditevent.Process{}, false
	}
	q, ok := f[p.PPID]
	return q, ok
}
func (f fakeState) Ancestry(int, int) []auditevent.Process { return nil }
func (f fakeState) AppendAncestry(dst []auditevent.Process, _, _ int) []auditevent.Process {
	return dst
}

// evalOne evaluates r alone over ev, without correlation facts.
func evalOne(r Detection, ev *auditevent.Event, st State) []Alert {
	return EvaluateOne(r, ev, correlate.Facts{}, st)
}

func TestKmodInvocation(t *testing.T) {
	tests := []struct {
		name, comm, exe string
		args            []string
		op              toolargs.Op
		tool            string
		modules         string
	}{
		{"insmod through the kmod symlink", "insmod", "/usr/bin/kmod", []string{"insmod", "/tmp/x.ko", "a=1"}, toolargs.Load, "insmod", "/tmp/x.ko"},
		{"modprobe with options", "modprobe", "/usr/bin/kmod", []string{"/sbin/modprobe", "-v", "-C", "/etc/x", "dummy", "numdummies=2"}, toolargs.Load, "modprobe", "dummy"},
		{"modprobe -r", "modprobe", "/usr/bin/kmod", []string{"modprobe", "-r", "dummy"}, toolargs.Unload, "modprobe", "dummy"},
		{"modprobe --remove", "modprobe", "/usr/bin/kmod", []string{"modprobe", "--remove", "dummy"}, toolargs.Unload, "modprobe", "dummy"},
		{"modprobe with -r last (Splunk P4 misses it)", "modprobe", "/usr/bin/kmod", []string{"modprobe", "dummy", "-r"}, toolargs.Unload, "modprobe", "dummy"},
		{"modprobe -qr combined", "modprobe", "/usr/bin/kmod", []string{"modprobe", "-qr", "dummy"}, toolargs.Unload, "modprobe", "dummy"},
		{"modprobe -C r is a config dir, not remove", "modprobe", "/usr/bin/kmod", []string{"modprobe", "-Cr", "dummy"}, toolargs.Load, "modprobe", "dummy"},
		{"-r after -- is a module name", "modprobe", "/usr/bin/kmod", []string{"modprobe", "--", "-r"}, toolargs.Load, "modprobe", "-r"},
		{"rmmod", "rmmod", "/usr/bin/kmod", []string{"rmmod", "dummy"}, toolargs.Unload, "rmmod", "dummy"},
		{"kmod insmod subcommand", "kmod", "/bin/kmod", []string{"kmod", "insmod", "/tmp/x.ko"}, toolargs.Load, "insmod", "/tmp/x.ko"},
		{"busybox applet", "busybox", "/bin/busybox", []string{"busybox", "insmod", "/tmp/x.ko"}, toolargs.Load, "insmod", "/tmp/x.ko"},
		{"busybox symlink", "insmod", "/bin/busybox", []string{"insmod", "/tmp/x.ko"}, toolargs.Load, "insmod", "/tmp/x.ko"},
		{"comm alone, no argv", "rmmod", "/usr/bin/kmod", nil, toolargs.Unload, "rmmod", ""},
		{"kmod list is not a load", "kmod", "/usr/bin/kmod", []string{"kmod", "list"}, toolargs.Query, "kmod", ""},
		{"lsmod is not a load", "lsmod", "/usr/bin/kmod", []string{"lsmod"}, toolargs.Query, "lsmod", ""},
		{"a shell is nothing", "bash", "/usr/bin/bash", []string{"bash", "-c", "insmod"}, toolargs.NotKmod, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := auditevent.Process{Comm: tc.comm, Exe: tc.exe, Args: tc.args}
			c := kmodInvocation(&p)
			mods := ""
			if len(c.Modules) > 0 {
				mods = c.Modules[0]
			}
			if c.Op != tc.op || c.Tool != tc.tool || mods != tc.modules {
				t.Errorf("got op %d tool %q module %q, want %d %q %q", c.Op, c.Tool, mods, tc.op, tc.tool, tc.modules)
			}
		})
	}
}

// execve builds this kernel's records for an execve of exe with argv.
func execve(pid, ppid int, auid uint32, comm, exe, cwd string, argv ...string) []string {
	lines := []string{
		fmt.Sprintf(`type=SYSCALL msg=audit(1700000000.500:60): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=%d pid=%d auid=%d uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=%q exe=%q key="auditlkm-kmod"`, ppid, pid, auid, comm, exe),
	}
	ex := fmt.Sprintf(`type=EXECVE msg=audit(1700000000.500:60): argc=%d`, len(argv))
	for i, a := range argv {
		ex += fmt.Sprintf(" a%d=%q", i, a)
	}
	return append(lines, ex, fmt.Sprintf(`type=CWD msg=audit(1700000000.500:60): cwd=%q`, cwd))
}

func TestKernelAutoload(t *testing.T) {
	sys := newTestSystem(t, []string{"/usr/bin/kmod", "/usr/sbin/veeamsnap-loader"}, nil, nil)
	r := withProvenance(newKmodLoadTool(nil), sys.v)
	tests := []struct {
		name       string
		lines      []string
		st         State
		action     string
		suppressed string
	}{
		{"modprobe -q -- from kthreadd (ppid 2) is the kernel", execve(700, 2, 4294967295, "modprobe", "/usr/bin/kmod", "/", "/sbin/modprobe", "-q", "--", "fs-overlay"),
			nil, ActionKernelAutoload, ""},
		{"E1's autoload exclusion still suppresses net-pf-10", execve(700, 2, 4294967295, "modprobe", "/usr/bin/kmod", "/", "/sbin/modprobe", "-q", "--", "net-pf-10"),
			nil, ActionKernelAutoload, "kernel-autoload"},
		{"a kworker parent known to the process table is the kernel", execve(700, 650, 4294967295, "modprobe", "/usr/bin/kmod", "/", "/sbin/modprobe", "-q", "--", "fs-overlay"),
			fakeState{700: {PID: 700, PPID: 650}, 650: {PID: 650, Comm: "kworker/u4:1"}}, ActionKernelAutoload, ""},
		{"the same command line from a shell is a person", execve(700, 650, 4294967295, "modprobe", "/usr/bin/kmod", "/", "/sbin/modprobe", "-q", "--", "fs-overlay"),
			fakeState{700: {PID: 700, PPID: 650}, 650: {PID: 650, Exe: "/usr/bin/bash", Comm: "bash"}}, "load-module-tool", ""},
		{"with a login uid it is a person", execve(700, 2, 1000, "modprobe", "/usr/bin/kmod", "/", "/sbin/modprobe", "-q", "--", "fs-overlay"),
			nil, "load-module-tool", ""},
		{"an unknown parent that is not pid 2 is not assumed to be the kernel", execve(700, 650, 4294967295, "modprobe", "/usr/bin/kmod", "/", "/sbin/modprobe", "-q", "--", "fs-overlay"),
			nil, "load-module-tool", ""},
		{"E1 parent exclusion by executable", execve(700, 650, 0, "insmod", "/usr/bin/kmod", "/", "insmod", "/lib/x.ko"),
			fakeState{700: {PID: 700, PPID: 650}, 650: {PID: 650, Exe: "/usr/sbin/veeamsnap-loader"}}, "load-module-tool", "vendor-loader"},
	}
	// modprobe -n -v (E1's CIS check) loads nothing: no load alert at all.
	if a := evalOne(r, event(t, execve(700, 650, 0, "modprobe", "/usr/bin/kmod", "/", "modprobe", "-n", "-v", "cramfs")...), nil); len(a) != 0 {
		t.Errorf("modprobe -n -v: %d alerts, want none", len(a))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := evalOne(r, event(t, tc.lines...), tc.st)
			if len(a) != 1 {
				t.Fatalf("%d alerts, want 1", len(a))
			}
			if a[0].Action != tc.action || a[0].Suppressed != tc.suppressed || a[0].Autoload != (tc.action == ActionKernelAutoload) {
				t.Errorf("action %q suppressed %q autoload %v, want %q %q", a[0].Action, a[0].Suppressed, a[0].Autoload, tc.action, tc.suppressed)
			}
		})
	}
}

func TestModuleLoadKernFormats(t *testing.T) {
	r := newModuleLoad()
	// A successful finit_module with its KERN_MODULE record, as the kernel
	// writes them (audit-testsuite syscall_module), started by the kernel.
	ev := event(t,
		`type=SYSCALL msg=audit(1700000000.100:70): arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=55 a2=0 a3=0 items=0 ppid=2 pid=800 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="modprobe" exe="/usr/bin/kmod" key="auditlkm-module"`,
		`type=KERN_MODULE msg=audit(1700000000.100:70): name="arp_tables"`,
		`type=PROCTITLE msg=audit(1700000000.100:70): proctitle=2F7362696E2F6D6F6470726F6265002D71002D2D006172705F7461626C6573`)
	a := evalOne(r, ev, nil)
	if len(a) != 1 || a[0].Action != ActionKernelAutoload || a[0].Severity != Low || ev.Module != "arp_tables" {
		t.Errorf("kernel autoload of arp_tables: %+v", a)
	}
	// S2: authencesn through modprobe.
	ev = event(t,
		`type=SYSCALL msg=audit(1700000000.100:71): arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=55 a2=0 a3=0 items=0 ppid=2 pid=801 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="modprobe" exe="/usr/bin/kmod" key="auditlkm-module"`,
		`type=KERN_MODULE msg=audit(1700000000.100:71): name="authencesn"`)
	if a := evalOne(r, ev, nil); len(a) != 1 || a[0].Severity != Critical {
		t.Errorf("authencesn: %+v", a)
	}
	// E3: a non-root caller is high even when refused.
	ev = event(t, `type=SYSCALL msg=audit(1700000000.100:72): arch=40000003 syscall=350 success=no exit=-1 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=802 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="x" exe="/usr/local/bin/x" key=(null)`)
	if a := evalOne(r, ev, nil); len(a) != 1 || a[0].Severity != High {
		t.Errorf("non-root: %+v", a)
	}
}

func TestModuleUnloadAndKexecAndBPF(t *testing.T) {
	del := event(t,
		`type=SYSCALL msg=audit(1700000000.100:80): arch=c000003e syscall=176 success=yes exit=0 a0=55 a1=800 a2=0 a3=0 items=0 ppid=1 pid=900 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="rmmod" exe="/usr/bin/kmod" key=(null)`,
		`type=KERN_MODULE msg=audit(1700000000.100:80): name="falcon_lsm_serviceable"`)
	if a := evalOne(newModuleUnload(), del, nil); len(a) != 1 || a[0].Action != "unloaded-kernel-module" {
		t.Errorf("delete_module: %+v", a)
	}
	if a := evalOne(newModuleLoad(), del, nil); len(a) != 0 {
		t.Error("delete_module (with its KERN_MODULE record) was taken for a load")
	}
	kx := event(t, `type=SYSCALL msg=audit(1700000000.100:81): arch=c000003e syscall=320 success=yes exit=0 a0=3 a1=4 a2=0 a3=0 items=0 ppid=1 pid=901 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="kexec" exe="/usr/sbin/kexec" key=(null)`)
	if a := evalOne(newKexecLoad(nil), kx, nil); len(a) != 1 || a[0].Severity != High || a[0].Action != "kexec_file_load" {
		t.Errorf("kexec_file_load: %+v", a)
	}
	kdump := event(t, execve(902, 903, 0, "kexec", "/usr/sbin/kexec", "/", "kexec", "-p", "--load", "/boot/vmlinuz")...)
	sys := newTestSystem(t, []string{"/usr/bin/bash", "/usr/sbin/kdump-config"}, nil, nil)
	if a := evalOne(withProvenance(newKexecLoad(nil), sys.v), kdump, fakeState{902: {PID: 902, PPID: 903}, 903: {PID: 903, Exe: "/usr/bin/bash", Args: []string{"/bin/bash", "/usr/sbin/kdump-config"}, ArgsFromExec: true}}); len(a) != 1 || a[0].Suppressed != "kdump" {
		t.Errorf("kexec from kdump-config: %+v", a)
	}
	// A BPF record alone (bpf(2) not audited): still an alert, no process.
	lone := event(t, `type=BPF msg=audit(1700000000.100:82): prog-id=12 op=LOAD`)
	if a := evalOne(newBPFProgramLoad(nil), lone, nil); len(a) != 1 {
		t.Errorf("standalone BPF LOAD: %+v", a)
	}
	unload := event(t, `type=BPF msg=audit(1700000000.100:83): prog-id=12 op=UNLOAD`)
	if a := evalOne(newBPFProgramLoad(nil), unload, nil); len(a) != 0 {
		t.Errorf("BPF UNLOAD alerted: %+v", a)
	}
	for _, args := range [][]string{{"bpftool", "prog", "show"}, {"bpftool", "-j", "map", "dump", "id", "3"}} {
		if a := evalOne(newBPFToolLoad(), event(t, execve(1, 1, 0, "bpftool", "/usr/sbin/bpftool", "/", args...)...), nil); len(a) != 0 {
			t.Errorf("%v alerted", args)
		}
	}
	if a := evalOne(newBPFToolLoad(), event(t, execve(1, 1, 0, "bpftool", "/usr/sbin/bpftool", "/", "bpftool", "-d", "link", "pin", "id", "1", "/sys/fs/bpf/x")...), nil); len(a) != 1 {
		t.Error("bpftool link pin did not alert")
	}
}

func TestModuleSysctlWrite(t *testing.T) {
	r := newModuleSysctlWrite(nil)
	write := func(flags, name string) []string {
		return []string{
			fmt.Sprintf(`type=SYSCALL msg=audit(1700000000.100:90): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55 a2=%s a3=0 items=1 ppid=1 pid=950 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="sysctl" exe="/usr/sbin/sysctl" key="auditlkm-config"`, flags),
			fmt.Sprintf(`type=PATH msg=audit(1700000000.100:90): item=0 name=%q inode=2056 dev=00:15 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL`, name),
		}
	}
	if a := evalOne(r, event(t, write("241", "/proc/sys/kernel/modprobe")...), nil); len(a) != 1 || a[0].Severity != Critical {
		t.Errorf("modprobe_path write: %+v", a)
	}
	if a := evalOne(r, event(t, write("1", "/proc/sys/kernel/modules_disabled")...), nil); len(a) != 1 || a[0].Severity != High {
		t.Errorf("modules_disabled write: %+v", a)
	}
	if a := evalOne(r, event(t, write("0", "/proc/sys/kernel/modprobe")...), nil); len(a) != 0 {
		t.Errorf("a read alerted: %+v", a)
	}
}

// TestDirIndexResolvesDirfd places files created through a directory fd
// and a symlinked directory by their PARENT item's identity, against a
// temporary tree standing in for /.
func TestDirIndexResolvesDirfd(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/modprobe.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, "etc/modprobe.d"), &st); err != nil {
		t.Fatal(err)
	}
	c, err := NewCatalog(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	var r Detection
	for _, x := range c.Events {
		if x.Definition().ID == ConfigFileCreationID {
			r = x
		}
	}
	dev := FormatDev(st.Dev)
	lines := func(a0, parentName, name string) []string {
		return []string{
			fmt.Sprintf(`type=SYSCALL msg=audit(1700000000.100:95): arch=c000003e syscall=257 success=yes exit=4 a0=%s a1=55 a2=241 a3=1a4 items=2 ppid=1 pid=960 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="evil" exe="/tmp/evil" key=(null)`, a0),
			`type=CWD msg=audit(1700000000.100:95): cwd="/root"`,
			fmt.Sprintf(`type=PATH msg=audit(1700000000.100:95): item=0 name=%q inode=%d dev=%s mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT`, parentName, st.Ino, dev),
			fmt.Sprintf(`type=PATH msg=audit(1700000000.100:95): item=1 name=%q inode=77 dev=%s mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE`, name, dev),
		}
	}
	for _, tc := range []struct{ name, a0, parent, file string }{
		// openat(dirfd, "x.conf"): the kernel logs the cwd as the PARENT name.
		{"openat with a directory fd", "3", "/root", "x.conf"},
		{"a symlinked directory", "ffffff9c", "/tmp/link/", "/tmp/link/x.conf"},
	} {
		a := evalOne(r, event(t, lines(tc.a0, tc.parent, tc.file)...), nil)
		if len(a) != 1 || a[0].File.Path != "/etc/modprobe.d/x.conf" {
			t.Errorf("%s: %+v", tc.name, a)
		}
	}
	// Without the index (Root ""), the dirfd case cannot be placed.
	if a := evalOne(newConfigFileCreation(nil, nil), event(t, lines("3", "/root", "x.conf")...), nil); len(a) != 0 {
		t.Errorf("resolved without an index: %+v", a)
	}
}

func TestConfigFileChangeSedInGapPath(t *testing.T) {
	r := newConfigFileChange(nil, nil)
	rename := []string{
		`type=SYSCALL msg=audit(1700000000.200:99): arch=c000003e syscall=82 success=yes exit=0 a0=1 a1=2 a2=0 a3=0 items=5 ppid=1 pid=970 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="sed" exe="/usr/bin/sed" key=(null)`,
		`type=CWD msg=audit(1700000000.200:99): cwd="/"`,
		`type=PATH msg=audit(1700000000.200:99): item=0 name="/etc/dracut.conf.d/" inode=5 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT`,
		`type=PATH msg=audit(1700000000.200:99): item=1 name="/etc/dracut.conf.d/" inode=5 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT`,
		`type=PATH msg=audit(1700000000.200:99): item=2 name="/etc/dracut.conf.d/sedAb12" inode=9 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=DELETE`,
		`type=PATH msg=audit(1700000000.200:99): item=3 name="/etc/dracut.conf.d/x.conf" inode=8 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=DELETE`,
		`type=PATH msg=audit(1700000000.200:99): item=4 name="/etc/dracut.conf.d/x.conf" inode=9 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE`,
	}
	a := evalOne(r, event(t, rename...), nil)
	if len(a) != 1 || a[0].File.Path != "/etc/dracut.conf.d/x.conf" || a[0].Action != "creation" || a[0].Suppressed != "" || a[0].Severity != Medium {
		t.Errorf("sed -i in dracut.conf.d: %+v", a)
	}
}
