package auditrules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// TestModuleTreeWatchDecidedAtRenderTime: /lib/modules gets its own watch
// only where it is a real directory; on a merged-/usr tree (/lib a symlink
// to usr/lib) the line is skipped as the same tree, the io_uring line too.
func TestModuleTreeWatchDecidedAtRenderTime(t *testing.T) {
	files := fstest.MapFS{"46-x.rules": {Data: []byte(
		"-w /usr/lib/modules/ -p wa -k auditlkm-ko\n-w /lib/modules/ -p wa -k auditlkm-ko\n" +
			"-a always,io_uring -S openat -F dir=/usr/lib/modules -F key=auditlkm-ko\n" +
			"-a always,io_uring -S openat -F dir=/lib/modules -F key=auditlkm-ko\n")}}
	for _, merged := range []bool{true, false} {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "usr/lib/modules"), 0o755); err != nil {
			t.Fatal(err)
		}
		if merged {
			if err := os.Symlink("usr/lib", filepath.Join(root, "lib")); err != nil {
				t.Fatal(err)
			}
		} else if err := os.MkdirAll(filepath.Join(root, "lib/modules"), 0o755); err != nil {
			t.Fatal(err)
		}
		opts := fakeRoot(t, root)
		opts.Realpath = func(p string) (string, error) {
			r, err := filepath.EvalSymlinks(filepath.Join(root, p))
			return "/" + strings.TrimPrefix(strings.TrimPrefix(r, root), "/"), err
		}
		rs, err := ParseFS(files, opts)
		if err != nil {
			t.Fatal(err)
		}
		var loaded, skipped []string
		for _, r := range rs {
			if r.Loadable() {
				loaded = append(loaded, r.Text)
			} else {
				skipped = append(skipped, r.Text+" ("+r.Skip+")")
			}
		}
		wantLoaded := 6 // dir= and its name watch per -w line, one io_uring rule per line
		if merged {
			wantLoaded = 3
		}
		if len(loaded) != wantLoaded {
			t.Errorf("merged=%v: loaded %d %q, skipped %q", merged, len(loaded), loaded, skipped)
		}
		for _, s := range skipped {
			if !strings.Contains(s, "/lib/modules is /usr/lib/modules") {
				t.Errorf("merged=%v: skipped %s", merged, s)
			}
		}
	}
}
