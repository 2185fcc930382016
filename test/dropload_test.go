package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// TestLoadSaysHowOldItsFileIs: a module file dropped in /dev/shm (no rule
// records that creation by default) and loaded 1.5 s later: the load
// alert reads the file's own metadata and says it was created about 1 s
// before the load, and by whom it is owned.
func TestLoadSaysHowOldItsFileIs(t *testing.T) {
	kerneltest.Require(t)
	insmod := lookTool(t, "insmod")
	ko := filepath.Join("/dev/shm", unique(t)+".ko")
	if err := os.WriteFile(ko, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(ko) })
	d := startDaemon(t)
	time.Sleep(1500 * time.Millisecond)
	if out, err := exec.Command(insmod, ko).CombinedOutput(); err == nil {
		t.Fatalf("insmod of a dummy file succeeded: %s", out)
	}
	d.waitAlerts(t, "load of "+ko, func(a alert) bool {
		return a.Rule.ID == "kernel-module-load" && a.File.Path == ko
	})
	var reason string
	for _, line := range strings.Split(readFile(t, d.alerts), "\n") {
		var a struct {
			Rule  struct{ ID string }
			Event struct{ Reason string }
			File  struct{ Path string }
		}
		if json.Unmarshal([]byte(line), &a) == nil && a.Rule.ID == "kernel-module-load" && a.File.Path == ko {
			reason = a.Event.Reason
		}
	}
	re := regexp.MustCompile(`the file \(owner uid 0, mode 600\) was (created|last changed) (1|2) s before the load`)
	if !re.MatchString(reason) {
		t.Errorf("reason %q does not say how old the file is", reason)
	}
	t.Log(reason)
	d.stop(t)
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDropLinkedByDefault: with only the embedded default rules, a module
// copied into /dev/shm and into /var/tmp by cp and loaded by insmod is
// linked to its drop (lkm-dropped-then-loaded), without the optional
// every-creation snippet.
func TestDropLinkedByDefault(t *testing.T) {
	kerneltest.Require(t)
	insmod, cp := lookTool(t, "insmod"), lookTool(t, "cp")
	u := unique(t)
	src := filepath.Join(t.TempDir(), "src.ko")
	if err := os.WriteFile(src, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "--correlate.learning-period=0")
	for _, dir := range []string{"/dev/shm", "/var/tmp", "/tmp"} {
		ko := filepath.Join(dir, u+".ko")
		t.Cleanup(func() { os.Remove(ko) })
		if out, err := exec.Command(cp, src, ko).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
		if out, err := exec.Command(insmod, ko).CombinedOutput(); err == nil {
			t.Fatalf("insmod of a dummy file succeeded: %s", out)
		}
		d.waitAlerts(t, "dropped then loaded "+ko, func(a alert) bool {
			return a.Rule.ID == "lkm-dropped-then-loaded" && a.File.Path == ko
		})
	}
	d.stop(t)
}
