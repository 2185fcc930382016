package rules

import (
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// TestProcessFieldsFromTheRecord: the alert's process is what the load's
// own records say at the event; the process table is the parent and
// ancestry context, and fills in only what the event lacks.
func TestProcessFieldsFromTheRecord(t *testing.T) {
	// The busybox guest: /init (busybox sh, pid 1) forks and runs the
	// insmod applet without exec. The SYSCALL record says comm "insmod",
	// exe /bin/busybox; PROCTITLE is still the shell's "/bin/sh /init".
	initExec := execLines(1, 0, "sh", "/bin/busybox", "/", "/bin/sh", "/init")
	cases := []struct {
		name             string
		steps            [][]string
		wantName         string
		wantExe          string
		wantArgs         []string
		wantParentName   string
		wantParentExeArg string
	}{
		{"busybox applet without exec: comm and exe of the record, not the shell's", [][]string{
			initExec,
			{sysLine(56, "yes", 77, "1200011", 1, 0, "sh", "/bin/busybox", 0), `PROCTITLE proctitle=2F62696E2F7368002F696E6974`},
			{sysLine(313, "yes", 0, "3", 77, 1, "insmod", "/bin/busybox", 0), `KERN_MODULE name="dummy"`, `PROCTITLE proctitle=2F62696E2F7368002F696E6974`},
		}, "insmod", "/bin/busybox", []string{"/bin/sh", "/init"}, "sh", "/bin/busybox"},
		{"an image the table did not see exec'd does not get the old image's argv", [][]string{
			execLines(300, 1, "sh", "/usr/bin/dash", "/", "sh", "-c", "x"),
			{sysLine(313, "no", -38, "3", 300, 1, "loader", "/tmp/loader", 0)}, // no PROCTITLE
		}, "loader", "/tmp/loader", nil, "", ""},
		{"the same image without PROCTITLE gets its argv from the table", [][]string{
			execLines(301, 1, "insmod", "/usr/bin/kmod", "/", "insmod", "/tmp/x.ko"),
			{sysLine(313, "no", -38, "3", 301, 1, "insmod", "/usr/bin/kmod", 0)},
		}, "insmod", "/usr/bin/kmod", []string{"insmod", "/tmp/x.ko"}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := corrStore(t, 0)
			var ev *auditevent.Event
			for i, lines := range c.steps {
				ev = corrEvent(t, int64(100+i), 10+i, lines...)
				st.Observe(ev)
			}
			alerts := newModuleLoad().Evaluate(ev, st)
			if len(alerts) != 1 {
				t.Fatalf("%d alerts", len(alerts))
			}
			p := alerts[0].Process
			if p.Name() != c.wantName || p.Exe != c.wantExe || !equalStrings(p.Args, c.wantArgs) {
				t.Errorf("process name %q exe %q args %q, want %q %q %q", p.Name(), p.Exe, p.Args, c.wantName, c.wantExe, c.wantArgs)
			}
			if c.wantParentName != "" {
				par := alerts[0].Parent
				if par == nil || par.Name() != c.wantParentName || par.Exe != c.wantParentExeArg || par.PID != 1 {
					t.Errorf("parent %+v, want %s (%s) pid 1", par, c.wantParentName, c.wantParentExeArg)
				}
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
