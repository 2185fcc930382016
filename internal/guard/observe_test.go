//go:build linux

package guard

import (
	"fmt"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/netlink"
)

// noKernel is a Kernel the tests of Observe never reach.
type noKernel struct{}

func (noKernel) AddRule([]byte) error            { return nil }
func (noKernel) DeleteRule([]byte) error         { return nil }
func (noKernel) Rules() ([][]byte, error)        { return nil, nil }
func (noKernel) Status() (netlink.Status, error) { return netlink.Status{}, nil }
func (noKernel) SetEnabled(uint32) error         { return nil }

// keyedEvent renders the records of one event of the given syscall,
// keyed to a watched configuration path, with PATH records of the given
// nametype and mode ("name:nametype:mode"), and its EOE.
func keyedEvent(serial int, syscall string, key string, paths ...string) []string {
	h := fmt.Sprintf("msg=audit(1796431748.990:%d):", serial)
	out := []string{fmt.Sprintf(`type=SYSCALL %s arch=c000003e syscall=%s success=yes exit=0 a0=3 a1=4 a2=5 a3=6 items=%d ppid=1 pid=4242 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="x" exe="/usr/bin/x" key=%s`, h, syscall, len(paths), key),
		fmt.Sprintf(`type=CWD %s cwd="/root"`, h)}
	for i, p := range paths {
		f := strings.Split(p, ":")
		mode := ""
		if f[2] != "" {
			mode = " mode=" + f[2]
		}
		out = append(out, fmt.Sprintf(`type=PATH %s item=%d name="%s" inode=77 dev=fe:00%s ouid=0 ogid=0 rdev=00:00 nametype=%s cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`, h, i, f[0], mode, f[1]))
	}
	out = append(out, fmt.Sprintf(`type=PROCTITLE %s proctitle=78`, h), fmt.Sprintf(`type=EOE %s`, h))
	return out
}

// TestObserveTriggersOnTreeChangesOnly: records keyed to a watched path
// trigger a check when the event changes the file tree (a directory or
// symlink created, removed or renamed, an entry of unknown type), not
// when it writes, renames or removes regular files; removals of rules,
// auditing switched off and io_uring operations trigger as before, and so
// does a keyed event whose PATH records never come once too many are
// pending.
func TestObserveTriggersOnTreeChangesOnly(t *testing.T) {
	const cfg, ko = `"auditlkm-config"`, `"auditlkm-ko"`
	cases := []struct {
		name  string
		lines []string
		want  bool
	}{
		{"a configuration file created", keyedEvent(1, "257", cfg, "/etc/modprobe.d/:PARENT:040755", "/etc/modprobe.d/x.conf:CREATE:0100644"), false},
		{"one written", keyedEvent(2, "257", cfg, "/etc/modprobe.d/x.conf:NORMAL:0100644"), false},
		{"one renamed", keyedEvent(3, "82", cfg, "/etc/modprobe.d/:PARENT:040755", "/etc/modprobe.d/:PARENT:040755", "/etc/modprobe.d/x.tmp:DELETE:0100600", "/etc/modprobe.d/x.conf:CREATE:0100600"), false},
		{"one removed", keyedEvent(4, "263", cfg, "/etc/modprobe.d/:PARENT:040755", "/etc/modprobe.d/x.conf:DELETE:0100644"), false},
		{"an unkeyed directory created", keyedEvent(5, "83", "(null)", "/tmp/:PARENT:041777", "/tmp/d:CREATE:040755"), false},
		{"a directory created", keyedEvent(6, "83", cfg, "/etc/:PARENT:040755", "/etc/modules-load.d:CREATE:040755"), true},
		{"a directory moved away", keyedEvent(7, "82", cfg, "/etc/:PARENT:040755", "/etc/:PARENT:040755", "/etc/modules-load.d:DELETE:040755", "/etc/modules-load.d.old:CREATE:040755"), true},
		{"a directory removed", keyedEvent(8, "84", cfg, "/etc/:PARENT:040755", "/etc/modprobe.d:DELETE:040755"), true},
		{"a symlink created", keyedEvent(9, "88", cfg, "/usr/local/lib/:PARENT:040755", "/usr/local/lib/modules-load.d:CREATE:0120777"), true},
		{"a module tree directory", keyedEvent(10, "83", ko, "/lib/modules/:PARENT:040755", "/lib/modules/6.9.0:CREATE:040755"), true},
		{"a created entry of unknown type", keyedEvent(11, "83", cfg, "/etc/modprobe.d/x:CREATE:"), true},
		{"an unknown nametype", keyedEvent(12, "83", cfg, "/etc/modprobe.d/x:UNKNOWN:040755"), true},
		{"a rule removed", []string{`type=CONFIG_CHANGE msg=audit(1795324036.264:723): auid=4294967295 ses=4294967295 op=remove_rule key="auditlkm-test-guard" list=4 res=1`}, true},
		{"a rule added", []string{`type=CONFIG_CHANGE msg=audit(1795324036.264:724): auid=0 ses=1 op=add_rule key="x" list=4 res=1`}, false},
		{"auditing switched off", []string{`type=CONFIG_CHANGE msg=audit(1795324036.264:725): op=set audit_enabled=0 old=1 auid=0 ses=1 res=1`}, true},
		{"an io_uring operation", []string{`type=URINGOP msg=audit(1796425497.700:130): uring_op=18 success=yes exit=3 items=2 ppid=88 pid=180 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 subj=unconfined key="auditlkm-config"`}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := New(DefaultConfig(), noKernel{}, parse(""), nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range c.lines {
				rec, err := auditevent.ParseLine([]byte(l))
				if err != nil {
					t.Fatalf("%s: %v", l, err)
				}
				g.Observe(&rec)
			}
			if got := len(g.kick) == 1; got != c.want {
				t.Fatalf("triggered %v, want %v", got, c.want)
			}
			if n := g.keyed.n.Load(); n != 0 {
				t.Fatalf("%d keyed events left pending", n)
			}
		})
	}

	t.Run("a storm of files with a directory swapped in it", func(t *testing.T) {
		g, err := New(DefaultConfig(), noKernel{}, parse(""), nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		observe := func(lines []string) {
			for _, l := range lines {
				rec, err := auditevent.ParseLine([]byte(l))
				if err != nil {
					t.Fatal(err)
				}
				g.Observe(&rec)
			}
		}
		for i := range 1000 {
			observe(keyedEvent(100+i, "257", cfg, "/etc/modprobe.d/:PARENT:040755", fmt.Sprintf("/etc/modprobe.d/%d.conf:CREATE:0100644", i)))
		}
		if len(g.kick) != 0 {
			t.Fatal("a storm of regular files triggered a check")
		}
		observe(keyedEvent(2000, "82", cfg, "/etc/:PARENT:040755", "/etc/:PARENT:040755", "/etc/modprobe.d:DELETE:040755", "/etc/modprobe.d.old:CREATE:040755"))
		if len(g.kick) != 1 {
			t.Fatal("the directory swapped in the storm did not trigger a check")
		}
	})

	t.Run("keyed events whose records never end", func(t *testing.T) {
		g, err := New(DefaultConfig(), noKernel{}, parse(""), nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range maxKeyed + 1 {
			rec, err := auditevent.ParseLine([]byte(keyedEvent(100+i, "82", cfg)[0])) // the SYSCALL record alone
			if err != nil {
				t.Fatal(err)
			}
			g.Observe(&rec)
			if got, want := len(g.kick) == 1, i == maxKeyed; got != want {
				t.Fatalf("after %d undecided events: triggered %v, want %v", i+1, got, want)
			}
		}
	})
}
