package test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/auditrules"
	"github.com/auditlkm/auditlkm/internal/kerneltest"
	"github.com/auditlkm/auditlkm/internal/netlink"
)

// buildURingFS compiles testdata/uringfs.c (liburing) into dir.
func buildURingFS(t *testing.T, dir string) string {
	t.Helper()
	gcc := lookTool(t, "gcc")
	src, err := filepath.Abs("testdata/uringfs.c")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "uringfs")
	if b, err := exec.Command(gcc, "-O1", "-o", out, src, "-luring").CombinedOutput(); err != nil {
		t.Fatalf("gcc uringfs.c -luring (apt-get install liburing-dev): %v: %s", err, b)
	}
	return out
}

// uringRules parses one line into its wire rules (a directory watch is
// two: dir= and its name watch).
func uringRules(t *testing.T, text string) [][]byte {
	t.Helper()
	rs, err := auditrules.ParseFile("test", strings.NewReader(text), auditrules.DefaultParseOptions())
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	var out [][]byte
	for _, r := range rs {
		if !r.Loadable() {
			t.Fatalf("%s: not loadable: %+v", text, r)
		}
		out = append(out, r.Wire)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rule", text)
	}
	return out
}

// collect reads records from c until quiet for 300 ms (at most 3 s) and
// returns the lines of those that carry one of the serials keyed key.
func collectKeyed(t *testing.T, c *netlink.Client, key string) []string {
	t.Helper()
	var recs []auditevent.Record
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		r, err := c.Next(ctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	serials := map[uint32]bool{}
	for _, r := range recs {
		if strings.Contains(string(r.Body()), `key="`+key+`"`) {
			serials[r.Serial] = true
		}
	}
	var out []string
	for _, r := range recs {
		if serials[r.Serial] {
			out = append(out, r.Line())
		}
	}
	return out
}

// TestURingFilterOnThisKernel records what this kernel does with rules on
// the io_uring exit filter list (AUDIT_FILTER_URING_EXIT, 7): which fields
// it accepts, and which of the accepted ones match an io_uring
// create+write (IORING_OP_OPENAT + WRITE) and rename (IORING_OP_RENAMEAT)
// in a directory. It also shows the blind spot itself: a -w watch (exit
// list) on the directory records nothing for those operations. The
// results are logged (go test -v) and asserted where the daemon relies on
// them: dir= on the io_uring list is accepted and matches; perm= is
// refused; the exit-list watch misses.
func TestURingFilterOnThisKernel(t *testing.T) {
	snap := kerneltest.Require(t)
	ctl := snap.Control
	prog := buildURingFS(t, t.TempDir())
	dir := filepath.Join("/tmp", unique(t))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ops := "-S openat,openat2,renameat,unlinkat,mkdirat,symlinkat,linkat"
	const key = "auditlkm-uring-probe"
	cases := []struct {
		name, rule string
		accept     bool // what the daemon relies on; "" below means only logged
		match      bool
		checked    bool
	}{
		{"dir", "-a always,io_uring " + ops + " -F dir=" + dir + " -F key=" + key, true, true, true},
		{"path", "-a always,io_uring " + ops + " -F path=" + dir + "/f-path -F key=" + key, false, false, false},
		{"perm", "-a always,io_uring " + ops + " -F dir=" + dir + " -F perm=wa -F key=" + key, false, false, true},
		{"key-only", "-a always,io_uring " + ops + " -F key=" + key, true, true, true},
		{"uid", "-a always,io_uring " + ops + " -F uid=0 -F key=" + key, false, false, false},
		{"success", "-a always,io_uring " + ops + " -F success=1 -F key=" + key, false, false, false},
		{"exe", "-a always,io_uring " + ops + " -F exe=" + prog + " -F key=" + key, false, false, false},
		{"auid", "-a always,io_uring " + ops + " -F auid!=12345 -F key=" + key, false, false, false},
		{"exit-watch", "-w " + dir + "/ -p wa -k " + key, true, false, true},
	}
	cfg := netlink.DefaultConfig()
	cfg.Mode = netlink.ModeUnicast
	c, err := netlink.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatalf("open unicast: %v", err)
	}
	defer c.Close()
	for i, tc := range cases {
		wires := uringRules(t, tc.rule)
		var err error
		var added [][]byte
		for _, w := range wires {
			if err = ctl.AddRule(w); err != nil {
				break
			}
			added = append(added, w)
		}
		accepted := err == nil
		if accepted {
			name := filepath.Join(dir, tc.name+".conf")
			if tc.name == "path" {
				name = filepath.Join(dir, "f-path")
			}
			collectKeyed(t, c, key) // drain
			if out, err := exec.Command(prog, "create", name, "x\n").CombinedOutput(); err != nil {
				t.Fatalf("uringfs create: %v: %s", err, out)
			}
			if out, err := exec.Command(prog, "rename", name, name+".renamed").CombinedOutput(); err != nil {
				t.Fatalf("uringfs rename: %v: %s", err, out)
			}
			lines := collectKeyed(t, c, key)
			for _, w := range added {
				if err := ctl.DeleteRule(w); err != nil {
					t.Fatalf("delete %s: %v", tc.rule, err)
				}
			}
			var urings []string
			for _, l := range lines {
				if strings.HasPrefix(l, "type=URINGOP") || strings.Contains(l, "type=1336") {
					urings = append(urings, l)
				}
			}
			t.Logf("%-10s accepted; io_uring create+rename gave %d records, %d URINGOP", tc.name, len(lines), len(urings))
			if i == 0 {
				for _, l := range lines {
					t.Logf("    %s", l)
				}
			}
			if tc.checked && (len(urings) >= 2) != tc.match {
				t.Errorf("%s: %d URINGOP records, want match=%v", tc.name, len(urings), tc.match)
			}
		} else {
			for _, w := range added {
				_ = ctl.DeleteRule(w)
			}
			t.Logf("%-10s refused: %v", tc.name, err)
		}
		if tc.checked && accepted != tc.accept {
			t.Errorf("%s: accepted=%v (%v), want %v", tc.name, accepted, err, tc.accept)
		}
	}
}

// TestURingConfigWritesAlert: a real io_uring program (testdata/uringfs.c,
// liburing) creates and writes /etc/modprobe.d/<unique>.conf with
// IORING_OP_OPENAT + IORING_OP_WRITE, then renames a staged file into
// modprobe.d with IORING_OP_RENAMEAT, and creates a .conf through a
// directory fd. None of these makes an open or rename system call; the
// daemon's io_uring rules (47-auditlkm-io-uring.rules) and URINGOP
// decoding must raise lkm-config-file-creation for each, naming the file.
func TestURingConfigWritesAlert(t *testing.T) {
	kerneltest.Require(t)
	prog := buildURingFS(t, t.TempDir())
	u := unique(t)
	created := "/etc/modprobe.d/" + u + ".conf"
	staged := "/etc/" + u + ".staged"
	renamed := "/etc/modprobe.d/" + u + "-renamed.conf"
	viaDirfd := "/etc/modprobe.d/" + u + "-dirfd.conf"
	for _, p := range []string{created, staged, renamed, viaDirfd} {
		t.Cleanup(func() { os.Remove(p) })
	}
	d := startDaemon(t)
	if out, err := exec.Command(prog, "create", created, "install usb-storage /bin/true\n").CombinedOutput(); err != nil {
		t.Fatalf("uringfs create: %v: %s", err, out)
	}
	if err := os.WriteFile(staged, []byte("blacklist x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(prog, "rename", staged, renamed).CombinedOutput(); err != nil {
		t.Fatalf("uringfs rename: %v: %s", err, out)
	}
	if out, err := exec.Command(prog, "openat", "/etc/modprobe.d", filepath.Base(viaDirfd), "options x y=1\n").CombinedOutput(); err != nil {
		t.Fatalf("uringfs openat: %v: %s", err, out)
	}
	// An existing configuration file truncated and rewritten through
	// IORING_OP_OPENAT (O_WRONLY|O_TRUNC): NORMAL item, no flags recorded.
	// The kernel records no PATH item for it (items=0): the alert comes
	// from the rule key and names the file only if the process still
	// holds it when the daemon looks.
	trunc := exec.Command(prog, "trunc", created, "install usb-storage /bin/false\n")
	if out, err := trunc.CombinedOutput(); err != nil {
		t.Fatalf("uringfs trunc: %v: %s", err, out)
	}
	a := d.waitAlerts(t, "io_uring overwrite of "+created, func(a alert) bool {
		return a.Rule.ID == "lkm-config-file-change" && a.Event.Action == "modification" &&
			a.Process.PID == trunc.Process.Pid && (a.File.Path == created || a.File.Path == "")
	})
	t.Logf("overwrite alert names %q", a.File.Path)
	for _, want := range []string{created, renamed, viaDirfd} {
		a := d.waitAlerts(t, "io_uring "+want, func(a alert) bool {
			return a.Rule.ID == "lkm-config-file-creation" && a.File.Path == want
		})
		t.Logf("%s: pid %d executable %q action %s", want, a.Process.PID, a.Process.Executable, a.Event.Action)
		if a.Process.PID == 0 {
			t.Errorf("%s: alert without a process id", want)
		}
		// uringfs has exited by now: named from its io_uring_setup record
		// (47-auditlkm-io-uring-setup.rules) if /proc no longer had it.
		if a.Process.Executable != prog {
			t.Errorf("%s: executable %q, want %s", want, a.Process.Executable, prog)
		}
		if want == renamed && a.Event.Action != "rename" {
			t.Errorf("%s: action %q, want rename", want, a.Event.Action)
		}
	}
	d.stop(t)
}

// TestSysctlPersistenceLive: a sysctl.d file setting kernel.modprobe,
// written by a shell redirect, renamed into place, and created through
// io_uring, alerts (kernel-module-sysctl-write, sysctl-persistence); a
// file with another setting does not. (/proc/sys/kernel/modprobe itself
// does not exist on this kernel: its spellings are tested on records in
// internal/detections.)
func TestSysctlPersistenceLive(t *testing.T) {
	kerneltest.Require(t)
	prog := buildURingFS(t, t.TempDir())
	u := unique(t)
	const dir = "/etc/sysctl.d"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	redirect, renamed, uring, benign := dir+"/"+u+"-a.conf", dir+"/"+u+"-b.conf", dir+"/"+u+"-c.conf", dir+"/"+u+"-d.conf"
	staged := "/etc/" + u + ".staged"
	for _, p := range []string{redirect, renamed, uring, benign, staged} {
		t.Cleanup(func() { os.Remove(p) })
	}
	d := startDaemon(t)
	if out, err := sh("echo 'kernel.modprobe = /tmp/" + u + "' > " + redirect); err != nil {
		t.Fatal(out, err)
	}
	if err := os.WriteFile(staged, []byte("kernel.modules_disabled = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(staged, renamed); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(prog, "create", uring, "kernel/modprobe=/dev/shm/x\n").CombinedOutput(); err != nil {
		t.Fatalf("uringfs: %v: %s", err, out)
	}
	if err := os.WriteFile(benign, []byte("vm.swappiness = 10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{redirect, renamed, uring} {
		d.waitAlerts(t, "sysctl persistence "+p, func(a alert) bool {
			return a.Rule.ID == "kernel-module-sysctl-write" && a.Event.Action == "sysctl-persistence" && a.File.Path == p
		})
	}
	for _, a := range readAlerts(t, d.alerts) {
		if a.File.Path == benign {
			t.Errorf("benign sysctl file alerted: %+v", a)
		}
	}
	d.stop(t)
}
