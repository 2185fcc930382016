package kerneltest

import (
	"os"
	"os/exec"
	"testing"
)

// Tmpfs mounts a tmpfs of size (mount's size=, e.g. "64k") in a temporary
// directory and unmounts it when the test ends: a small disk that fills
// up. It needs root; without it the test is skipped, or failed when
// EnvRequire is "1".
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal("needs root to mount a tmpfs")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}
