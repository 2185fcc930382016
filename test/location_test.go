package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// TestTrustedInterpreterLoadingFromTmpIsUnusual: perl, a program in a
// usual place, calls finit_module on a file in /tmp that its command line
// does not name (the path comes from the environment). The file resolved
// through the loader's fd is in an unusual place: the location detection
// fires on it, where it used to look only at the loader's own place.
func TestTrustedInterpreterLoadingFromTmpIsUnusual(t *testing.T) {
	kerneltest.Require(t)
	perl := lookTool(t, "perl")
	mod := filepath.Join(t.TempDir(), unique(t)+".bin") // under /tmp
	if !strings.HasPrefix(mod, "/tmp/") {
		t.Skipf("the temporary directory %s is not under /tmp", mod)
	}
	if err := os.WriteFile(mod, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t)
	// syscall 313 is finit_module on x86_64; perl holds the fd for a second.
	cmd := exec.Command(perl, "-e", `open(my $f, "<", $ENV{M}) or die "$!"; my $p = ""; syscall(313, fileno($f), $p, 0); sleep 1`)
	cmd.Env = append(os.Environ(), "M="+mod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("perl: %v: %s", err, out)
	}
	d.waitAlerts(t, "the unusual location of the file perl loaded", func(a alert) bool {
		return a.Rule.ID == "kernel-module-load-unusual-location" && a.File.Path == mod &&
			strings.HasSuffix(a.Event.Reason, "module file "+mod)
	})
	d.stop(t)
}
