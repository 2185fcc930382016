package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// TestModuleOverwrittenInPlace: an existing .ko in the module tree opened
// for writing (appended to, truncated by a shell redirect, truncate(1),
// dd conv=notrunc) alerts like a creation there (kernel-object-file-
// creation, action modification); reading it does not. The tree is made
// under /usr/lib/modules (absent on this host, whose kernel has no
// modules) before the daemon starts, as on a host with modules.
func TestModuleOverwrittenInPlace(t *testing.T) {
	kerneltest.Require(t)
	const tree = "/usr/lib/modules"
	if _, err := os.Stat(tree); err != nil {
		if err := os.Mkdir(tree, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(tree) })
	}
	u := unique(t)
	dir := filepath.Join(tree, u, "kernel")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Join(tree, u)) })
	kos := map[string]string{
		"append":   "echo x >> %s",
		"truncate": ": > %s",
		"tool":     "truncate -s 0 %s",
		"dd":       "dd if=/dev/zero of=%s bs=1 count=1 conv=notrunc status=none",
	}
	for name := range kos {
		if err := os.WriteFile(filepath.Join(dir, name+".ko"), make([]byte, 64), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "read.ko"), make([]byte, 64), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t)
	if out, err := sh("cat " + filepath.Join(dir, "read.ko") + " >/dev/null"); err != nil {
		t.Fatal(out, err)
	}
	for name, cmd := range kos {
		p := filepath.Join(dir, name+".ko")
		if out, err := sh(fmt.Sprintf(cmd, p)); err != nil {
			t.Fatalf("%s: %v: %s", cmd, err, out)
		}
		d.waitAlerts(t, "in-place write "+name, func(a alert) bool {
			return a.Rule.ID == "kernel-object-file-creation" && a.File.Path == p && a.Event.Action == "modification"
		})
	}
	// Through io_uring (no PATH record at all for an existing file): named
	// from the process's open files while it holds the module.
	uringfs := buildURingFS(t, t.TempDir())
	held := filepath.Join(dir, "uring.ko")
	if err := os.WriteFile(held, make([]byte, 64), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(uringfs, "trunc-hold", held, "x").CombinedOutput(); err != nil {
		t.Fatalf("uringfs: %v: %s", err, out)
	}
	d.waitAlerts(t, "io_uring in-place write", func(a alert) bool {
		return a.Rule.ID == "kernel-object-file-creation" && a.File.Path == held && a.Event.Action == "modification"
	})
	for _, a := range readAlerts(t, d.alerts) {
		if a.File.Path == filepath.Join(dir, "read.ko") {
			t.Errorf("a read alerted: %+v", a)
		}
	}
	d.stop(t)
}
