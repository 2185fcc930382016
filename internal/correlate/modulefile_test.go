package correlate

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func copyTestModule(t *testing.T, dst string) {
	t.Helper()
	b, err := os.ReadFile("../modfile/testdata/hello_oot-unsigned.ko")
	must(t, err)
	must(t, os.WriteFile(dst, b, 0o600))
}

func TestLoadReadsItsModuleFile(t *testing.T) {
	dir := t.TempDir()
	ko := filepath.Join(dir, "hello_oot.ko")
	copyTestModule(t, ko)
	ins := tp{pid: 2001, ppid: 100, comm: "insmod", exe: "/usr/bin/kmod", args: []string{"insmod", ko}, cwd: "/"}
	s, m, _ := testStore(t, nil)
	s.Observe(execEv(t, 100, 2, ins))
	ml, _ := loadOf(s.Observe(finitEv(t, 101, 3, ins, "hello_oot")))
	if ml.FileInfo == nil || ml.FileErr != "" {
		t.Fatalf("file info %+v err %q", ml.FileInfo, ml.FileErr)
	}
	if in := ml.FileInfo; in.Path != ko || in.Modinfo.Name != "hello_oot" || in.Signed() || len(in.SHA256) != 64 {
		t.Errorf("info %+v", in)
	}
	s.Observe(finitEv(t, 102, 4, ins, "hello_oot"))
	if got := testutil.ToFloat64(m.moduleReads.WithLabelValues(moduleReadCached)); got != 1 {
		t.Errorf("cached reads %v, want 1", got)
	}

	t.Run("a file that is gone is an error, not a failure", func(t *testing.T) {
		gone := with(ins, func(p *tp) { p.args = []string{"insmod", filepath.Join(dir, "gone.ko")} })
		s.Observe(execEv(t, 200, 5, gone))
		ml, _ := loadOf(s.Observe(finitEv(t, 201, 6, gone, "")))
		if ml.FileInfo == nil || !strings.Contains(ml.FileErr, "no such file") {
			t.Errorf("info %+v err %q", ml.FileInfo, ml.FileErr)
		}
	})

	t.Run("a replay does not read unless configured", func(t *testing.T) {
		r, _, _ := testStore(t, func(c *Config) { c.ReadModuleFiles = false })
		r.Observe(execEv(t, 100, 2, ins))
		if ml, _ := loadOf(r.Observe(finitEv(t, 101, 3, ins, "hello_oot"))); ml.FileInfo != nil || ml.FileErr != "" || ml.File != ko {
			t.Errorf("load %+v", ml)
		}
	})

	t.Run("the file opened is compared by inode", func(t *testing.T) {
		py := tp{pid: 2002, ppid: 100, comm: "python3", exe: "/usr/bin/python3", args: []string{"python3", "l.py"}, cwd: "/"}
		s.Observe(execEv(t, 300, 7, py))
		s.Observe(openEv(t, 301, 8, py, ko, 0, "NORMAL", 4242, "yes"))
		ml, _ := loadOf(s.Observe(finitEv(t, 302, 9, py, "hello_oot")))
		if ml.FileSource != FileFromOpen || len(ml.FileMismatch) != 1 || !strings.Contains(ml.FileMismatch[0], "inode") {
			t.Errorf("load %+v", ml)
		}
	})

	t.Run("the budget bounds the files read per second", func(t *testing.T) {
		b, m, _ := testStore(t, nil)
		now := time.Unix(1000, 0)
		b.now = func() time.Time { return now }
		b.Observe(execEv(t, 100, 2, ins))
		var f Facts
		for i := 0; i < ModuleFileReadBudget+3; i++ {
			f = b.Observe(finitEv(t, int64(101+i), 3+i, ins, ""))
		}
		ml, _ := loadOf(f)
		if ml.FileInfo != nil || !strings.Contains(ml.FileErr, "in a second") {
			t.Errorf("load %+v", ml)
		}
		if got := testutil.ToFloat64(m.moduleReads.WithLabelValues(moduleReadBudget)); got != 3 {
			t.Errorf("budget skips %v, want 3", got)
		}
		// The next second has a new budget, unless reading took its time.
		now = now.Add(time.Second)
		if ml, _ := loadOf(b.Observe(finitEv(t, 200, 40, ins, ""))); ml.FileInfo == nil {
			t.Errorf("a new second: %+v", ml)
		}
		b.fileBudgets[classLoad].spent = ModuleFileReadTime
		if ml, _ := loadOf(b.Observe(finitEv(t, 201, 41, ins, ""))); ml.FileInfo != nil || !strings.Contains(ml.FileErr, "of reading in a second") {
			t.Errorf("reading time spent: %+v", ml)
		}
	})
}

// TestProcFDReadsTheLoadedFile: a loader that deletes its module right
// after finit_module still has the fd open; the file is read through
// /proc/<pid>/fd, not the path (gone).
func TestProcFDReadsTheLoadedFile(t *testing.T) {
	dir := t.TempDir()
	ko := filepath.Join(dir, "x.ko")
	copyTestModule(t, ko)
	f, err := os.Open(ko)
	must(t, err)
	defer f.Close()
	must(t, os.Remove(ko))
	me := tp{pid: os.Getpid(), ppid: os.Getppid(), comm: "modfile.test", exe: "/proc/self/exe", args: []string{"python3", "l.py"}, cwd: "/"}
	s, _, _ := testStore(t, func(c *Config) { c.ProcRoot = "/proc" })
	now := time.Now().UnixMilli()
	e := finitEv(t, now, 1, me, "")
	e.Syscall.Args[0] = uint64(f.Fd())
	ml, _ := loadOf(s.Observe(e))
	if ml.FileSource != FileFromProcFD || !strings.HasSuffix(ml.File, " (deleted)") {
		t.Fatalf("load %+v", ml)
	}
	if ml.FileInfo == nil || ml.FileErr != "" || ml.FileInfo.Modinfo.Name != "hello_oot" || ml.FileInfo.Path != ml.File {
		t.Fatalf("info %+v err %q", ml.FileInfo, ml.FileErr)
	}
}

// TestNodeStoresDoNotReadModuleFiles: a named node's load names a file on
// another host; this machine's file of that name is not it.
func TestNodeStoresDoNotReadModuleFiles(t *testing.T) {
	cfg := DefaultConfig()
	if !cfg.ReadModuleFiles || NodeConfig(cfg, DefaultMaxNodes).ReadModuleFiles {
		t.Errorf("local reads %v, node reads %v", cfg.ReadModuleFiles, NodeConfig(cfg, DefaultMaxNodes).ReadModuleFiles)
	}
}

// TestModprobeLoadFileFromModulesDep: modprobe names a module, not a
// file; live, the store finds the file where modprobe did, in the
// running kernel's modules.dep, and reads it.
func TestModprobeLoadFileFromModulesDep(t *testing.T) {
	fp := newFakeProc(t)
	root := t.TempDir()
	dep := modulesDepPath(root)
	must(t, os.MkdirAll(filepath.Join(filepath.Dir(dep), "kernel/drivers/net"), 0o755))
	ko := filepath.Join(filepath.Dir(dep), "kernel/drivers/net/hello-oot.ko")
	copyTestModule(t, ko)
	must(t, os.WriteFile(dep, []byte("kernel/net/6lowpan/nhc_hop.ko: kernel/net/6lowpan/6lowpan.ko\nkernel/drivers/net/hello-oot.ko:\n"), 0o644))
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"modprobe by name", []string{"modprobe", "hello_oot"}, ko},
		{"the kernel's autoload", []string{"/sbin/modprobe", "-q", "--", "hello-oot"}, ko},
		{"modprobe from another directory", []string{"modprobe", "-d", "/tmp/x", "hello_oot"}, ""},
		{"insmod is not modprobe", []string{"insmod"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _, _ := testStore(t, func(cfg *Config) { cfg.ProcRoot, cfg.ModulesRoot = fp.root, root })
			p := tp{pid: 2300, ppid: 1, comm: path.Base(c.args[0]), exe: "/usr/bin/kmod", args: c.args, cwd: "/"}
			s.Observe(execEv(t, 100, 1, p))
			ml, _ := loadOf(s.Observe(finitEv(t, 101, 2, p, "hello_oot")))
			if ml.File != c.want {
				t.Fatalf("file %q (%s), want %q", ml.File, ml.FileSource, c.want)
			}
			if c.want != "" && (ml.FileSource != FileFromModulesDep || ml.FileInfo == nil || ml.FileInfo.Modinfo.Name != "hello_oot") {
				t.Errorf("load %+v", ml)
			}
		})
	}
	t.Run("a replay never looks", func(t *testing.T) {
		s, _, _ := testStore(t, func(cfg *Config) { cfg.ModulesRoot = root })
		p := tp{pid: 2301, ppid: 1, comm: "modprobe", exe: "/usr/bin/kmod", args: []string{"modprobe", "hello_oot"}, cwd: "/"}
		s.Observe(execEv(t, 100, 1, p))
		if ml, _ := loadOf(s.Observe(finitEv(t, 101, 2, p, "hello_oot"))); ml.File != "" {
			t.Errorf("replay resolved %q", ml.File)
		}
	})
}

// TestFinitFDWinsOverSpoofedArguments: a live loader whose arguments (or
// rewritten proctitle) name an innocent module while it hands finit_module
// another file: the fd is what the kernel loaded.
func TestFinitFDWinsOverSpoofedArguments(t *testing.T) {
	dir := t.TempDir()
	innocent := filepath.Join(dir, "dummy.ko")
	must(t, os.WriteFile(innocent, []byte("not read"), 0o600))
	evil := filepath.Join(dir, "evil.ko")
	copyTestModule(t, evil)
	f, err := os.Open(evil)
	must(t, err)
	defer f.Close()
	ml := finitByThisProcess(t, f, "insmod", innocent)
	if ml.File != evil || ml.FileSource != FileFromProcFD || len(ml.FileMismatch) != 1 || !strings.Contains(ml.FileMismatch[0], innocent) {
		t.Fatalf("load %+v", ml)
	}
	if ml.FileInfo == nil || ml.FileInfo.Modinfo.Name != "hello_oot" {
		t.Errorf("file read %+v", ml.FileInfo)
	}
}

// TestFinitFDThroughSymlinkIsOneFile: insmod /lib/modules/... on a merged
// /usr system (Debian 12: lib -> usr/lib) hands finit_module a descriptor
// that /proc shows as /usr/lib/modules/...: one file, no mismatch, the
// loader's name kept and the file read (seen in the VM suite's guest).
func TestFinitFDThroughSymlinkIsOneFile(t *testing.T) {
	_, _, named := mergedUsrModule(t)
	f, err := os.Open(named)
	must(t, err)
	defer f.Close()
	ml := finitByThisProcess(t, f, "insmod", named)
	if ml.File != named || ml.FileSource != FileFromArgv || len(ml.FileMismatch) != 0 {
		t.Fatalf("load %+v", ml)
	}
	if ml.FileInfo == nil || ml.FileInfo.Modinfo.Name != "hello_oot" || ml.FileInfo.Path != named {
		t.Errorf("file read %+v", ml.FileInfo)
	}
}

// TestModuleFileReadByNameWhenTheLoaderExited: the loader's fd was
// resolved, then the loader exited before the file was read (insmod exits
// right after finit_module; seen in the VM suite under load): the file is
// read by its name instead of being left unread.
func TestModuleFileReadByNameWhenTheLoaderExited(t *testing.T) {
	dir := t.TempDir()
	ko := filepath.Join(dir, "hello.ko")
	copyTestModule(t, ko)
	s, _, _ := testStore(t, nil)
	// As while a load is observed.
	s.class = classLoad
	gone := filepath.Join(dir, "proc", "4242", "fd", "3") // never existed
	ml := ModuleLoad{File: ko, FileSource: FileFromArgv}
	s.readModuleFile(&ml, gone)
	if ml.FileErr != "" || ml.FileInfo == nil || ml.FileInfo.Modinfo.Name != "hello_oot" || ml.FileInfo.Path != ko {
		t.Fatalf("info %+v err %q", ml.FileInfo, ml.FileErr)
	}
	// An unlinked file has no name to fall back to.
	ml = ModuleLoad{File: ko + " (deleted)", FileSource: FileFromProcFD}
	s.readModuleFile(&ml, gone)
	if ml.FileErr == "" {
		t.Fatalf("a deleted file was read by name: %+v", ml.FileInfo)
	}
}

// TestSameFileWhenTheLoaderExited: the loader's fd was read as a path
// through a symbolic link (/usr/lib/modules for /lib/modules on merged
// /usr), then the loader exited: the two names are compared as the daemon
// sees them, so the load keeps its name (and its link to the drop).
func TestSameFileWhenTheLoaderExited(t *testing.T) {
	dir, real, named := mergedUsrModule(t)
	other := filepath.Join(dir, "usr", "lib", "other.ko")
	copyTestModule(t, other)
	s, _, _ := testStore(t, nil)
	gone := filepath.Join(dir, "proc", "4242", "fd", "3")
	for _, tc := range []struct {
		target string
		want   bool
	}{
		{real, true},
		{other, false},
		{real + " (deleted)", false},
		{"relative.ko", false},
	} {
		if got := s.sameFile(gone, 4242, named, tc.target); got != tc.want {
			t.Errorf("sameFile(%s, %s) = %v, want %v", named, tc.target, got, tc.want)
		}
	}
}

// mergedUsrModule lays out a merged /usr in a temporary directory (lib ->
// usr/lib) with a module in it, and returns the directory, the module's
// real path and its name through the lib symlink.
func mergedUsrModule(t *testing.T) (dir, real, named string) {
	t.Helper()
	dir = t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "usr", "lib"), 0o755))
	must(t, os.Symlink("usr/lib", filepath.Join(dir, "lib")))
	real = filepath.Join(dir, "usr", "lib", "hello.ko")
	copyTestModule(t, real)
	return dir, real, filepath.Join(dir, "lib", "hello.ko")
}

// finitByThisProcess execs args (as this test process, read through the
// real /proc) and then has it call finit_module on f: the load a live
// store sees.
func finitByThisProcess(t *testing.T, f *os.File, args ...string) ModuleLoad {
	t.Helper()
	me := tp{pid: os.Getpid(), ppid: os.Getppid(), comm: args[0], exe: "/proc/self/exe", args: args, cwd: "/"}
	s, _, _ := testStore(t, func(c *Config) { c.ProcRoot = "/proc" })
	now := time.Now().UnixMilli()
	s.Observe(execEv(t, now-5, 1, me))
	e := finitEv(t, now, 2, me, "")
	e.Syscall.Args[0] = uint64(f.Fd())
	ml, _ := loadOf(s.Observe(e))
	return ml
}
