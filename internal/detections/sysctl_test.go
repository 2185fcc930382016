package detections

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestModuleSysctlSpellings: modprobe_path written however the path is
// spelled, as the kernel records it (a -w watch on the file matches by
// inode, so every spelling reaches the daemon on a kernel with modules).
// /proc/sys/kernel/modprobe does not exist on this test machine (modules
// compiled out), so these are records in this kernel's format.
func TestModuleSysctlSpellings(t *testing.T) {
	r := newModuleSysctlWrite(nil)
	rec := func(a0, name, dev string) []string {
		return []string{
			fmt.Sprintf(`type=SYSCALL msg=audit(1700000000.100:90): arch=c000003e syscall=257 success=yes exit=3 a0=%s a1=55 a2=241 a3=1b6 items=1 ppid=1 pid=950 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="sh" exe="/usr/bin/dash" key="auditlkm-config"`, a0),
			`type=CWD msg=audit(1700000000.100:90): cwd="/root"`,
			fmt.Sprintf(`type=PATH msg=audit(1700000000.100:90): item=0 name=%q inode=2056 dev=%s mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL`, name, dev),
		}
	}
	for _, tc := range []struct {
		a0, name, dev string
		want          string
	}{
		{"ffffff9c", "/proc/sys/kernel/modprobe", "00:15", "/proc/sys/kernel/modprobe"},
		{"ffffff9c", "/proc/self/root/proc/sys/kernel/modprobe", "00:15", "/proc/sys/kernel/modprobe"},
		{"ffffff9c", "/proc/thread-self/root/proc/sys/kernel/modprobe", "00:15", "/proc/sys/kernel/modprobe"},
		{"ffffff9c", "/proc/4242/root/proc/sys/kernel/modprobe", "00:15", "/proc/sys/kernel/modprobe"},
		{"ffffff9c", "/proc/4242/task/4243/root/proc/sys/kernel/modprobe", "00:15", "/proc/sys/kernel/modprobe"},
		{"ffffff9c", "/proc/self/root/proc/self/root//proc/sys/kernel/../kernel/modules_disabled", "00:15", "/proc/sys/kernel/modules_disabled"},
		{"ffffff9c", "../proc/sys/kernel/modprobe", "00:15", "/proc/sys/kernel/modprobe"}, // cwd /root
		{"3", "modprobe", "00:15", "/proc/sys/kernel/modprobe"},                           // openat(fd of /proc/sys/kernel)
		{"3", "kernel/modprobe", "00:15", "/proc/sys/kernel/modprobe"},                    // openat(fd of /proc/sys)
		{"3", "./modules_disabled", "00:15", "/proc/sys/kernel/modules_disabled"},
		// Not the knob.
		{"3", "modprobe", "fe:00", ""}, // a file called modprobe on a disk
		{"ffffff9c", "/proc/selfx/root/proc/sys/kernel/modprobe", "00:15", ""},
		{"ffffff9c", "/tmp/proc/sys/kernel/modprobe", "fe:00", ""},
		{"ffffff9c", "/proc/self/cwd/modprobe", "00:15", ""},
	} {
		a := evalOne(r, event(t, rec(tc.a0, tc.name, tc.dev)...), nil)
		switch {
		case tc.want == "" && len(a) != 0:
			t.Errorf("%s (a0=%s dev=%s) alerted: %s", tc.name, tc.a0, tc.dev, a[0].Reason)
		case tc.want != "" && (len(a) != 1 || a[0].File.Path != tc.want):
			t.Errorf("%s (a0=%s): %+v, want %s", tc.name, tc.a0, a, tc.want)
		}
	}
}

// TestSysctlPersistenceReadsTheFile: a sysctl.d file created with a
// kernel.modprobe or kernel.modules_disabled line alerts (content read
// from the live tree); another setting does not.
func TestSysctlPersistenceReadsTheFile(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "etc/sysctl.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	idx, err := newDirIndex(root, indexedDirs(sysctlConfPaths), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newModuleSysctlWrite(idx)
	create := func(name string) []string {
		return []string{
			`type=SYSCALL msg=audit(1700000000.100:91): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55 a2=241 a3=1b6 items=2 ppid=1 pid=951 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="sh" exe="/usr/bin/dash" key="auditlkm-sysctl"`,
			`type=CWD msg=audit(1700000000.100:91): cwd="/"`,
			`type=PATH msg=audit(1700000000.100:91): item=0 name="/etc/sysctl.d/" inode=5 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT`,
			fmt.Sprintf(`type=PATH msg=audit(1700000000.100:91): item=1 name=%q inode=6 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE`, "/etc/sysctl.d/"+name),
		}
	}
	for _, tc := range []struct {
		name, content, key string
	}{
		{"90-evil.conf", "# x\nvm.swappiness = 10\n  -kernel/modprobe =  /tmp/.x/helper \n", "kernel.modprobe"},
		{"91-off.conf", "kernel.modules_disabled=1\n", "kernel.modules_disabled"},
		{"92-benign.conf", "vm.swappiness = 10\n# kernel.modprobe = /x\nkernel.modprobe_other = 1\n", ""},
	} {
		if err := os.WriteFile(filepath.Join(dir, tc.name), []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		a := evalOne(r, event(t, create(tc.name)...), nil)
		switch {
		case tc.key == "" && len(a) != 0:
			t.Errorf("%s alerted: %s", tc.name, a[0].Reason)
		case tc.key != "" && (len(a) != 1 || a[0].Action != "sysctl-persistence" || a[0].File.Path != "/etc/sysctl.d/"+tc.name):
			t.Errorf("%s: %+v", tc.name, a)
		case tc.key != "":
			t.Logf("%s", a[0].Reason)
		}
	}
	if a := evalOne(newModuleSysctlWrite(nil), event(t, create("90-evil.conf")...), nil); len(a) != 0 {
		t.Errorf("replay without the file alerted: %+v", a)
	}
}
