package detections

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/auditeventtest"
	"github.com/auditlkm/auditlkm/internal/correlate"
)

// corrEvent builds one event from audit.log record bodies: each line is
// "TYPE body" with the msg=audit(...) header added for serial at ms.
func corrEvent(t *testing.T, ms int64, serial int, lines ...string) *auditevent.Event {
	t.Helper()
	full := make([]string, 0, len(lines))
	for _, l := range lines {
		typ, body, _ := strings.Cut(l, " ")
		full = append(full, fmt.Sprintf("type=%s msg=audit(%d.%03d:%d): %s", typ, 1700000000+ms/1000, ms%1000, serial, body))
	}
	return auditeventtest.Event(t, full...)
}

func sysLine(nr int, success string, exit int, a0 string, pid, ppid int, comm, exe string, items int) string {
	return fmt.Sprintf(`SYSCALL arch=c000003e syscall=%d success=%s exit=%d a0=%s a1=0 a2=241 a3=0 items=%d ppid=%d pid=%d auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="%s" exe="%s" key=(null)`,
		nr, success, exit, a0, items, ppid, pid, comm, exe)
}

func execLines(pid, ppid int, comm, exe, cwd string, args ...string) []string {
	ex := fmt.Sprintf("EXECVE argc=%d", len(args))
	for i, a := range args {
		ex += fmt.Sprintf(` a%d="%s"`, i, a)
	}
	return []string{sysLine(59, "yes", 0, "0", pid, ppid, comm, exe, 1), ex, `CWD cwd="` + cwd + `"`,
		`PATH item=0 name="` + exe + `" inode=5 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL`}
}

func createLines(pid, ppid int, comm, exe, file string) []string {
	return []string{sysLine(257, "yes", 3, "ffffff9c", pid, ppid, comm, exe, 2), `CWD cwd="/"`,
		`PATH item=0 name="/tmp/" inode=2 dev=08:01 mode=040777 ouid=0 ogid=0 rdev=00:00 nametype=PARENT`,
		`PATH item=1 name="` + file + `" inode=77 dev=08:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE`}
}

func finitLines(pid, ppid int, comm, exe string) []string {
	return []string{sysLine(313, "no", -38, "3", pid, ppid, comm, exe, 0)}
}

func corrStore(t *testing.T, learning time.Duration) *correlate.Store {
	cfg := correlate.DefaultConfig()
	cfg.StateDir, cfg.ProcRoot, cfg.LearningPeriod = "", "", learning
	m, err := correlate.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s, err := correlate.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCorrelatingDetections(t *testing.T) {
	type step struct {
		ms    int64
		lines []string
	}
	insmod := func(pid int, ko string) []step {
		return []step{{100, execLines(pid, 100, "insmod", "/usr/bin/kmod", "/", "insmod", ko)},
			{101, finitLines(pid, 100, "insmod", "/usr/bin/kmod")}}
	}
	tests := []struct {
		name     string
		learning time.Duration
		steps    []step
		want     []string // "rule-id related-writer-exe" of every alert of these rules, in order
	}{
		{"cp drops and insmod loads: one linked alert and first-seen", 0,
			append([]step{{0, createLines(200, 100, "cp", "/usr/bin/cp", "/tmp/rk.ko")}}, insmod(201, "/tmp/rk.ko")...),
			[]string{"lkm-first-seen kmod_args", "lkm-dropped-then-loaded /usr/bin/cp", "lkm-first-seen module"}},
		{"insmod's init_module retry raises nothing more", 0,
			append(append([]step{{0, createLines(200, 100, "cp", "/usr/bin/cp", "/tmp/rk.ko")}}, insmod(201, "/tmp/rk.ko")...),
				step{102, []string{sysLine(175, "no", -38, "7f0000", 201, 100, "insmod", "/usr/bin/kmod", 0)}}),
			[]string{"lkm-first-seen kmod_args", "lkm-dropped-then-loaded /usr/bin/cp", "lkm-first-seen module"}},
		{"a package manager's drop is suppressed", 0,
			append([]step{{0, createLines(200, 100, "dpkg", "/usr/bin/dpkg", "/tmp/rk.ko")}}, insmod(201, "/tmp/rk.ko")...),
			[]string{"lkm-first-seen kmod_args", "lkm-first-seen module"}},
		{"while learning nothing is first-seen", time.Hour,
			append([]step{{0, createLines(200, 100, "cp", "/usr/bin/cp", "/tmp/rk.ko")}}, insmod(201, "/tmp/rk.ko")...),
			[]string{"lkm-dropped-then-loaded /usr/bin/cp"}},
		{"a modprobe.d file named after the module links the load", time.Hour,
			append([]step{{0, createLines(200, 100, "sh", "/usr/bin/dash", "/etc/modprobe.d/rk.conf")}}, insmod(201, "/opt/rk.ko")...),
			[]string{"lkm-config-then-load /usr/bin/dash"}},
	}
	sys := newTestSystem(t, []string{"/usr/bin/dpkg"}, nil, nil)
	catalog := []Detection{withProvenance(newDroppedThenLoaded(nil), sys.v), withProvenance(newConfigThenLoad(nil), sys.v), newFirstSeen(nil)}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := corrStore(t, tc.learning)
			var got []string
			for i, st := range tc.steps {
				ev := corrEvent(t, st.ms, i+1, st.lines...)
				facts := s.Observe(ev)
				for _, r := range catalog {
					for _, a := range EvaluateOne(r, ev, facts, s) {
						if a.Suppressed != "" {
							continue
						}
						d := a.Rule.ID
						for _, rel := range a.Related {
							d += " " + rel.Process.Exe
						}
						for _, v := range a.FirstSeen {
							d += " " + v.Kind
							if v.Kind == "module" && v.Value != "rk" {
								t.Errorf("first-seen module %q, want rk", v.Value)
							}
						}
						got = append(got, d)
					}
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	t.Run("without correlation the detections stay silent", func(t *testing.T) {
		ev := corrEvent(t, 0, 1, finitLines(201, 100, "insmod", "/usr/bin/kmod")...)
		for _, r := range catalog {
			if a := evalOne(r, ev, nil); len(a) != 0 {
				t.Fatalf("%s raised %d alerts without a store", r.Definition().ID, len(a))
			}
		}
	})
}

// TestDroppedThenLoadedRecorded: a .ko copied into the modules tree and
// then loaded from there (refused here, still correlated) alerts once;
// the write alone, a load of a file whose write was not seen, and a
// configuration written before a load do not.
func TestDroppedThenLoadedRecorded(t *testing.T) {
	testRecorded(t, DroppedThenLoadedID, []recordedCase{
		{logs: []string{"detections-ko-then-load"}, want: []string{
			"loaded-dropped-kernel-module /usr/lib/modules/6.18.44-fc-v1272/extra/auditlkm-det-drop.ko high"}},
		{logs: []string{"detections-ko-create"}},
		{logs: []string{"detections-insmod"}},
		{logs: []string{"detections-syscalls64"}},
		{logs: []string{"detections-conf-then-load"}},
	})
}
