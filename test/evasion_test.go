package test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// technique is one way of planting a module configuration file.
type technique struct {
	name string
	// run plants the file; target is the canonical path it must be
	// reported under.
	run    func(t *testing.T) error
	target string
}

// TestEvasion runs every planting technique the issue lists against the
// live daemon and scores them: each must produce an alert (not a
// suppression) naming the real configuration path. It prints
// "evasion: N passed, N failed" and fails if any technique went unseen.
func TestEvasion(t *testing.T) {
	kerneltest.Require(t)
	u := unique(t)
	tmp := t.TempDir() // under /tmp: where an attacker stages things
	const dir = "/etc/modprobe.d"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("%s: %v", dir, err)
	}
	conf := func(tag string) string { return filepath.Join(dir, u+"-"+tag+".conf") }
	staged := func(tag string) string {
		p := filepath.Join(tmp, u+"-"+tag+".conf")
		if err := os.WriteFile(p, []byte("install "+u+" /bin/true\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var made []string
	t.Cleanup(func() {
		for _, p := range made {
			os.Remove(p)
		}
	})
	// sed -i edits a file that exists before the daemon starts.
	sedTarget := conf("sed-i")
	if err := os.WriteFile(sedTarget, []byte("# placeholder\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A program named like a package manager, in a temporary directory:
	// a copy of cp, and a symlink to cp (comm says dpkg, exe says cp).
	fakeDir := filepath.Join(tmp, "bin")
	if err := os.Mkdir(fakeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := sh("cp /usr/bin/cp " + fakeDir + "/dpkg && ln -s /usr/bin/cp " + fakeDir + "/apt && ln -s " + dir + " " + tmp + "/link"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	cmd := func(script string) func(*testing.T) error {
		return func(*testing.T) error {
			out, err := sh(script)
			if err != nil {
				return fmt.Errorf("%w: %s", err, out)
			}
			return nil
		}
	}
	techniques := []technique{
		{name: "relative path", target: conf("relative"), run: cmd("cd " + dir + " && echo x > ./" + u + "-relative.conf")},
		{name: "dot-dot", target: conf("dotdot"), run: cmd("cd /tmp && echo x > ../etc/../etc/modprobe.d/" + u + "-dotdot.conf")},
		{name: "symlinked directory", target: conf("symlink"), run: cmd("echo x > " + tmp + "/link/" + u + "-symlink.conf")},
		{name: "dot-dot through a symlink", target: conf("symdotdot"), run: cmd("echo x > " + tmp + "/link/../modprobe.d/" + u + "-symdotdot.conf")},
		{name: "openat with a directory fd", target: conf("dirfd"), run: func(*testing.T) error {
			d, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
			if err != nil {
				return err
			}
			defer unix.Close(d)
			fd, err := unix.Openat(d, u+"-dirfd.conf", unix.O_CREAT|unix.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return unix.Close(fd)
		}},
		{name: "hard link", target: conf("link"), run: cmd("ln " + staged("link") + " " + conf("link"))},
		{name: "rename from elsewhere", target: conf("rename"), run: func(t *testing.T) error { return os.Rename(staged("rename"), conf("rename")) }},
		{name: "cp", target: conf("cp"), run: cmd("cp " + staged("cp") + " " + conf("cp"))},
		{name: "mv", target: conf("mv"), run: cmd("mv " + staged("mv") + " " + conf("mv"))},
		{name: "tee", target: conf("tee"), run: cmd("echo x | tee " + conf("tee"))},
		{name: "dd", target: conf("dd"), run: cmd("echo x | dd of=" + conf("dd") + " status=none")},
		{name: "sed -i", target: sedTarget, run: cmd("sed -i 's/placeholder/install " + u + " \\/bin\\/true/' " + sedTarget)},
		{name: "install", target: conf("install"), run: cmd("install -m 644 " + staged("install") + " " + conf("install"))},
		{name: "copy of cp named dpkg in /tmp", target: conf("fake-dpkg"), run: cmd(fakeDir + "/dpkg " + staged("fake-dpkg") + " " + conf("fake-dpkg"))},
		{name: "symlink to cp named apt in /tmp", target: conf("fake-apt"), run: cmd(fakeDir + "/apt " + staged("fake-apt") + " " + conf("fake-apt"))},
	}
	for _, tc := range techniques {
		made = append(made, tc.target)
	}
	d := startDaemon(t, "--kmsg.enable=false")
	passed, failed := 0, 0
	for _, tc := range techniques {
		if err := tc.run(t); err != nil {
			t.Errorf("%s: could not run the technique: %v", tc.name, err)
			failed++
			continue
		}
		a, ok := d.findAlert(t, 5*time.Second, func(a alert) bool {
			return (a.Rule.ID == "lkm-config-file-creation" || a.Rule.ID == "lkm-config-file-change") && a.File.Path == tc.target
		})
		if !ok {
			t.Errorf("evasion %q: no alert for %s", tc.name, tc.target)
			failed++
			continue
		}
		t.Logf("%-32s -> %s %s by %s", tc.name, a.Rule.ID, a.Event.Action, a.Process.Executable)
		passed++
	}
	d.stop(t)
	fmt.Printf("evasion: %d passed, %d failed\n", passed, failed)
	t.Logf("evasion: %d passed, %d failed", passed, failed)
	if failed > 0 {
		t.Errorf("evasion: %d of %d techniques went unseen", failed, len(techniques))
	}
}
