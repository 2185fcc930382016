package detections

import (
	"fmt"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/auditeventtest"
)

func event(t *testing.T, lines ...string) *auditevent.Event {
	t.Helper()
	return auditeventtest.Event(t, lines...)
}

// create builds the records the kernel writes for open(O_CREAT) of name
// by exe in cwd, in this kernel's format.
func create(exe, comm, cwd, name string) []string {
	return []string{
		fmt.Sprintf(`type=SYSCALL msg=audit(1700000000.100:42): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55d0 a2=241 a3=1b6 items=2 ppid=10 pid=11 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=%q exe=%q key="auditlkm-config"`, comm, exe),
		fmt.Sprintf(`type=CWD msg=audit(1700000000.100:42): cwd=%q`, cwd),
		`type=PATH msg=audit(1700000000.100:42): item=0 name="/etc/modprobe.d/" inode=100 dev=fd:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`,
		fmt.Sprintf(`type=PATH msg=audit(1700000000.100:42): item=1 name=%q inode=101 dev=fd:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`, name),
		`type=PROCTITLE msg=audit(1700000000.100:42): proctitle="sh"`,
	}
}

func rename(exe, from, to string) []string {
	return []string{
		fmt.Sprintf(`type=SYSCALL msg=audit(1700000000.200:43): arch=c000003e syscall=82 success=yes exit=0 a0=7ffd a1=7ffe a2=0 a3=0 items=4 ppid=10 pid=12 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="mv" exe=%q key=(null)`, exe),
		`type=CWD msg=audit(1700000000.200:43): cwd="/root"`,
		`type=PATH msg=audit(1700000000.200:43): item=0 name="/tmp/" inode=2 dev=fd:00 mode=041777 ouid=0 ogid=0 rdev=00:00 nametype=PARENT`,
		`type=PATH msg=audit(1700000000.200:43): item=1 name="/etc/modules-load.d/" inode=3 dev=fd:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT`,
		fmt.Sprintf(`type=PATH msg=audit(1700000000.200:43): item=2 name=%q inode=4 dev=fd:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=DELETE`, from),
		fmt.Sprintf(`type=PATH msg=audit(1700000000.200:43): item=3 name=%q inode=4 dev=fd:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE`, to),
	}
}

func TestConfigFileCreation(t *testing.T) {
	sys := newTestSystem(t, []string{"/usr/bin/dpkg", "/usr/bin/python3.11", "/usr/bin/sed", "/usr/bin/mv"}, nil, nil)
	r := withProvenance(newConfigFileCreation(nil, nil), sys.v)
	tests := []struct {
		name       string
		lines      []string
		wantPath   string // "" = no alert
		suppressed string
		action     string
	}{
		{"a shell redirect into modprobe.d alerts", create("/usr/bin/bash", "bash", "/root", "/etc/modprobe.d/evil.conf"), "/etc/modprobe.d/evil.conf", "", "creation"},
		{"a relative name is resolved against the cwd", create("/usr/bin/bash", "bash", "/etc/modprobe.d", "evil.conf"), "/etc/modprobe.d/evil.conf", "", "creation"},
		{"dot-dot and double slashes are cleaned", create("/usr/bin/bash", "bash", "/tmp", "..//etc/./modules-load.d/x.conf"), "/etc/modules-load.d/x.conf", "", "creation"},
		{"/etc/modules itself", create("/usr/bin/tee", "tee", "/", "/etc/modules"), "/etc/modules", "", "creation"},
		{"every E9 directory: /usr/local/lib/modules-load.d", create("/usr/bin/cp", "cp", "/", "/usr/local/lib/modules-load.d/a.conf"), "/usr/local/lib/modules-load.d/a.conf", "", "creation"},
		{"dpkg is excluded by its executable", create("/usr/bin/dpkg", "dpkg", "/", "/lib/modprobe.d/aliases.conf"), "/lib/modprobe.d/aliases.conf", "package-manager", "creation"},
		{"a vim swap file is excluded by extension", create("/usr/bin/vim.basic", "vim", "/", "/etc/modprobe.d/.x.conf.swp"), "/etc/modprobe.d/.x.conf.swp", "editor-swap-file", "creation"},
		{"python without a package-owned script is not excluded", create("/usr/bin/python3.11", "python3", "/", "/etc/modprobe.d/a.conf"), "/etc/modprobe.d/a.conf", "", "creation"},
		{"a python look-alike in /tmp is not excluded", create("/tmp/python3", "python3", "/", "/etc/modprobe.d/a.conf"), "/etc/modprobe.d/a.conf", "", "creation"},
		{"sed -i temp files outside a package manager are not excluded", create("/usr/bin/sed", "sed", "/etc/modprobe.d", "sedAbC123"), "/etc/modprobe.d/sedAbC123", "", "creation"},
		{"a file outside the locations is ignored", create("/usr/bin/bash", "bash", "/", "/etc/modprobe.conf.d/x"), "", "", ""},
		{"a rename into modules-load.d alerts as rename", rename("/usr/bin/mv", "/tmp/x.conf", "/etc/modules-load.d/x.conf"), "/etc/modules-load.d/x.conf", "", "rename"},
		{"a .dpkg-new renamed by mv outside a package manager is not excluded", rename("/usr/bin/mv", "/etc/modules-load.d/x.conf.dpkg-new", "/etc/modules-load.d/x.conf"), "/etc/modules-load.d/x.conf", "", "rename"},
		{"dpkg's own .dpkg-new rename is excluded", rename("/usr/bin/dpkg", "/etc/modules-load.d/x.conf.dpkg-new", "/etc/modules-load.d/x.conf"), "/etc/modules-load.d/x.conf", "package-manager", "rename"},
		{"a failed creation is no creation", []string{
			`type=SYSCALL msg=audit(1700000000.100:42): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=55d0 a2=241 a3=1b6 items=2 ppid=10 pid=11 auid=1000 uid=1000 gid=0 euid=1000 suid=0 fsuid=1000 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="sh" exe="/usr/bin/dash" key=(null)`,
			`type=PATH msg=audit(1700000000.100:42): item=1 name="/etc/modprobe.d/x.conf" nametype=CREATE`}, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alerts := evalOne(r, event(t, tc.lines...), nil)
			if tc.wantPath == "" {
				if len(alerts) != 0 {
					t.Fatalf("got %d alerts, want none: %+v", len(alerts), alerts[0].File)
				}
				return
			}
			if len(alerts) != 1 {
				t.Fatalf("got %d alerts, want 1", len(alerts))
			}
			a := alerts[0]
			if a.File.Path != tc.wantPath || a.Suppressed != tc.suppressed || a.Action != tc.action {
				t.Errorf("alert path=%q suppressed=%q action=%q, want %q %q %q", a.File.Path, a.Suppressed, a.Action, tc.wantPath, tc.suppressed, tc.action)
			}
		})
	}
}

func TestModuleLoad(t *testing.T) {
	r := newModuleLoad()
	tests := []struct {
		name     string
		lines    []string
		severity Severity
		module   string
		file     string
		reason   string
	}{
		{
			name: "a refused finit_module on this kernel (ENOSYS) is a medium alert",
			lines: []string{
				`type=SYSCALL msg=audit(1763790000.123:900): arch=c000003e syscall=313 success=no exit=-38 a0=3 a1=55f0c4e5e2a0 a2=0 a3=0 items=0 ppid=500 pid=501 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="insmod" exe="/usr/bin/kmod" key="auditlkm-module"`,
				`type=CWD msg=audit(1763790000.123:900): cwd="/tmp"`,
				`type=PROCTITLE msg=audit(1763790000.123:900): proctitle=696E736D6F64002E2F726F6F746B69742E6B6F`,
			},
			severity: Medium, file: "/tmp/rootkit.ko", reason: "refused, exit -38",
		},
		{
			// modprobe -q -- iptable_filter with no auid, almost surely a
			// request_module from iptables; but its parent (pid 849) is
			// unknown, so it is not assumed to be the kernel.
			name: "a successful init_module from the RHEL 7 corpus is high",
			lines: []string{
				`type=SYSCALL msg=audit(1576087603.167:43): arch=c000003e syscall=175 success=yes exit=0 a0=2050420 a1=1db5 a2=41a94e a3=204c500 items=0 ppid=849 pid=850 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="modprobe" exe="/usr/bin/kmod" key=(null)`,
				`type=PROCTITLE msg=audit(1576087603.167:43): proctitle=2F7362696E2F6D6F6470726F6265002D71002D2D0069707461626C655F66696C746572`,
			},
			severity: High, reason: "loaded a kernel module",
		},
		{
			name: "a KERN_MODULE name in hex with a space and a quote is decoded",
			lines: []string{
				`type=SYSCALL msg=audit(1700000000.000:7): arch=40000003 syscall=350 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="loader" exe="/tmp/loader" key=(null)`,
				`type=KERN_MODULE msg=audit(1700000000.000:7): name=6576696C20226D6F6422`,
			},
			severity: High, module: `evil "mod"`, reason: `loaded kernel module "evil \"mod\""`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := event(t, tc.lines...)
			alerts := evalOne(r, ev, nil)
			if len(alerts) != 1 {
				t.Fatalf("got %d alerts, want 1", len(alerts))
			}
			a := alerts[0]
			if a.Severity != tc.severity || ev.Module != tc.module || !strings.Contains(a.Reason, tc.reason) {
				t.Errorf("severity=%v module=%q reason=%q", a.Severity, ev.Module, a.Reason)
			}
			if tc.file != "" && (a.File == nil || a.File.Path != tc.file) {
				t.Errorf("file = %+v, want %s", a.File, tc.file)
			}
		})
	}
	// delete_module is not a load.
	ev := event(t, `type=SYSCALL msg=audit(1700000000.000:8): arch=c000003e syscall=176 success=yes exit=0 a0=1 a1=0 a2=0 a3=0 items=0 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="rmmod" exe="/usr/bin/kmod" key=(null)`)
	if a := evalOne(r, ev, nil); len(a) != 0 {
		t.Errorf("delete_module raised %d load alerts", len(a))
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"/etc/modprobe.d/*", "/etc/modprobe.d/a.conf", true},
		{"/etc/modprobe.d/*", "/etc/modprobe.d/sub/a.conf", true},
		{"/etc/modprobe.d/*", "/etc/modprobe.d", false},
		{"/etc/modules", "/etc/modules-load.d/x", false},
		{"python*", "python3.11", true},
		{"/snap/*/sbin/lxd", "/snap/lxd/123/sbin/lxd", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*", "", true},
		{"/etc/modprobe.d/*", "/etc/modprobe.d/*x.conf", true},
		{"/etc/modprobe.d/*", "/etc/modprobe.d/*", true},
		{"*.conf", "*a.conf", true},
		{"a*", "a**b", true},
		{"*b", "*a", false},
	}
	for _, tc := range tests {
		if got := Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestCatalogConfig(t *testing.T) {
	if _, err := NewCatalog(Config{Disabled: []string{"nope"}}); err == nil {
		t.Error("unknown disabled id accepted")
	}
	if _, err := NewCatalog(Config{Exclusions: map[string][]Exclusion{ConfigFileCreationID: {{Reason: "x"}}}}); err == nil {
		t.Error("an exclusion without criteria was accepted")
	}
	c, err := NewCatalog(Config{Exclusions: map[string][]Exclusion{ConfigFileCreationID: {{Reason: "ansible", Exe: []string{"/usr/bin/ansible*"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var cfr Detection
	for _, r := range c.Events {
		if r.Definition().ID == ConfigFileCreationID {
			cfr = r
		}
	}
	a := evalOne(cfr, event(t, create("/usr/bin/ansible-playbook", "ansible", "/", "/etc/modprobe.d/x.conf")...), nil)
	if len(a) != 1 || a[0].Suppressed != "ansible" {
		t.Errorf("user exclusion not applied: %+v", a)
	}
}
