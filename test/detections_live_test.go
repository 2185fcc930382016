package test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// vm32Test names the guest test that makes the same 32-bit calls where
// the host cannot execute them.
const vm32Test = "TestGuestScenarios in test/vm (step lkmcall-32)"

// TestDetectionsLive32Bit runs the -m32 build of testdata/lkmcall.c
// (compiled here, never committed) against the live daemon: the 32-bit
// ABI's init_module, finit_module, delete_module, kexec_load and bpf calls
// each raise their alert. A kernel built with IA32 emulation can still
// refuse every 32-bit ELF (ia32_emulation=0, or turned off by the
// hypervisor): execve fails with ENOEXEC before the program runs and the
// test is skipped; the VM suite makes the same calls in a guest that runs
// them.
func TestDetectionsLive32Bit(t *testing.T) {
	dir := t.TempDir()
	bin32 := buildLkmcall(t, dir, true)
	// Without arguments lkmcall prints its usage and exits 2: running at
	// all is the probe.
	if err := exec.Command(bin32).Run(); errors.Is(err, syscall.ENOEXEC) {
		t.Skipf("this kernel cannot execute a 32-bit ELF (%v): IA32 emulation is off; %s covers the same calls", err, vm32Test)
	}
	kerneltest.Require(t)
	u := unique(t)
	// Short: without an execve rule for the caller, the path comes from
	// PROCTITLE, which the kernel cuts at 128 bytes.
	ko := filepath.Join("/tmp", u+".ko")
	if err := os.WriteFile(ko, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(ko) })
	d := startDaemon(t)
	for _, call := range [][]string{{"finit", ko}, {"init", ko}, {"delete", strings.ReplaceAll(u, "-", "_")}, {"kexec"}, {"bpf"}} {
		if out, err := exec.Command(bin32, call...).CombinedOutput(); err != nil {
			t.Fatalf("lkmcall32 %v: %v: %s", call, err, out)
		}
	}
	for _, want := range []struct{ rule, action string }{
		{"kernel-module-load", "loaded-kernel-module"},
		{"kernel-module-unload", "unloaded-kernel-module"},
		{"kexec-kernel-load", "kexec_load"},
		{"bpf-program-load", "loaded-bpf-program"},
	} {
		d.waitAlerts(t, "32-bit "+want.rule, func(a alert) bool {
			return a.Rule.ID == want.rule && a.Event.Action == want.action && a.Process.Executable == bin32
		})
	}
	n := 0
	for _, a := range readAlerts(t, d.alerts) {
		if a.Rule.ID == "kernel-module-load" && a.Process.Executable == bin32 && a.File.Path == ko {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d module load alerts from the 32-bit caller naming %s, want 2 (finit_module and init_module)", n, ko)
	}
	d.stop(t)
}

// TestDetectionsLiveKmsgNotFromKernel runs the kernel log path end to end:
// a taint line written into /dev/kmsg matches kernel-log-out-of-tree-module
// and, because user space wrote it (facility LOG_USER), is counted as
// suppressed instead of alerting.
func TestDetectionsLiveKmsgNotFromKernel(t *testing.T) {
	kerneltest.Require(t)
	u := unique(t)
	d := startDaemon(t, "--kmsg.enable=true", "--kmsg.backlog=false")
	line := "<4>" + strings.ReplaceAll(u, "-", "_") + ": loading out-of-tree module taints kernel.\n"
	if err := os.WriteFile("/dev/kmsg", []byte(line), 0); err != nil {
		t.Fatal(err)
	}
	want := `auditlkm_detections_suppressed_total{reason="not-from-kernel",rule_id="kernel-log-out-of-tree-module"}`
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(scrape(t, d.addr), want) {
		if time.Now().After(deadline) {
			t.Errorf("metrics lack %s", want)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if body := scrape(t, d.addr); !strings.Contains(body, "auditlkm_kmsg_lines_total") {
		t.Error("metrics lack auditlkm_kmsg_lines_total")
	}
	for _, a := range readAlerts(t, d.alerts) {
		if strings.HasPrefix(a.Rule.ID, "kernel-log-") {
			t.Errorf("a line written from user space raised %s", a.Rule.ID)
		}
	}
	d.stop(t)
}
