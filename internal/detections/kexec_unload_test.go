package detections

import (
	"strings"
	"testing"
)

// TestKexecUnload: `kexec -u` calls kexec_load with no segments (as
// recorded in the VM suite's Debian 6.1 guest); the alert must not say a
// new kernel image was loaded, nor rank it as one.
func TestKexecUnload(t *testing.T) {
	for _, tc := range []struct {
		name, rec string
		sev       Severity
		reason    string
	}{
		{"kexec -l", `type=SYSCALL msg=audit(1796421155.497:80): arch=c000003e syscall=246 success=yes exit=0 a0=3ffd7760 a1=3 a2=56307d947170 a3=3e0000 items=0 ppid=88 pid=155 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="kexec" exe="/usr/sbin/kexec" key="auditlkm-kexec"`,
			High, "/usr/sbin/kexec loaded a new kernel image with kexec_load"},
		{"kexec -u", `type=SYSCALL msg=audit(1796421156.425:82): arch=c000003e syscall=246 success=yes exit=0 a0=0 a1=0 a2=0 a3=3e0000 items=0 ppid=88 pid=160 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="kexec" exe="/usr/sbin/kexec" key="auditlkm-kexec"`,
			Medium, "/usr/sbin/kexec unloaded the staged kexec kernel image (kexec_load with no segments)"},
		{"kexec -s -l", `type=SYSCALL msg=audit(1796421156.569:84): arch=c000003e syscall=320 success=yes exit=0 a0=3 a1=ffffffff a2=19 a3=556ce33582a0 items=0 ppid=88 pid=161 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="kexec" exe="/usr/sbin/kexec" key="auditlkm-kexec"`,
			High, "/usr/sbin/kexec loaded a new kernel image with kexec_file_load"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := evalOne(newKexecLoad(nil), event(t, tc.rec), nil)
			if len(a) != 1 || a[0].Severity != tc.sev || a[0].Reason != tc.reason || !strings.HasPrefix(a[0].Action, "kexec") {
				t.Fatalf("got %+v, want severity %v, reason %q", a, tc.sev, tc.reason)
			}
		})
	}
}
