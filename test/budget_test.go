package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// TestUnprivilegedLoadFloodCannotBlindRootLoads: a user without
// CAP_SYS_MODULE can make as many finit_module calls as it likes; the
// kernel refuses and audits each one. Those attempts used to spend the one
// per-second budget of /proc and module file reads that every load's file
// resolution draws from, and a root load in the same second was alerted on
// without its file. Here nobody floods refused loads while root loads a
// file whose name only the fd it gives finit_module tells (a custom
// loader, the file not named .ko, that lives on for a moment after the
// call: /proc/PID/fd of a loader that has exited tells nothing, budget or
// not): every root load's alert must name the file, and the flood must
// have spent the budget it is given, or the test proves nothing.
func TestUnprivilegedLoadFloodCannotBlindRootLoads(t *testing.T) {
	kerneltest.Require(t)
	dir, flood, loader := unprivilegedTools(t)
	mod := filepath.Join(dir, unique(t)+".bin")
	if err := os.WriteFile(mod, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}

	d := startDaemon(t)
	noise := exec.Command(flood, "-mode", "module", "-rate", "4000", "-duration", "6s", "-workers", "1")
	noise.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := noise.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = noise.Process.Kill(); _ = noise.Wait() })
	time.Sleep(time.Second)
	const loads = 6
	for range loads {
		if out, err := exec.Command(loader, "finit", mod, "500").CombinedOutput(); err != nil {
			t.Fatalf("lkmcall finit: %v: %s", err, out)
		}
	}
	if err := noise.Wait(); err != nil {
		t.Fatalf("the unprivileged flood: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		named, unnamed := 0, 0
		for _, a := range readAlerts(t, d.alerts) {
			if a.Rule.ID != "kernel-module-load" || a.Process.Executable != loader {
				continue
			}
			if a.File.Path == mod {
				named++
			} else {
				unnamed++
			}
		}
		if named == loads {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("root's %d loads during the flood: %d alerts name %s, %d do not", loads, named, mod, unnamed)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A root load whose loader closed the fd before it could be read says
	// why it has no file: not for want of budget.
	if out, err := exec.Command(loader, "finit", mod, "-500").CombinedOutput(); err != nil {
		t.Fatalf("lkmcall finit (fd closed): %v: %s", err, out)
	}
	d.waitAlerts(t, "the load whose fd was closed", func(a alert) bool {
		return a.Rule.ID == "kernel-module-load" && a.Process.Executable == loader && a.File.Path == "" &&
			strings.HasSuffix(a.Event.Reason, "; file unknown, its fd was gone when read: the loader had exited, or closed it")
	})
	m := scrapeMetrics(t, d.addr)
	if n := m.sum("auditlkm_correlate_proc_budget_exceeded_total", "budget=refused_load"); n == 0 {
		t.Fatal("the flood of refused loads never spent its budget: the test proves nothing")
	}
	if n := m.sum("auditlkm_correlate_proc_budget_exceeded_total", "budget=load"); n != 0 {
		t.Errorf("root's loads went past their budget %v times", n)
	}
	d.stop(t)
}

// TestUnprivilegedRefusedLoadsFromManyProcessesAreAggregated: a user can
// make refused loads from as many processes as it can fork, each raising
// its own alerts, kilobytes of JSON each, if alerts are aggregated per
// process. They are aggregated per user and executable: at most the burst
// and one summary per detection and second, and the alerts written, each
// summary for its aggregated_count, stand for every attempt.
func TestUnprivilegedRefusedLoadsFromManyProcessesAreAggregated(t *testing.T) {
	kerneltest.Require(t)
	_, flood, loader := unprivilegedTools(t)

	d := startDaemon(t)
	gen := exec.Command(flood, "-mode", "exec", "-exec-path", loader, "-exec-arg", "finit",
		"-rate", "300", "-duration", "3s", "-workers", "2")
	gen.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := gen.Output()
	if err != nil {
		t.Fatalf("the unprivileged loadgen: %v", err)
	}
	var r loadReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("loadgen output %q: %v", out, err)
	}
	if r.Sent < 300 {
		t.Fatalf("only %d processes made a load: the test proves nothing", r.Sent)
	}
	// Every process's load reaches the alerts: wait for the last summary.
	var written, stands int
	deadline := time.Now().Add(20 * time.Second)
	for {
		written, stands = 0, 0
		for _, a := range readAlerts(t, d.alerts) {
			if a.Rule.ID == "kernel-module-load" && a.Process.Executable == loader {
				written++
				stands += max(1, a.Auditd.AggregatedCount)
			}
		}
		if stands >= int(r.Sent) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d processes' refused loads: %d module load alerts written", r.Sent, written)
	if stands != int(r.Sent) {
		t.Errorf("the alerts stand for %d refused loads, %d processes made one", stands, r.Sent)
	}
	// Per user, executable and reason, at most the burst and a summary a
	// second (windows follow the event times, ended early by the clock
	// when the stream pauses): 39-46 alerts in 3 s here, where per process
	// there was one each.
	if most := max(int(r.Sent)/10, 60); written > most {
		t.Errorf("%d module load alerts written for %d processes' refused loads, want at most %d", written, r.Sent, most)
	}
	d.stop(t)
}

// unprivilegedTools puts test/loadgen and lkmcall in a new directory that
// nobody (uid 65534) can run them from (the test binaries' directory is
// root's alone), removed after the test.
func unprivilegedTools(t *testing.T) (dir, flood, loader string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "auditlkm-flood-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	flood = filepath.Join(dir, "loadgen")
	copyFile(t, loadgen(t), flood, 0o755)
	return dir, flood, buildLkmcall(t, dir, false)
}
