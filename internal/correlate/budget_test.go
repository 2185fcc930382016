package correlate

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLoadClass(t *testing.T) {
	for _, c := range []struct {
		name    string
		success string
		exit    int64
		uid     int
		want    readClass
	}{
		{"loaded", "yes", 0, 0, classLoad},
		{"a user without CAP_SYS_MODULE", "no", -1, 1000, classRefusedLoad},
		{"root without CAP_SYS_MODULE, or modules_disabled", "no", -1, 0, classRefusedLoad},
		{"a kernel without modules, a user", "no", -38, 1000, classRefusedLoad},
		{"a kernel without modules, root", "no", -38, 0, classLoad},
		{"a user holding CAP_SYS_MODULE, not a module", "no", -8, 1000, classLoad},
		{"root, a module whose signature was refused", "no", -129, 0, classLoad},
		{"root, a bad fd", "no", -9, 0, classLoad},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := tp{pid: 2300, ppid: 1, comm: "l", exe: "/usr/bin/l", uid: c.uid}
			e := ev(t, syscallLine(0, 1, 313, c.success, c.exit, 3, 0x55e000, 0, 0, p))
			if got := loadClass(&e.Syscall); got != c.want {
				t.Errorf("loadClass = %s, want %s", readClassNames[got], readClassNames[c.want])
			}
		})
	}
}

// TestRefusedLoadsCannotSpendTheBudgetOfLoads: a user floods finit_module
// calls the kernel refuses, then root loads a file only its fd names, in
// the same second. The flood spends its own budgets (a few of its loads
// are still resolved and read); root's load is resolved and its file read.
func TestRefusedLoadsCannotSpendTheBudgetOfLoads(t *testing.T) {
	for _, refusal := range []struct {
		name string
		exit int64
	}{{"EPERM", -1}, {"ENOSYS", -38}} {
		t.Run(refusal.name, func(t *testing.T) {
			fp := newFakeProc(t)
			user := tp{pid: 2200, ppid: 1, comm: "flood", exe: "/tmp/flood", uid: 1000, cwd: "/"}
			root := tp{pid: 2100, ppid: 1, comm: "loader", exe: "/usr/local/bin/loader", cwd: "/"}
			fp.add(fakeProcess{pid: user.pid, ppid: 1, comm: user.comm, exe: user.exe, uid: 1000, cwd: "/", startMs: -10})
			fp.add(fakeProcess{pid: root.pid, ppid: 1, comm: root.comm, exe: root.exe, cwd: "/", startMs: -10})
			noise := filepath.Join(t.TempDir(), "noise.bin")
			copyTestModule(t, noise)
			ko := filepath.Join(t.TempDir(), "payload.bin") // not .ko: only the fd names it
			copyTestModule(t, ko)
			for pid, target := range map[int]string{user.pid: noise, root.pid: ko} {
				fd := filepath.Join(fp.root, strconv.Itoa(pid), "fd")
				must(t, os.MkdirAll(fd, 0o755))
				must(t, os.Symlink(target, filepath.Join(fd, "3")))
			}
			s, m, _ := testStore(t, func(c *Config) { c.ProcRoot = fp.root })
			now := time.Unix(baseSec, 0)
			s.now = func() time.Time { return now }

			const flood = 4 * LoadReadBudget
			resolved, read, said := 0, 0, 0
			for i := range flood {
				f := s.Observe(ev(t, syscallLine(int64(i%900), 10+i, 313, "no", refusal.exit, 3, 0x55e000, 0, 0, user)))
				ml, _ := loadOf(f)
				if ml.File == noise {
					resolved++
					if ml.FileInfo != nil {
						read++
					}
				} else if ml.FileUnknown == "its fd was not read: more than 64 /proc reads in a second for refused_load" {
					said++
				}
			}
			if resolved+said != flood {
				t.Errorf("%d of the refused loads resolved and %d said why not, of %d", resolved, said, flood)
			}
			if resolved == 0 || resolved >= flood/2 {
				t.Errorf("%d of the %d refused loads resolved, want some within RefusedLoadReadBudget (%d reads)", resolved, flood, RefusedLoadReadBudget)
			}
			if read == 0 || read > RefusedModuleFileReadBudget {
				t.Errorf("%d of the refused loads' files read, want 1..%d", read, RefusedModuleFileReadBudget)
			}
			ml, _ := loadOf(s.Observe(ev(t, syscallLine(950, 5, 313, "no", -38, 3, 0x55e000, 0, 0, root))))
			if ml.File != ko || ml.FileSource != FileFromProcFD || ml.FileInfo == nil || ml.FileInfo.Modinfo.Name != "hello_oot" || ml.FileUnknown != "" {
				t.Fatalf("root's load after the flood: file %q from %q, read %+v (%s)", ml.File, ml.FileSource, ml.FileInfo, ml.FileErr)
			}
			if !ml.HasMeta {
				t.Errorf("root's load: its file's metadata was not read")
			}
			if got := testutil.ToFloat64(m.budgetExceeded[classRefusedLoad]); got == 0 {
				t.Error("the flood never spent its budget: the test proves nothing")
			}
			if got := testutil.ToFloat64(m.budgetExceeded[classLoad]); got != 0 {
				t.Errorf("the budget of loads was exceeded %v times", got)
			}
			if got := testutil.ToFloat64(m.moduleReads.WithLabelValues(moduleReadRefusedBudget)); got == 0 {
				t.Error("no refused load's file was skipped for its budget")
			}
		})
	}
}
