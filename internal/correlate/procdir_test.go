package correlate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// holder starts a sleep(1) that holds file as its fd 3, killed and reaped
// at the end of the test.
func holder(t *testing.T, file string) *exec.Cmd {
	t.Helper()
	f, err := os.Open(file)
	must(t, err)
	defer f.Close()
	c := exec.Command("sleep", "60")
	c.ExtraFiles = []*os.File{f}
	must(t, c.Start())
	t.Cleanup(func() {
		_ = c.Process.Kill()
		_ = c.Wait()
	})
	return c
}

func openDirs(s *Store) int {
	n := 0
	for _, l := range s.dirs.slots {
		if l.pid > 0 {
			n++
		}
	}
	return n
}

// procDirFDs counts this process's fds open on /proc/<pid> directories.
func procDirFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	must(t, err)
	n := 0
	for _, e := range es {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if rest, ok := strings.CutPrefix(l, "/proc/"); ok && !strings.Contains(rest, "/") {
			if _, err := strconv.Atoi(rest); err == nil {
				n++
			}
		}
	}
	return n
}

// TestLoaderDirs: on this host's /proc, a loader's repeated loads are
// resolved through its open /proc/<pid> directory, to the file it holds;
// a load of a loader that has exited is not resolved to the fd of the
// process that has its pid since; at most loaderDirSlots directories are
// open, and Close closes them.
func TestLoaderDirs(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.ko"), filepath.Join(dir, "b.ko")
	must(t, os.WriteFile(a, []byte("a"), 0o644))
	must(t, os.WriteFile(b, []byte("b"), 0o644))
	s, _, _ := testStore(t, func(c *Config) { c.ProcRoot = "/proc"; c.ReadModuleFiles = false })
	t.Cleanup(s.Close)

	c1 := holder(t, a)
	p1 := tp{pid: c1.Process.Pid, ppid: os.Getpid(), comm: "sleep", exe: "/usr/bin/sleep", args: []string{"sleep", "60"}, cwd: "/"}
	serial := 0
	load := func(p tp) ModuleLoad {
		serial++
		ml, _ := loadOf(s.Observe(finitEv(t, time.Now().UnixMilli(), serial, p, "")))
		return ml
	}
	for i := range 4 {
		if ml := load(p1); ml.File != a || ml.FileSource != FileFromProcFD {
			t.Fatalf("load %d: file %q (%s, unknown %q), want %s from the fd", i+1, ml.File, ml.FileSource, ml.FileUnknown, a)
		}
	}
	// The first two through the path, the second opening the directory.
	if s.dirs.hits != 2 || openDirs(s) != 1 {
		t.Fatalf("%d loads resolved through an open directory, %d open; want 2 and 1", s.dirs.hits, openDirs(s))
	}

	t.Run("the pid of an exited loader is not its loads' any more", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to choose the next pid (/proc/sys/kernel/ns_last_pid)")
		}
		pid := c1.Process.Pid
		must(t, c1.Process.Kill())
		_ = c1.Wait()
		var c2 *exec.Cmd
		for try := 0; try < 20 && (c2 == nil || c2.Process.Pid != pid); try++ {
			must(t, os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0o644))
			c2 = holder(t, b)
		}
		if c2.Process.Pid != pid {
			t.Fatalf("pid %d not reused", pid)
		}
		if l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/3"); err != nil || l != b {
			t.Fatalf("the new process's fd 3 is %q (%v), want %s", l, err, b)
		}
		// A late event of the exited loader: the directory it had says it
		// is gone; the path would name the new process's file.
		if ml := load(p1); ml.File != "" || !strings.Contains(ml.FileUnknown, "gone") {
			t.Fatalf("the exited loader's load: file %q, unknown %q; want no file, its fd gone", ml.File, ml.FileUnknown)
		}
		if openDirs(s) != 0 {
			t.Fatalf("%d directories open after their process exited", openDirs(s))
		}
	})

	t.Run("two loaders taking turns", func(t *testing.T) {
		var ps []tp
		for range 2 {
			c := holder(t, a)
			ps = append(ps, tp{pid: c.Process.Pid, ppid: os.Getpid(), comm: "sleep", exe: "/usr/bin/sleep", args: []string{"sleep", "60"}, cwd: "/"})
		}
		hits := s.dirs.hits
		for range 3 {
			for _, p := range ps {
				if ml := load(p); ml.File != a {
					t.Fatalf("pid %d: file %q, unknown %q", p.pid, ml.File, ml.FileUnknown)
				}
			}
		}
		if n := s.dirs.hits - hits; n != 2 {
			t.Fatalf("%d of 6 loads resolved through an open directory, want 2 (the third of each)", n)
		}
	})

	t.Run("at most loaderDirSlots directories are open", func(t *testing.T) {
		for range loaderDirSlots + 2 {
			c := holder(t, a)
			p := tp{pid: c.Process.Pid, ppid: os.Getpid(), comm: "sleep", exe: "/usr/bin/sleep", args: []string{"sleep", "60"}, cwd: "/"}
			for range 3 {
				if ml := load(p); ml.File != a {
					t.Fatalf("pid %d: file %q, unknown %q", p.pid, ml.File, ml.FileUnknown)
				}
			}
		}
		if n := openDirs(s); n != loaderDirSlots {
			t.Fatalf("%d directories open, want %d", n, loaderDirSlots)
		}
		if n := procDirFDs(t); n != loaderDirSlots {
			t.Fatalf("%d fds open on /proc/<pid> directories, want %d", n, loaderDirSlots)
		}
		s.Close()
		if n := procDirFDs(t); n != 0 || openDirs(s) != 0 {
			t.Fatalf("%d fds open on /proc/<pid> directories after Close", n)
		}
	})
}
