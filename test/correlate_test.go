package test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// corrAlert is the part of an alert the correlation tests check.
type corrAlert struct {
	Rule struct {
		ID string `json:"id"`
	} `json:"rule"`
	Event struct {
		Severity int `json:"severity"`
	} `json:"event"`
	Process struct {
		PID        int    `json:"pid"`
		Executable string `json:"executable"`
		Parent     struct {
			PID        int    `json:"pid"`
			Executable string `json:"executable"`
		} `json:"parent"`
	} `json:"process"`
	File struct {
		Path string `json:"path"`
	} `json:"file"`
	Auditd struct {
		Related []struct {
			Role     string `json:"role"`
			Sequence int64  `json:"sequence"`
			Match    string `json:"match"`
			File     struct {
				Path string `json:"path"`
			} `json:"file"`
			Process struct {
				PID        int    `json:"pid"`
				Executable string `json:"executable"`
			} `json:"process"`
		} `json:"related"`
		FirstSeen []struct {
			Kind, Value string
		} `json:"first_seen"`
		Process struct {
			Ancestry []struct {
				PID        int    `json:"pid"`
				Executable string `json:"executable"`
			} `json:"ancestry"`
		} `json:"process"`
	} `json:"auditd"`
}

func readCorrAlerts(t *testing.T, path string) []corrAlert {
	t.Helper()
	b, _ := os.ReadFile(path)
	var out []corrAlert
	for _, l := range bytes.Split(completeLines(b), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var a corrAlert
		if err := json.Unmarshal(l, &a); err != nil {
			t.Fatalf("alert line %q: %v", l, err)
		}
		out = append(out, a)
	}
	return out
}

func (d *daemon) waitCorr(t *testing.T, what string, match func(a corrAlert) bool) corrAlert {
	t.Helper()
	return waitFor(t, d, what, readCorrAlerts, match)
}

// auditDir adds, for the test's duration, an audit rule recording file
// creations, renames and links in dir (the narrowed form of the optional
// 60-auditlkm-ko-anywhere rules, which a drop in /tmp needs), and removes
// exactly that rule at the end.
func auditDir(t *testing.T, dir, key string) {
	t.Helper()
	auditctl := lookTool(t, "auditctl")
	rule := []string{"always,exit", "-F", "arch=b64", "-S", "openat,open,creat,rename,renameat,renameat2,link,linkat",
		"-F", "dir=" + dir, "-F", "success=1", "-k", key}
	if out, err := exec.Command(auditctl, append([]string{"-a"}, rule...)...).CombinedOutput(); err != nil {
		t.Fatalf("auditctl -a: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(auditctl, append([]string{"-d"}, rule...)...).CombinedOutput(); err != nil {
			t.Errorf("auditctl -d: %v: %s", err, out)
		}
	})
}

// TestCorrelationLive runs the linked detections on the real kernel: a
// module file copied into place by cp and loaded by insmod (dropped then
// loaded), and a modprobe.d install command written by a shell and run
// by modprobe (config then load). The kernel refuses both loads (ENOSYS)
// and audits the attempts.
func TestCorrelationLive(t *testing.T) {
	requireUnicast(t)
	insmod, modprobe, cp := lookTool(t, "insmod"), lookTool(t, "modprobe"), lookTool(t, "cp")
	name := unique(t)
	dir := filepath.Join(os.TempDir(), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if _, err := os.Stat("/etc/modprobe.d"); os.IsNotExist(err) {
		if err := os.Mkdir("/etc/modprobe.d", 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove("/etc/modprobe.d") })
	}
	src := filepath.Join(os.TempDir(), name+"-src.ko")
	if err := os.WriteFile(src, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join("/etc/modprobe.d", name+".conf")
	t.Cleanup(func() { os.Remove(src); os.Remove(conf) })
	auditDir(t, dir, name)

	d := startDaemon(t, "--correlate.learning-period=0")
	defer d.stop(t)

	t.Run("a module copied by cp and loaded by insmod links both", func(t *testing.T) {
		ko := filepath.Join(dir, "dropped.ko")
		c := exec.Command(cp, src, ko)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
		ins := exec.Command(insmod, ko)
		if out, err := ins.CombinedOutput(); err == nil {
			t.Fatalf("insmod of a dummy file succeeded: %s", out)
		}
		a := d.waitCorr(t, "dropped then loaded "+ko, func(a corrAlert) bool {
			return a.Rule.ID == "lkm-dropped-then-loaded" && a.File.Path == ko
		})
		if a.Process.PID != ins.Process.Pid || a.Event.Severity != 3 {
			t.Errorf("alert process pid %d severity %d, want insmod's %d and high", a.Process.PID, a.Event.Severity, ins.Process.Pid)
		}
		if len(a.Auditd.Related) != 1 {
			t.Fatalf("related = %+v, want the cp write", a.Auditd.Related)
		}
		r := a.Auditd.Related[0]
		if r.Role != "module-file-write" || r.File.Path != ko || r.Process.PID != c.Process.Pid ||
			r.Process.Executable != realPath(t, cp) || r.Sequence == 0 {
			t.Errorf("related = %+v, want cp (pid %d, %s) writing %s", r, c.Process.Pid, realPath(t, cp), ko)
		}
		if a.Process.Parent.PID != os.Getpid() || len(a.Auditd.Process.Ancestry) == 0 ||
			a.Auditd.Process.Ancestry[0].PID != os.Getpid() || a.Process.Parent.Executable == "" {
			t.Errorf("parent %+v ancestry %+v, want the test process %d first", a.Process.Parent, a.Auditd.Process.Ancestry, os.Getpid())
		}
		n := 0
		for _, x := range readCorrAlerts(t, d.alerts) {
			if x.Rule.ID == "lkm-dropped-then-loaded" && x.File.Path == ko {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d dropped-then-loaded alerts for one insmod (finit_module then init_module), want 1", n)
		}
	})

	t.Run("a modprobe.d install command written by sh and run by modprobe links both", func(t *testing.T) {
		ko := filepath.Join(os.TempDir(), name+"-cfg.ko") // outside the audited dir: no drop to link
		if err := os.WriteFile(ko, make([]byte, 4096), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(ko) })
		mod := strings.ReplaceAll(name, "-", "_") + "_cfg"
		sh := exec.Command("/bin/sh", "-c", "echo 'install "+mod+" "+insmod+" "+ko+"' > "+conf)
		if out, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("sh: %v: %s", err, out)
		}
		mp := exec.Command(modprobe, mod)
		out, _ := mp.CombinedOutput() // insmod fails with ENOSYS; modprobe reports it
		a := d.waitCorr(t, "config then load of "+mod, func(a corrAlert) bool {
			return a.Rule.ID == "lkm-config-then-load" && a.File.Path == ko
		})
		if len(a.Auditd.Related) == 0 {
			t.Fatalf("no related events (modprobe said %q)", out)
		}
		r := a.Auditd.Related[0]
		if r.Role != "module-config-write" || r.File.Path != conf || r.Process.PID != sh.Process.Pid || r.Match == "" {
			t.Errorf("related = %+v, want sh (pid %d) writing %s", r, sh.Process.Pid, conf)
		}
		if a.Process.Executable != realPath(t, insmod) || a.Event.Severity != 3 {
			t.Errorf("loader %q severity %d, want insmod and high", a.Process.Executable, a.Event.Severity)
		}
	})
}

// TestFirstSeenSurvivesRestart runs the daemon twice on one state dir: a
// module load attempt is first-seen in the first run (no learning period)
// and not in the second.
func TestFirstSeenSurvivesRestart(t *testing.T) {
	requireUnicast(t)
	insmod := lookTool(t, "insmod")
	name := unique(t)
	ko := dummyModule(t, name)
	state := filepath.Join(t.TempDir(), "state")
	mod := strings.ReplaceAll(name, "-", "_")
	load := func(d *daemon) int {
		ins := exec.Command(insmod, ko)
		_ = ins.Run()
		d.waitAlerts(t, "insmod "+ko, func(a alert) bool {
			return a.Rule.ID == "kernel-module-load" && a.Process.PID == ins.Process.Pid
		})
		return ins.Process.Pid
	}
	firstSeen := func(d *daemon, pid int) map[string]string {
		got := map[string]string{}
		for _, a := range readCorrAlerts(t, d.alerts) {
			if a.Rule.ID == "lkm-first-seen" && a.Process.PID == pid {
				for _, v := range a.Auditd.FirstSeen {
					got[v.Kind] = v.Value
				}
			}
		}
		return got
	}

	d := startDaemon(t, "--state.dir", state, "--correlate.learning-period=0")
	pid := load(d)
	d.waitCorr(t, "first seen "+mod, func(a corrAlert) bool {
		return a.Rule.ID == "lkm-first-seen" && a.Process.PID == pid && a.File.Path == ko
	})
	if got := firstSeen(d, pid); got["module"] != mod || got["ko_path"] != ko {
		t.Fatalf("first run: first seen %v, want module %s and ko_path %s", got, mod, ko)
	}
	d.stop(t)

	d = startDaemon(t, "--state.dir", state, "--correlate.learning-period=0")
	pid = load(d)
	time.Sleep(300 * time.Millisecond) // the same event's alerts are written together
	d.stop(t)
	if got := firstSeen(d, pid); got["module"] != "" || got["ko_path"] != "" {
		t.Fatalf("second run: first seen %v for a module the first run saw", got)
	}
}
