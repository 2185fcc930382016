package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// crossAlert is the part of a cross-view alert these tests check.
type crossAlert struct {
	Rule struct {
		ID string `json:"id"`
	} `json:"rule"`
	Event struct {
		Reason string `json:"reason"`
	} `json:"event"`
	Auditd struct {
		KernelView struct {
			Finding string `json:"finding"`
			Trace   string `json:"trace"`
			AtStart bool   `json:"at_start"`
			Module  struct {
				Name string `json:"name"`
			} `json:"module"`
			Taint struct {
				New []struct {
					Letter, Name string
				} `json:"new"`
			} `json:"taint"`
		} `json:"kernel_view"`
	} `json:"auditd"`
}

func readCrossAlerts(t *testing.T, path string) []crossAlert {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []crossAlert
	for _, l := range strings.Split(string(completeLines(b)), "\n") {
		if l == "" {
			continue
		}
		var a crossAlert
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("alert line: %v", err)
		}
		if a.Auditd.KernelView.Finding != "" {
			out = append(out, a)
		}
	}
	return out
}

// kernelTree copies the inventory's recorded kernel views (a 6.1 guest's
// /proc/modules, /sys/module, taint mask) into a writable directory the
// daemon reads instead of the host's (this kernel has no modules).
func kernelTree(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if out, err := exec.Command("cp", "-a", "../internal/inventory/testdata/debian12-6.1/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

func addModule(t *testing.T, root, name string, inProc bool) {
	t.Helper()
	d := filepath.Join(root, "sys", "module", name)
	if err := os.MkdirAll(filepath.Join(d, "sections"), 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"initstate": "live\n", "refcnt": "0\n", "coresize": "16384\n", "taint": "\n", "sections/.text": "0x0\n"} {
		if err := os.WriteFile(filepath.Join(d, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !inProc {
		return
	}
	f, err := os.OpenFile(filepath.Join(root, "proc", "modules"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(name + " 16384 0 - Live 0xffffffffc0600000\n"); err != nil {
		t.Fatal(err)
	}
}

// TestCrossViewWiring runs the daemon on the real audit stream with its
// module views pointed at a copy of a 6.1 guest's: a module appearing
// without an audited load is unknown, a module in sysfs only is hidden, a
// new taint bit is named; after a restart on the same state directory
// nothing is reported twice and a module loaded while the daemon was
// stopped is unknown; auditlkm inventory prints the join.
func TestCrossViewWiring(t *testing.T) {
	kerneltest.Require(t)
	root, state := kernelTree(t), t.TempDir()
	args := []string{"--state.dir", state, "--inventory.proc-root", filepath.Join(root, "proc"),
		"--inventory.sys-root", filepath.Join(root, "sys"), "--inventory.interval", "1s", "--inventory.unknown-grace", "1s"}
	d := startDaemon(t, args...)
	time.Sleep(1500 * time.Millisecond) // the baseline read
	addModule(t, root, "e2e_blind", true)
	addModule(t, root, "e2e_hidden", false)
	if err := os.WriteFile(filepath.Join(root, "proc", "sys", "kernel", "tainted"), []byte("12290\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	find := func(d *daemon, id, module string) crossAlert {
		return waitFor(t, d, id+" "+module, readCrossAlerts, func(a crossAlert) bool {
			return a.Rule.ID == id && (module == "" || a.Auditd.KernelView.Module.Name == module)
		})
	}
	find(d, "kernel-module-unknown", "e2e_blind")
	h := find(d, "kernel-module-hidden", "e2e_hidden")
	if h.Auditd.KernelView.Trace != "sysfs" || !strings.Contains(h.Event.Reason, "missing from /proc/modules") {
		t.Errorf("hidden alert: %+v", h)
	}
	find(d, "kernel-module-unknown", "e2e_hidden") // never seen loading either
	tc := find(d, "kernel-taint-change", "")
	if n := tc.Auditd.KernelView.Taint.New; len(n) != 1 || n[0].Letter != "F" || n[0].Name != "FORCED_MODULE" {
		t.Errorf("taint alert: %+v", tc)
	}
	for _, a := range readCrossAlerts(t, d.alerts) {
		if a.Auditd.KernelView.Module.Name != "" && !strings.HasPrefix(a.Auditd.KernelView.Module.Name, "e2e_") {
			t.Errorf("baseline module reported: %+v", a)
		}
	}
	d.stop(t)

	addModule(t, root, "e2e_offline", true)
	d2 := startDaemon(t, args...)
	u := find(d2, "kernel-module-unknown", "e2e_offline")
	if !u.Auditd.KernelView.AtStart || !strings.Contains(u.Event.Reason, "while auditlkm was not running") {
		t.Errorf("offline alert: %+v", u)
	}
	time.Sleep(2500 * time.Millisecond)
	if as := readCrossAlerts(t, d2.alerts); len(as) != 1 {
		t.Errorf("after the restart %d cross-view alerts, want only e2e_offline's: %+v", len(as), as)
	}
	d2.stop(t)

	out, err := exec.Command(binary, "inventory", "--format", "json", "--state.dir", state, "--inventory.proc-root", filepath.Join(root, "proc"),
		"--inventory.sys-root", filepath.Join(root, "sys")).CombinedOutput()
	if err != nil {
		t.Fatalf("auditlkm inventory: %v\n%s", err, out)
	}
	var rep struct {
		TaintLetters string `json:"taint_letters"`
		Modules      []struct {
			Name, Verdict string
			Baseline      bool
		}
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	verdicts := map[string]string{}
	for _, m := range rep.Modules {
		verdicts[m.Name] = m.Verdict
	}
	if rep.TaintLetters != "FOE" || verdicts["e2e_hidden"] != "hidden" || verdicts["e2e_blind"] != "unknown" || verdicts["dummy"] != "ok" {
		t.Errorf("inventory: %s", out)
	}
}
