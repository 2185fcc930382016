package test

import (
	"fmt"
	"os"
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
	for _, a := range readAlerts(t, d.alerts) {
		if a.File.Path == filepath.Join(dir, "read.ko") {
			t.Errorf("a read alerted: %+v", a)
		}
	}
	d.stop(t)
}
