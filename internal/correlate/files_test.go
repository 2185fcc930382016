package correlate

import (
	"path"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

func TestFileProvenance(t *testing.T) {
	cp := tp{pid: 2000, ppid: 100, comm: "cp", exe: "/usr/bin/cp", uid: 0, auid: 1000, args: []string{"cp", "rk.ko", "/lib/modules/6.1/extra/"}, cwd: "/tmp"}
	const (
		oRDONLY = 0x0
		oWRCRT  = 0x241 // O_WRONLY|O_CREAT|O_TRUNC
	)
	tests := []struct {
		name   string
		events func(t *testing.T) []*auditevent.Event
		path   string // looked up with WrittenBy; "" = nothing recorded
		inode  uint64
		kind   FileKind
		serial uint32
	}{
		{"an open with O_CREAT of a new .ko records its writer", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{execEv(t, 0, 1, cp), openEv(t, 5, 2, cp, "/lib/modules/6.1/extra/rk.ko", oWRCRT, "CREATE", 4242, "yes")}
		}, "/lib/modules/6.1/extra/rk.ko", 4242, FileModule, 2},
		{"a relative name is resolved against the cwd", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{openEv(t, 5, 2, cp, "./x/../rk.ko.xz", oWRCRT, "CREATE", 43, "yes")}
		}, "/tmp/rk.ko.xz", 43, FileModule, 2},
		{"an open for writing of an existing .ko records its writer", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{openEv(t, 5, 3, cp, "/tmp/rk.ko", 0x1, "NORMAL", 44, "yes")}
		}, "/tmp/rk.ko", 44, FileModule, 3},
		{"a read-only open of a .ko records nothing", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{openEv(t, 5, 3, cp, "/tmp/rk.ko", oRDONLY, "NORMAL", 44, "yes")}
		}, "", 0, 0, 0},
		{"a failed create records nothing", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{openEv(t, 5, 3, cp, "/tmp/rk.ko", oWRCRT, "CREATE", 44, "no")}
		}, "", 0, 0, 0},
		{"a rename onto a .ko name records the target", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{renameEv(t, 5, 4, cp, "/tmp/.tmp123", "/usr/lib/modules/6.1/kernel/rk.ko.zst", 45)}
		}, "/usr/lib/modules/6.1/kernel/rk.ko.zst", 45, FileModule, 4},
		{"a file dropped in modprobe.d is module configuration", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{openEv(t, 5, 5, cp, "/etc/modprobe.d/evil.conf", oWRCRT, "CREATE", 46, "yes")}
		}, "/etc/modprobe.d/evil.conf", 46, FileModuleConfig, 5},
		{"a file renamed into modules-load.d is module configuration", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{renameEv(t, 5, 6, cp, "/etc/modules-load.d/.x.swp", "/etc/modules-load.d/x.conf", 47)}
		}, "/etc/modules-load.d/x.conf", 47, FileModuleConfig, 6},
		{"a name with a newline is kept verbatim", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{openEv(t, 5, 7, cp, "/tmp/a\nb.ko", oWRCRT, "CREATE", 48, "yes")}
		}, "/tmp/a\nb.ko", 48, FileModule, 7},
		{"a directory named .ko is not a module file", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{openEv(t, 5, 7, cp, "/tmp/x/.ko", oWRCRT, "CREATE", 48, "yes")}
		}, "", 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := testStore(t, nil)
			for _, e := range tc.events(t) {
				s.Observe(e)
			}
			if tc.path == "" {
				if st := s.Stats(); st.Files != 0 {
					t.Fatalf("recorded %d files, want none", st.Files)
				}
				return
			}
			w, ok := s.WrittenBy(tc.path)
			if !ok {
				t.Fatalf("WrittenBy(%q) unknown", tc.path)
			}
			if w.Kind != tc.kind || w.Serial != tc.serial || w.Inode != tc.inode || w.Dev != "08:01" ||
				w.Process.PID != cp.pid || w.Process.Exe != cp.exe || w.Process.AUID != 1000 ||
				!w.At.Equal(time.UnixMilli(baseSec*1000+5)) {
				t.Fatalf("WrittenBy(%q) = %+v", tc.path, w)
			}
			wi, ok := s.WrittenByInode("08:01", tc.inode)
			if !ok || wi.Path != tc.path {
				t.Fatalf("WrittenByInode = %+v %v", wi, ok)
			}
			_, isCfg := s.ConfigWrite(tc.path)
			if isCfg != (tc.kind == FileModuleConfig) {
				t.Fatalf("ConfigWrite(%q) = %v", tc.path, isCfg)
			}
		})
	}
}

func TestConfigWritesSince(t *testing.T) {
	s, _, _ := testStore(t, nil)
	p := tp{pid: 2100, ppid: 1, comm: "tee", exe: "/usr/bin/tee", cwd: "/"}
	s.Observe(openEv(t, 1000, 1, p, "/etc/modprobe.d/a.conf", 0x241, "CREATE", 1, "yes"))
	s.Observe(openEv(t, 2000, 2, p, "/tmp/x.ko", 0x241, "CREATE", 2, "yes"))
	s.Observe(openEv(t, 3000, 3, p, "/run/modules-load.d/b.conf", 0x241, "CREATE", 3, "yes"))
	s.Observe(openEv(t, 4000, 4, p, "/etc/modules", 0x1, "NORMAL", 4, "yes"))
	got := s.ConfigWrites(time.UnixMilli(baseSec*1000 + 1500))
	if len(got) != 2 || got[0].Path != "/etc/modules" || got[1].Path != "/run/modules-load.d/b.conf" {
		t.Fatalf("ConfigWrites = %+v", got)
	}
}

func TestParentName(t *testing.T) {
	for _, p := range []string{"", "/", "/a", "a", ".", "..", "./a", "../a", "a/b", "/etc/modprobe.d/x.conf",
		"/etc/modprobe.d//x.conf", "/etc/modprobe.d/./x.conf", "/etc/x/../modules-load.d/y.conf", "/etc/modprobe.d/",
		"//etc/modprobe.d/x", "/a/b.", "/a/.b/c", "a/b/", "/\n/modprobe.d/x"} {
		if got, want := parentName(p), path.Base(path.Dir(p)); got != want {
			t.Errorf("parentName(%q) = %q, want %q (path.Base(path.Dir))", p, got, want)
		}
	}
}

// FuzzParentName checks parentName against what it stands for.
func FuzzParentName(f *testing.F) {
	for _, p := range []string{"/etc/modprobe.d/x.conf", "a/./b", "../a", "/"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := parentName(p), path.Base(path.Dir(p)); got != want {
			t.Errorf("parentName(%q) = %q, want %q", p, got, want)
		}
	})
}
