package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

func buildAtwrite(t *testing.T, dir string) string {
	t.Helper()
	src, err := filepath.Abs("testdata/atwrite.c")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "atwrite")
	if b, err := exec.Command(lookTool(t, "gcc"), "-O1", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc atwrite.c: %v: %s", err, b)
	}
	return out
}

// TestConfigDirectorySwapped: a watched configuration directory moved
// away and replaced by a new one, a configuration directory created after
// the daemon started (then written through a directory fd, by a system
// call and by io_uring), and one symlinked into place: each change of the
// directory itself alerts (lkm-config-file-change), and files then
// written there alert at once, named where they are read from.
func TestConfigDirectorySwapped(t *testing.T) {
	kerneltest.Require(t)
	bin := t.TempDir()
	atwrite := buildAtwrite(t, bin)
	uringfs := buildURingFS(t, bin)
	u := unique(t)
	d := startDaemon(t)
	change := func(what, path, action string) {
		t.Helper()
		d.waitAlerts(t, what, func(a alert) bool {
			return a.Rule.ID == "lkm-config-file-change" && a.File.Path == path && a.Event.Action == action
		})
	}
	created := func(what, path string) {
		t.Helper()
		d.waitAlerts(t, what, func(a alert) bool {
			return a.Rule.ID == "lkm-config-file-creation" && a.File.Path == path
		})
	}

	// 1. mv /etc/modules-load.d away && mkdir /etc/modules-load.d, then a
	// file written there (shell redirect, and through a directory fd).
	const mld = "/etc/modules-load.d"
	away := mld + "." + u
	if err := os.Rename(mld, away); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(away); err == nil {
			os.RemoveAll(mld)
			if err := os.Rename(away, mld); err != nil {
				t.Errorf("restore %s: %v", mld, err)
			}
		}
	})
	if err := os.Mkdir(mld, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := sh("echo dummy > " + mld + "/" + u + ".conf"); err != nil {
		t.Fatal(out, err)
	}
	if out, err := exec.Command(atwrite, mld, u+"-dirfd.conf", "dummy\n").CombinedOutput(); err != nil {
		t.Fatalf("atwrite: %v: %s", err, out)
	}
	change("directory moved away", mld, "deletion")
	change("directory re-created", mld, "creation")
	created("file in the new directory", mld+"/"+u+".conf")
	created("file in the new directory through a dirfd", mld+"/"+u+"-dirfd.conf")
	os.RemoveAll(mld)
	if err := os.Rename(away, mld); err != nil {
		t.Fatal(err)
	}

	// 2. A configuration directory that did not exist at start
	// (/run/modules-load.d here), created, then written through a
	// directory fd by a system call and by io_uring.
	const run = "/run/modules-load.d"
	if _, err := os.Lstat(run); err == nil {
		t.Logf("%s exists on this host: part 2 runs on it as it is", run)
	} else {
		if err := os.Mkdir(run, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(run) })
		change("late configuration directory", run, "creation")
	}
	t.Cleanup(func() { os.Remove(run + "/" + u + "-late.conf"); os.Remove(run + "/" + u + "-uring.conf") })
	if out, err := exec.Command(atwrite, run, u+"-late.conf", "dummy\n").CombinedOutput(); err != nil {
		t.Fatalf("atwrite: %v: %s", err, out)
	}
	if out, err := exec.Command(uringfs, "openat", run, u+"-uring.conf", "dummy\n").CombinedOutput(); err != nil {
		t.Fatalf("uringfs: %v: %s", err, out)
	}
	created("dirfd write in the late directory", run+"/"+u+"-late.conf")
	created("io_uring write in the late directory", run+"/"+u+"-uring.conf")

	// 3. ln -s /root/staged /usr/local/lib/modules-load.d
	const ulm = "/usr/local/lib/modules-load.d"
	if _, err := os.Lstat(ulm); err == nil {
		t.Logf("%s exists on this host: symlink case not run", ulm)
	} else {
		staged := filepath.Join("/root", u+"-staged")
		if err := os.Mkdir(staged, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(staged) })
		if err := os.Symlink(staged, ulm); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(ulm) })
		change("configuration directory symlinked into place", ulm, "symlink-creation")
		// A file then written through the symlink lands in the staged
		// directory: the guard, woken by the symlink's creation, has put
		// the tree watch on the directory the link points to.
		through := ulm + "/" + u + "-through.conf"
		time.Sleep(500 * time.Millisecond)
		if out, err := sh("echo dummy > " + through); err != nil {
			t.Fatal(out, err)
		}
		created("file written through the symlinked directory", through)
	}
	d.stop(t)
}
