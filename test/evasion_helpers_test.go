package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// findAlert polls the daemon's alert file for up to wait and reports
// whether match found an alert; it never fails the test, so a suite can
// score techniques instead of stopping at the first miss.
func (d *daemon) findAlert(t *testing.T, wait time.Duration, match func(a alert) bool) (alert, bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		for _, a := range readAlerts(t, d.alerts) {
			if match(a) {
				return a, true
			}
		}
		if time.Now().After(deadline) {
			return alert{}, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sh runs a shell command line, returning its combined output and error.
func sh(script string) (string, error) {
	out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// buildLkmcall compiles testdata/lkmcall.c (64-bit, or -m32) into dir.
func buildLkmcall(t *testing.T, dir string, m32 bool) string {
	t.Helper()
	gcc := lookTool(t, "gcc")
	src, err := filepath.Abs("testdata/lkmcall.c")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "lkmcall64")
	args := []string{"-O1", "-o", out, src}
	if m32 {
		out = filepath.Join(dir, "lkmcall32")
		args = []string{"-m32", "-O1", "-o", out, src}
	}
	if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		if m32 && os.Getenv("AUDITLKM_REQUIRE_KERNEL") != "1" {
			t.Skipf("gcc -m32 failed (apt-get install gcc-multilib): %v: %s", err, b)
		}
		t.Fatalf("gcc %v: %v: %s", args, err, b)
	}
	return out
}
