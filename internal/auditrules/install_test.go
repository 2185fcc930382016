package auditrules

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// listTree returns every path below dir (relative), for "nothing was
// written here" checks.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestInstallRefusesSymlinksLeavingTheRoot: DIR/etc, DIR/etc/audit/rules.d
// or DIR itself a symbolic link to somewhere outside: Install fails with
// ErrUnsafeRoot and writes nothing outside DIR.
func TestInstallRefusesSymlinksLeavingTheRoot(t *testing.T) {
	fsys := snippets(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, root, outside string) string // returns the root to give
	}{
		{"root/etc is a link out", func(t *testing.T, root, outside string) string {
			must(t, os.Symlink(outside, filepath.Join(root, "etc")))
			return root
		}},
		{"root/etc is a relative link out", func(t *testing.T, root, outside string) string {
			rel, _ := filepath.Rel(root, outside)
			must(t, os.Symlink(rel, filepath.Join(root, "etc")))
			return root
		}},
		{"rules.d is a link out", func(t *testing.T, root, outside string) string {
			must(t, os.MkdirAll(filepath.Join(root, "etc/audit"), 0o750))
			must(t, os.Symlink(outside, filepath.Join(root, RulesDir)))
			return root
		}},
		{"a target file is a link out", func(t *testing.T, root, outside string) string {
			must(t, os.MkdirAll(filepath.Join(root, RulesDir), 0o750))
			names, _ := fs.Glob(fsys, "*.rules")
			must(t, os.Symlink(filepath.Join(outside, "victim"), filepath.Join(root, RulesDir, names[0])))
			return root
		}},
		{"the root itself is a link", func(t *testing.T, root, outside string) string {
			link := filepath.Join(t.TempDir(), "root-link")
			must(t, os.Symlink(outside, link))
			return link
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, outside := t.TempDir(), t.TempDir()
			give := tc.setup(t, root, outside)
			err := Install(fsys, give)
			if tc.name == "a target file is a link out" {
				// The link is replaced by the rename, never written through.
				if err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Lstat(filepath.Join(root, RulesDir, "../../..", RulesDir)); err != nil || !fi.IsDir() {
					t.Errorf("rules dir: %v", err)
				}
			} else if !errors.Is(err, ErrUnsafeRoot) {
				t.Errorf("Install = %v, want ErrUnsafeRoot", err)
			}
			if got := listTree(t, outside); len(got) != 0 {
				t.Errorf("written outside the root: %q", got)
			}
		})
	}
}

// TestInstallFollowsLinksInsideTheRoot: a relative link that stays inside
// the root is resolved there.
func TestInstallFollowsLinksInsideTheRoot(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "data/rules"), 0o750))
	must(t, os.MkdirAll(filepath.Join(root, "etc/audit"), 0o750))
	must(t, os.Symlink("../../data/rules", filepath.Join(root, RulesDir)))
	fsys := snippets(t)
	if err := Install(fsys, root); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(fsys, "*.rules")
	if _, err := os.Stat(filepath.Join(root, "data/rules", names[0])); err != nil {
		t.Error(err)
	}
}

// TestInstallIsAllOrNothing: when one file cannot be renamed into place
// (its name is taken by a non-empty directory) the files already replaced
// get their old content back and no temporary file is left.
func TestInstallIsAllOrNothing(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, RulesDir)
	must(t, os.MkdirAll(dir, 0o750))
	fsys := snippets(t)
	names, _ := fs.Glob(fsys, "*.rules")
	if len(names) < 3 {
		t.Fatalf("%d snippets", len(names))
	}
	old := []byte("# old\n")
	must(t, os.WriteFile(filepath.Join(dir, names[0]), old, 0o640))
	blocker := filepath.Join(dir, names[len(names)-1])
	must(t, os.MkdirAll(filepath.Join(blocker, "x"), 0o750))
	before := listTree(t, dir)
	if err := Install(fsys, root); err == nil {
		t.Fatal("Install succeeded over a directory")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, names[0])); !bytes.Equal(got, old) {
		t.Errorf("%s = %q, want the old content back", names[0], got)
	}
	if after := listTree(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("rules dir before %q, after %q", before, after)
	}
}

// TestInstallOnAFullDiskChangesNothing: a 16 KiB tmpfs cannot hold the
// set: the install fails and the directory is as it was (no temporary
// file, no partial set).
func TestInstallOnAFullDiskChangesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("AUDITLKM_REQUIRE_KERNEL") == "1" {
			t.Fatal("needs root to mount a tmpfs")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	root := t.TempDir()
	dir := filepath.Join(root, RulesDir)
	must(t, os.MkdirAll(dir, 0o750))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	must(t, os.WriteFile(filepath.Join(dir, "10-base.rules"), []byte("-b 8192\n"), 0o640))
	if err := Install(snippets(t), root); err == nil {
		t.Fatal("Install succeeded on a 12 KiB tmpfs")
	}
	if got := listTree(t, dir); strings.Join(got, ",") != "10-base.rules" {
		t.Errorf("rules dir holds %q after a failed install", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestInstallCommentsOutOnlyTheURingList: a line on the io_uring list is
// commented out for auditctl 3.0; a line on the exit list naming
// io_uring_setup is not (auditctl 3.0 loads it).
func TestInstallCommentsOutOnlyTheURingList(t *testing.T) {
	for _, c := range []struct {
		line      string
		commented bool
	}{
		{"-a always,io_uring -S openat -F dir=/etc -F key=k", true},
		{"-A io_uring,never -S openat", true},
		{"  -a always,io_uring -S openat", true},
		{"-a always,exit -F arch=b64 -S io_uring_setup -F key=auditlkm-uring-setup", false},
		{"-a always,exit -F arch=b64 -S io_uring_enter -F key=io_uring", false},
		{"## -a always,io_uring is read by audit-userspace 3.1", false},
		{"-w /etc/io_uring/ -p wa", false},
	} {
		got := string(commentURing([]byte(c.line + "\n")))
		if commented := strings.Contains(got, "#"+c.line); commented != c.commented {
			t.Errorf("%q: commented out %v, want %v:\n%s", c.line, commented, c.commented, got)
		}
	}
}
