package provenance

import (
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, root, p, content string) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func sum(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

// fakeRoot builds a small dpkg system: package tool owns /usr/bin/tool
// (listed as /bin/tool, merged /usr), /usr/sbin/crond; a diversion moves
// /usr/bin/div aside for package other.
func fakeRoot(t *testing.T) string {
	root := t.TempDir()
	write(t, root, "var/lib/dpkg/status", "Package: tool\n")
	write(t, root, "var/lib/dpkg/info/tool.list", "/.\n/bin\n/bin/tool\n/usr/sbin/crond\n/usr/bin/div\n")
	write(t, root, "var/lib/dpkg/info/tool.md5sums", sum("TOOL")+"  bin/tool\n"+sum("CROND")+"  usr/sbin/crond\n"+sum("DIV-ORIG")+"  usr/bin/div\n")
	write(t, root, "var/lib/dpkg/info/other:amd64.list", "/usr/bin/div\n")
	write(t, root, "var/lib/dpkg/info/other:amd64.md5sums", sum("DIV-NEW")+"  usr/bin/div\n")
	write(t, root, "var/lib/dpkg/diversions", "/usr/bin/div\n/usr/bin/div.orig\nother:amd64\n")
	write(t, root, "usr/bin/tool", "TOOL")
	write(t, root, "usr/sbin/crond", "CROND")
	write(t, root, "usr/local/sbin/crond", "CROND")
	write(t, root, "usr/bin/div", "DIV-NEW")
	write(t, root, "usr/bin/div.orig", "DIV-ORIG")
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestVerifyPackage(t *testing.T) {
	root := fakeRoot(t)
	v := New(root, nil)
	for _, tc := range []struct{ path, want string }{
		{"/usr/bin/tool", ""},   // listed as /bin/tool: merged /usr
		{"/bin/tool", ""},       // and the other way round
		{"/usr/sbin/crond", ""}, // exact
		{"/usr/local/sbin/crond", NotOwned},
		{"/usr/bin/div", ""},      // the diverting package's file
		{"/usr/bin/div.orig", ""}, // the original, moved aside
		{"usr/bin/tool", NotAbsolute},
		{"/usr/bin/gone", Unreadable},
	} {
		if got := v.VerifyPackage(tc.path); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.path, got, tc.want)
		}
	}
	// Overwrite the package's file: the cache is keyed by identity, so
	// the new content is checked.
	time.Sleep(10 * time.Millisecond)
	write(t, root, "usr/sbin/crond", "EVIL!")
	if got := v.VerifyPackage("/usr/sbin/crond"); got != Modified {
		t.Errorf("modified crond: %q, want %q", got, Modified)
	}
}

func TestNoDatabase(t *testing.T) {
	root := t.TempDir()
	write(t, root, "usr/bin/tool", "TOOL")
	if got := New(root, nil).VerifyPackage("/usr/bin/tool"); got != NoPackageDB {
		t.Fatalf("%q, want %q", got, NoPackageDB)
	}
	write(t, root, "var/lib/rpm/rpmdb.sqlite", "x")
	if got := New(root, nil).VerifyPackage("/usr/bin/tool"); got != RPMUnsupported {
		t.Fatalf("%q, want %q", got, RPMUnsupported)
	}
}

func TestVerifySnap(t *testing.T) {
	root := t.TempDir()
	write(t, root, "var/lib/snapd/snaps/lxd_123.snap", "x")
	v := New(root, nil)
	for _, tc := range []struct{ path, want string }{
		{"/snap/lxd/123/sbin/lxd", ""},
		{"/snap/lxd/124/sbin/lxd", NotInstalledSnap},
		{"/snap/lxd/current/sbin/lxd", NotInstalledSnap},
		{"/snap/evil", NotInstalledSnap},
		{"/tmp/snap/lxd/123/x", NotInstalledSnap},
	} {
		if got := v.VerifySnap(tc.path); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.path, got, tc.want)
		}
	}
}

// TestThisHost checks the real dpkg database of the machine the tests run
// on (Debian: test/run-all.sh installs kmod).
func TestThisHost(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		if os.Getenv("AUDITLKM_REQUIRE_KERNEL") != "" {
			t.Fatal("no dpkg database on this host")
		}
		t.Skip("no dpkg database")
	}
	v := New("/", nil)
	if got := v.VerifyPackage("/usr/bin/kmod"); got != "" {
		t.Errorf("/usr/bin/kmod: %q, want verified", got)
	}
	dir := t.TempDir()
	b, err := os.ReadFile("/usr/bin/kmod")
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, "kmod")
	if err := os.WriteFile(cp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := v.VerifyPackage(cp); got != NotOwned {
		t.Errorf("copy of kmod: %q, want %q", got, NotOwned)
	}
}

// FuzzDatabase feeds hostile dpkg database files (lists, md5sums,
// diversions) to the verifier: it must answer, never panic, and never
// verify a file whose checksum no package recorded.
func FuzzDatabase(f *testing.F) {
	f.Add("/usr/bin/tool\n", sum("TOOL")+"  usr/bin/tool\n", "/usr/bin/tool\n/usr/bin/tool.real\npkg\n")
	f.Add("/\x00\n\n/usr/bin/tool", "zz  usr/bin/tool", "\n\n")
	f.Fuzz(func(t *testing.T, list, sums, diversions string) {
		root := t.TempDir()
		write(t, root, "var/lib/dpkg/status", "x")
		write(t, root, "var/lib/dpkg/info/pkg.list", list)
		write(t, root, "var/lib/dpkg/info/pkg.md5sums", sums)
		write(t, root, "var/lib/dpkg/diversions", diversions)
		write(t, root, "usr/bin/tool", "TOOL")
		why := New(root, nil).VerifyPackage("/usr/bin/tool")
		if why == "" && !strings.Contains(sums, sum("TOOL")) {
			t.Fatalf("verified without its checksum recorded")
		}
	})
}
