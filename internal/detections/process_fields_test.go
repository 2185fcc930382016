package detections

import (
	"slices"
	"strings"
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
		{"a rewritten PROCTITLE does not replace what exec was given: it is the title", [][]string{
			execLines(302, 1, "insmod", "/usr/bin/kmod", "/", "insmod", "/tmp/rk.ko"),
			{sysLine(313, "no", -38, "3", 302, 1, "insmod", "/usr/bin/kmod", 0), `PROCTITLE proctitle=696E736D6F64002F6C69622F6D6F64756C65732F362E312E302D35372D616D6436342F6B65726E656C2F647269766572732F6E65742F64756D6D792E6B6F`},
		}, "insmod", "/usr/bin/kmod", []string{"insmod", "/tmp/rk.ko"}, "", ""},
		{"a PROCTITLE the kernel cut at 128 bytes is no disagreement", [][]string{
			execLines(303, 1, "python3", "/usr/bin/python3.11", "/", "/usr/bin/python3", "-c", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
			{sysLine(313, "no", -38, "3", 303, 1, "python3", "/usr/bin/python3.11", 0), `PROCTITLE proctitle=2F7573722F62696E2F707974686F6E33002D6300787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878`},
		}, "python3", "/usr/bin/python3.11", []string{"/usr/bin/python3", "-c", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}, "", ""},
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
			alerts := evalOne(newModuleLoad(), ev, st)
			if len(alerts) != 1 {
				t.Fatalf("%d alerts", len(alerts))
			}
			p := alerts[0].Process
			if wantTitle := strings.Contains(c.name, "rewritten"); wantTitle != (len(p.Title) == 2) {
				t.Errorf("title %q", p.Title)
			}
			if strings.Contains(c.name, "rewritten") {
				if f := alerts[0].File; f == nil || f.Path != "/tmp/rk.ko" {
					t.Errorf("file %+v, want the exec's /tmp/rk.ko", f)
				}
			}
			if p.Name() != c.wantName || p.Exe != c.wantExe || !slices.Equal(p.Args, c.wantArgs) {
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
