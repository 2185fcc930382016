package correlate

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// initModuleEv: p calls init_module (175) from a buffer.
func initModuleEv(t testing.TB, ms int64, serial int, p tp) *auditevent.Event {
	return ev(t, syscallLine(ms, serial, 175, "no", -38, 0x7f0000, 0x1000, 0x55e000, 0, p))
}

func TestModuleLoads(t *testing.T) {
	cp := tp{pid: 2000, ppid: 100, comm: "cp", exe: "/usr/bin/cp", args: []string{"cp", "/src/rk.ko", "/tmp/rk.ko"}, cwd: "/src"}
	ins := tp{pid: 2001, ppid: 100, comm: "insmod", exe: "/usr/bin/kmod", args: []string{"insmod", "/tmp/rk.ko"}, cwd: "/"}
	insRel := with(ins, func(p *tp) { p.args, p.cwd = []string{"insmod", "./rk.ko", "debug=1"}, "/tmp" })
	py := tp{pid: 2002, ppid: 100, comm: "python3", exe: "/usr/bin/python3", args: []string{"python3", "l.py"}, cwd: "/"}
	const oWRCRT = 0x241
	type want struct {
		file, source, name string
		fromFile           bool
		drop               string // writer exe, "" for no drop
		same, repeat       bool
	}
	tests := []struct {
		name   string
		events func(t *testing.T) []*auditevent.Event
		want   want
	}{
		{"a file written by cp and loaded by insmod is linked to cp", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{openEv(t, 0, 1, cp, "/tmp/rk.ko", oWRCRT, "CREATE", 4242, "yes"),
				execEv(t, 100, 2, ins), finitEv(t, 101, 3, ins, "")}
		}, want{file: "/tmp/rk.ko", source: FileFromArgv, name: "rk", fromFile: true, drop: "/usr/bin/cp"}},
		{"a relative insmod argument is resolved against its cwd and the kernel's name wins", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{openEv(t, 0, 1, cp, "/tmp/rk.ko", oWRCRT, "CREATE", 4242, "yes"),
				execEv(t, 100, 2, insRel), finitEv(t, 101, 3, insRel, "rootkit")}
		}, want{file: "/tmp/rk.ko", source: FileFromArgv, name: "rootkit", drop: "/usr/bin/cp"}},
		{"a file renamed into place is a drop too", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{renameEv(t, 0, 1, cp, "/tmp/.x", "/tmp/rk.ko", 4243),
				execEv(t, 100, 2, ins), finitEv(t, 101, 3, ins, "")}
		}, want{file: "/tmp/rk.ko", source: FileFromArgv, name: "rk", fromFile: true, drop: "/usr/bin/cp"}},
		{"without a module argument the process's earlier open names the file", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{openEv(t, 0, 1, cp, "/tmp/rk.ko", oWRCRT, "CREATE", 4242, "yes"),
				execEv(t, 50, 2, py), openEv(t, 60, 3, py, "/tmp/rk.ko", 0, "NORMAL", 4242, "yes"), finitEv(t, 70, 4, py, "")}
		}, want{file: "/tmp/rk.ko", source: FileFromOpen, name: "rk", fromFile: true, drop: "/usr/bin/cp"}},
		{"a process that writes and loads its own module is flagged as the same process", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{execEv(t, 50, 2, py), openEv(t, 60, 3, py, "/tmp/rk.ko", oWRCRT, "CREATE", 4242, "yes"),
				finitEv(t, 70, 4, py, "")}
		}, want{file: "/tmp/rk.ko", source: FileFromOpen, name: "rk", fromFile: true, drop: "/usr/bin/python3", same: true}},
		{"a write older than the link window is not linked", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{openEv(t, 0, 1, cp, "/tmp/rk.ko", oWRCRT, "CREATE", 4242, "yes"),
				execEv(t, time.Hour.Milliseconds()+1, 2, ins), finitEv(t, time.Hour.Milliseconds()+2, 3, ins, "")}
		}, want{file: "/tmp/rk.ko", source: FileFromArgv, name: "rk", fromFile: true}},
		{"insmod's init_module retry after finit_module is a repeat", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{openEv(t, 0, 1, cp, "/tmp/rk.ko", oWRCRT, "CREATE", 4242, "yes"),
				execEv(t, 100, 2, ins), finitEv(t, 101, 3, ins, ""), initModuleEv(t, 102, 4, ins)}
		}, want{file: "/tmp/rk.ko", source: FileFromArgv, name: "rk", fromFile: true, drop: "/usr/bin/cp", repeat: true}},
		{"a load with nothing to tell its file knows neither file nor name", func(t *testing.T) []*auditevent.Event {
			return []*auditevent.Event{execEv(t, 50, 2, py), finitEv(t, 70, 4, py, "")}
		}, want{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := testStore(t, func(c *Config) { c.LinkWindow = time.Hour })
			evs := tc.events(t)
			var f Facts
			for _, e := range evs {
				f = s.Observe(e)
			}
			ml, ok := loadOf(f)
			if !ok || ml.Serial != evs[len(evs)-1].Serial {
				t.Fatalf("Facts.Load = %+v %v, want the last event's", ml, ok)
			}
			w := tc.want
			if ml.File != w.file || ml.FileSource != w.source || ml.Name != w.name || ml.NameFromFile != w.fromFile {
				t.Fatalf("load = file %q (%s) name %q (from file %v), want %q (%s) %q (%v)",
					ml.File, ml.FileSource, ml.Name, ml.NameFromFile, w.file, w.source, w.name, w.fromFile)
			}
			gotDrop := ""
			if ml.Drop != nil {
				gotDrop = ml.Drop.Process.Exe
			}
			if gotDrop != w.drop || ml.DropBySameProcess != w.same || ml.Repeat != w.repeat {
				t.Fatalf("drop = %q same %v repeat %v, want %q %v %v", gotDrop, ml.DropBySameProcess, ml.Repeat, w.drop, w.same, w.repeat)
			}
		})
	}
	t.Run("another event clears the load", func(t *testing.T) {
		s, _, _ := testStore(t, nil)
		s.Observe(finitEv(t, 0, 1, ins, "x"))
		if _, ok := loadOf(s.Observe(exitEv(t, 1, 2, ins))); ok {
			t.Fatal("Facts.Load set after a non-load event")
		}
	})
}

func TestFinitModuleFDIsReadFromProc(t *testing.T) {
	fp := newFakeProc(t)
	py := tp{pid: 2100, ppid: 1, comm: "python3", exe: "/usr/bin/python3", args: []string{"python3", "l.py"}, cwd: "/"}
	fp.add(fakeProcess{pid: 2100, ppid: 1, comm: "python3", exe: "/usr/bin/python3", args: py.args, cwd: "/", startMs: -10})
	must(t, os.MkdirAll(filepath.Join(fp.root, "2100", "fd"), 0o755))
	must(t, os.Symlink("/var/tmp/x.ko", filepath.Join(fp.root, "2100", "fd", "3")))
	s, _, _ := testStore(t, func(c *Config) { c.ProcRoot = fp.root })
	ml, _ := loadOf(s.Observe(finitEv(t, 0, 1, py, "")))
	if ml.File != "/var/tmp/x.ko" || ml.FileSource != FileFromProcFD || ml.Name != "x" {
		t.Fatalf("load = %+v, want /var/tmp/x.ko from the fd", ml)
	}

	t.Run("a reused pid's fd is not trusted", func(t *testing.T) {
		fp.add(fakeProcess{pid: 2100, ppid: 1, comm: "other", exe: "/usr/bin/other", startMs: 5000})
		must(t, os.MkdirAll(filepath.Join(fp.root, "2100", "fd"), 0o755))
		must(t, os.Symlink("/var/tmp/y.ko", filepath.Join(fp.root, "2100", "fd", "3")))
		if ml, _ := loadOf(s.Observe(finitEv(t, 10, 2, py, ""))); ml.File != "" || ml.FileUnknown != "its fd was not read: the pid is another process's now" {
			t.Fatalf("load file = %q (unknown: %q) from a process that started after the event", ml.File, ml.FileUnknown)
		}
	})

	t.Run("a closed fd or an exited loader is said so", func(t *testing.T) {
		fp.add(fakeProcess{pid: 2100, ppid: 1, comm: "python3", exe: "/usr/bin/python3", args: py.args, cwd: "/", startMs: -10})
		must(t, os.MkdirAll(filepath.Join(fp.root, "2100", "fd"), 0o755)) // fd 3 gone
		s, _, _ := testStore(t, func(c *Config) { c.ProcRoot = fp.root })
		if ml, _ := loadOf(s.Observe(finitEv(t, 20, 3, py, ""))); ml.File != "" || !strings.Contains(ml.FileUnknown, "gone") {
			t.Fatalf("load file = %q, unknown: %q", ml.File, ml.FileUnknown)
		}
	})

	t.Run("a replay reads nothing and says nothing", func(t *testing.T) {
		s, _, _ := testStore(t, nil)
		if ml, _ := loadOf(s.Observe(finitEv(t, 30, 4, py, ""))); ml.FileUnknown != "" {
			t.Fatalf("unknown: %q", ml.FileUnknown)
		}
	})
}

func TestConfigThenLoadLinks(t *testing.T) {
	sh := tp{pid: 3000, ppid: 100, comm: "sh", exe: "/usr/bin/dash", args: []string{"sh", "-c", "echo > x"}, cwd: "/"}
	modprobe := tp{pid: 3001, ppid: 100, comm: "modprobe", exe: "/usr/bin/kmod", args: []string{"modprobe", "evil-cfg"}, cwd: "/"}
	hsh := tp{pid: 3002, ppid: 3001, comm: "sh", exe: "/usr/bin/dash", args: []string{"/bin/sh", "-c", "/sbin/insmod /tmp/payload.ko"}, cwd: "/"}
	ins := tp{pid: 3003, ppid: 3002, comm: "insmod", exe: "/usr/bin/kmod", args: []string{"/sbin/insmod", "/tmp/payload.ko"}, cwd: "/"}
	chain := func(t *testing.T, s *Store, conf string, startSerial int) Facts {
		s.Observe(openEv(t, 0, startSerial, sh, conf, 0x241, "CREATE", 99, "yes"))
		s.Observe(execEv(t, 100, startSerial+1, modprobe))
		s.Observe(cloneEv(t, 101, startSerial+2, modprobe, 3002, 0x1200011))
		s.Observe(execEv(t, 102, startSerial+3, hsh))
		s.Observe(cloneEv(t, 103, startSerial+4, hsh, 3003, 0x1200011))
		s.Observe(execEv(t, 104, startSerial+5, ins))
		return s.Observe(finitEv(t, 105, startSerial+6, ins, ""))
	}
	links := func(ml ModuleLoad) string {
		var out []string
		for _, c := range ml.Configs {
			out = append(out, c.Write.Path+" "+c.Match+" "+c.Module)
		}
		return strings.Join(out, "; ")
	}

	t.Run("a replay links a configuration file named after the module its modprobe asked for", func(t *testing.T) {
		s, _, _ := testStore(t, nil)
		ml, _ := loadOf(chain(t, s, "/etc/modprobe.d/evil-cfg.conf", 1))
		if got := links(ml); got != "/etc/modprobe.d/evil-cfg.conf file-name evil_cfg" {
			t.Fatalf("links = %q", got)
		}
	})
	t.Run("a replay cannot link a configuration file named otherwise", func(t *testing.T) {
		s, _, _ := testStore(t, nil)
		if ml, _ := loadOf(chain(t, s, "/etc/modprobe.d/zz.conf", 1)); len(ml.Configs) != 0 {
			t.Fatalf("links = %q", links(ml))
		}
	})
	t.Run("a live store reads the file and links by the names it holds", func(t *testing.T) {
		s, m, conf := liveConfigStore(t, "zz.conf", "# evil\ninstall evil-cfg /sbin/insmod /tmp/payload.ko\n")
		ml, _ := loadOf(chain(t, s, conf, 1))
		if got := links(ml); got != conf+" names evil_cfg" {
			t.Fatalf("links = %q", got)
		}
		if w, ok := s.ConfigWrite(conf); !ok || !slices.Equal(w.Names, []string{"evil_cfg"}) || !slices.Equal(w.Files, []string{"/tmp/payload.ko"}) {
			t.Fatalf("stored config write = %+v", w)
		}
		if n := testutil.ToFloat64(m.configReads); n < 2 {
			t.Fatalf("config reads = %v, want the write and the load to read it", n)
		}
		// An install command naming the loaded file links even when the
		// loader's names do not match.
		must(t, os.WriteFile(conf, []byte("install other /sbin/insmod /tmp/payload.ko\n"), 0o644))
		s.Observe(execEv(t, 200, 20, with(ins, func(p *tp) { p.pid, p.ppid = 3010, 1 })))
		ml, _ = loadOf(s.Observe(finitEv(t, 201, 21, with(ins, func(p *tp) { p.pid, p.ppid = 3010, 1 }), "")))
		if got := links(ml); got != conf+" install-file /tmp/payload.ko" {
			t.Fatalf("links = %q", got)
		}
	})
}

func TestFactsFirstSeen(t *testing.T) {
	s, _, _ := testStore(t, nil)
	ins := tp{pid: 2001, ppid: 100, comm: "insmod", exe: "/usr/bin/kmod", args: []string{"insmod", "/tmp/rk.ko"}, cwd: "/"}
	got := fmt.Sprint(s.Observe(execEv(t, 0, 1, ins)).FirstSeen)
	if got != "[{exe /usr/bin/kmod} {kmod_args insmod\x00/tmp/rk.ko}]" {
		t.Fatalf("exec: FirstSeen = %q", got)
	}
	if got := fmt.Sprint(s.Observe(finitEv(t, 1, 2, ins, "")).FirstSeen); got != "[{module rk} {ko_path /tmp/rk.ko}]" {
		t.Fatalf("load: FirstSeen = %q", got)
	}
	if got := s.Observe(initModuleEv(t, 2, 3, ins)).FirstSeen; len(got) != 0 {
		t.Fatalf("retry: FirstSeen = %q, want nothing new", got)
	}
}

func TestParseModuleConfig(t *testing.T) {
	tests := []struct {
		name, path, data string
		names, files     []string
	}{
		{"modprobe.d commands name modules", "/etc/modprobe.d/a.conf",
			"# comment\ninstall evil-mod /sbin/insmod /tmp/evil.ko; /bin/true\noptions snd_hda power_save=1\nalias pci:v* e1000e\nsoftdep a pre: b c post: d\nremove r /bin/false\nblacklist nope\n",
			[]string{"evil_mod", "snd_hda", "e1000e", "a", "b", "c", "d", "r"}, []string{"/tmp/evil.ko"}},
		{"continuation lines are joined", "/etc/modprobe.d/b.conf", "install x \\\n  /sbin/insmod /x/y.ko\n", []string{"x"}, []string{"/x/y.ko"}},
		{"modules-load.d lists names with comments", "/etc/modules-load.d/m.conf", "# c\n; c\nloop\n  dummy # trailing\n\nbad/name\n",
			[]string{"loop", "dummy"}, nil},
		{"/etc/modules is a list", "/etc/modules", "lp\nrtc\n", []string{"lp", "rtc"}, nil},
		{"hostile bytes are not names", "/etc/modules-load.d/h.conf", "a\x00b\n\xff\xfe\n" + strings.Repeat("x", 100) + "\n", []string{"\xff\xfe"}, nil},
		{"relative install paths are not files", "/etc/modprobe.d/c.conf", "install y insmod y.ko\n", []string{"y"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			names, files := ParseModuleConfig(tc.path, []byte(tc.data))
			if !slices.Equal(names, tc.names) || !slices.Equal(files, tc.files) {
				t.Fatalf("ParseModuleConfig = %q %q, want %q %q", names, files, tc.names, tc.files)
			}
		})
	}
}

func FuzzParseModuleConfig(f *testing.F) {
	f.Add("/etc/modprobe.d/a.conf", []byte("install a /sbin/insmod /tmp/a.ko\noptions b x=1\n"))
	f.Add("/etc/modules-load.d/a.conf", []byte("a\n#b\n;c\n"))
	f.Add("/etc/modprobe.d/a.conf", []byte("softdep a pre: b\\\n c\nalias x y\n"))
	f.Fuzz(func(t *testing.T, p string, data []byte) {
		names, files := ParseModuleConfig(p, data)
		if len(names) > MaxConfigNames || len(files) > MaxConfigFiles {
			t.Fatalf("unbounded: %d names, %d files", len(names), len(files))
		}
		for _, n := range names {
			if n == "" || len(n) > maxModuleName || strings.ContainsAny(n, "-/ \t\n\x00") {
				t.Fatalf("bad name %q", n)
			}
		}
		for _, f := range files {
			if !strings.HasPrefix(f, "/") || fileKind(f) != FileModule {
				t.Fatalf("bad file %q", f)
			}
		}
	})
}

// TestFinitModuleFileFromIMA: with an IMA policy rule "audit func=MODULE_CHECK"
// the kernel writes the file finit_module read into the event
// (INTEGRITY_RULE): it is the load's file, live or replayed, whether or
// not the loader still lives or names it.
func TestFinitModuleFileFromIMA(t *testing.T) {
	loader := tp{pid: 2400, ppid: 1, comm: "l", exe: "/usr/local/bin/l", args: []string{"l"}, cwd: "/"}
	ima := func(ms int64, serial int, file string) string {
		return fmt.Sprintf(`type=INTEGRITY_RULE %s file=%s hash="sha256:3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7" ppid=1 pid=2400 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="l" exe="/usr/local/bin/l"`, stamp(ms, serial), file)
	}
	finit := func(ms int64, serial int, p tp, extra ...string) *auditevent.Event {
		return ev(t, append([]string{syscallLine(ms, serial, 313, "yes", 0, 3, 0x55e000, 0, 0, p)}, extra...)...)
	}
	for _, c := range []struct {
		name, field, want string
		p                 tp
		mismatch          bool
	}{
		{"a quoted name", `"/dev/shm/.x.bin"`, "/dev/shm/.x.bin", loader, false},
		{"a hex name (it has a space)", strings.ToUpper(hex.EncodeToString([]byte("/tmp/a b.ko"))), "/tmp/a b.ko", loader, false},
		{"a name made clean", `"/tmp//x/../y.ko"`, "/tmp/y.ko", loader, false},
		{"not a path: ignored", `"y.ko"`, "", loader, false},
		{"argv names another file", `"/dev/shm/.x.ko"`, "/dev/shm/.x.ko",
			tp{pid: 2400, ppid: 1, comm: "insmod", exe: "/usr/bin/kmod", args: []string{"insmod", "/lib/modules/ok.ko"}, cwd: "/"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _, _ := testStore(t, nil) // a replay: no /proc
			s.Observe(execEv(t, 0, 1, c.p))
			ml, _ := loadOf(s.Observe(finit(10, 2, c.p, ima(10, 2, c.field))))
			if ml.File != c.want || (c.want != "" && ml.FileSource != FileFromIMA) {
				t.Fatalf("file %q from %q, want %q from IMA", ml.File, ml.FileSource, c.want)
			}
			if want := "sha256:3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7"; c.want != "" && ml.KernelHash != want {
				t.Errorf("kernel hash %q, want %q", ml.KernelHash, want)
			}
			if got := len(ml.FileMismatch) > 0; got != c.mismatch {
				t.Errorf("mismatch %v, want %v", ml.FileMismatch, c.mismatch)
			}
		})
	}
}

func TestValidIMAHash(t *testing.T) {
	sha1 := strings.Repeat("ab", 20)
	for h, want := range map[string]bool{
		"sha256:" + strings.Repeat("0f", 32):  true,
		"sha1:" + sha1:                        true,
		"sha512:" + strings.Repeat("0f", 64):  true,
		"sm3-256:" + strings.Repeat("0f", 32): true,
		sha1:                                  false, // no algorithm
		"sha256:" + strings.Repeat("0F", 32):  false, // upper case
		"sha256:" + strings.Repeat("0f", 65):  false, // too long
		"sha256:abc":                          false,
		"sha256:" + strings.Repeat("0g", 32):  false,
		"SHA256:" + strings.Repeat("0f", 32):  false,
		"sha 256:" + strings.Repeat("0f", 32): false,
		"":                                    false,
	} {
		if got := validIMAHash(h); got != want {
			t.Errorf("validIMAHash(%q) = %v, want %v", h, got, want)
		}
	}
}
