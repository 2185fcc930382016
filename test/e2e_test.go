package test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// alert is the part of an ECS alert the end-to-end tests check.
type alert struct {
	Event struct {
		Reason   string `json:"reason"`
		Action   string `json:"action"`
		Sequence int64  `json:"sequence"`
	} `json:"event"`
	Rule struct {
		ID string `json:"id"`
	} `json:"rule"`
	Process struct {
		PID        int      `json:"pid"`
		Executable string   `json:"executable"`
		Name       string   `json:"name"`
		Args       []string `json:"args"`
		Parent     struct {
			PID int `json:"pid"`
		} `json:"parent"`
	} `json:"process"`
	File struct {
		Path string `json:"path"`
	} `json:"file"`
	Auditd struct {
		AggregatedCount int `json:"aggregated_count"`
	} `json:"auditd"`
}

// lockedBuffer is a bytes.Buffer written by the daemon's log reader and
// read by the test: both sides hold its lock.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// daemon is a running `auditlkm run`.
type daemon struct {
	cmd     *exec.Cmd
	alerts  string
	records string
	stderr  *lockedBuffer
	addr    string
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDaemon runs the built binary with its embedded defaults, output to
// files in a temporary directory, and waits until it says it started.
func startDaemon(t *testing.T, extra ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{alerts: filepath.Join(dir, "alerts.json"), records: filepath.Join(dir, "audit.log"), stderr: &lockedBuffer{}, addr: freePort(t)}
	args := append([]string{"run", "--output.alerts", d.alerts, "--output.records", d.records,
		"--state.dir", filepath.Join(dir, "state"), "--web.listen-address", d.addr}, extra...)
	d.cmd = exec.Command(binary, args...)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = pw
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			d.stderr.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), "auditlkm started") {
				once = true
				close(started)
			}
		}
	}()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			_ = d.cmd.Wait()
		}
	})
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not start:\n%s", d.stderr)
	}
	return d
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon exit: %v\n%s", err, d.stderr)
		}
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		t.Fatalf("daemon did not stop within 30s\n%s", d.stderr)
	}
}

// waitAlerts polls the alert file until match finds what it wants.
func (d *daemon) waitAlerts(t *testing.T, what string, match func(a alert) bool) alert {
	t.Helper()
	return waitFor(t, d, what, readAlerts, match)
}

// waitFor polls d's alert file, decoded by read, until match finds an
// alert, for at most 10 s.
func waitFor[A any](t *testing.T, d *daemon, what string, read func(*testing.T, string) []A, match func(A) bool) A {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range read(t, d.alerts) {
			if match(a) {
				return a
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no alert for %s; alerts:\n%s\ndaemon log:\n%s", what, mustRead(d.alerts), d.stderr)
	var zero A
	return zero
}

func readAlerts(t *testing.T, path string) []alert {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return readAlertBytes(t, completeLines(b))
}

// completeLines cuts b, a file the daemon may be writing to, after its last
// newline: a read racing a write(2) can see the start of a line only.
func completeLines(b []byte) []byte { return b[:bytes.LastIndexByte(b, '\n')+1] }

func readAlertBytes(t *testing.T, b []byte) []alert {
	t.Helper()
	var out []alert
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		if !json.Valid(l) {
			t.Fatalf("alert line is not valid JSON: %q", l)
		}
		var a alert
		if err := json.Unmarshal(l, &a); err != nil {
			t.Fatalf("alert line: %v", err)
		}
		out = append(out, a)
	}
	return out
}

func mustRead(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func unique(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "auditlkm-e2e-" + hex.EncodeToString(b)
}

// lookTool finds a real program, failing when kernel tests are required.
// requireUnicast is kerneltest.Require for a test that claims the audit
// pid: it fails when another process holds it.
func requireUnicast(t *testing.T) *kerneltest.Snapshot {
	t.Helper()
	snap := kerneltest.Require(t)
	if snap.Status.PID != 0 {
		t.Fatalf("audit pid %d is held before the test: this test needs unicast", snap.Status.PID)
	}
	return snap
}

// dummyModule writes a 4 KiB file NAME.ko in the temporary directory
// (kmod reads the file before calling finit_module: give it a page) and
// removes it after the test.
func dummyModule(t *testing.T, name string) string {
	t.Helper()
	ko := filepath.Join(os.TempDir(), name+".ko")
	if err := os.WriteFile(ko, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(ko) })
	return ko
}

func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(kerneltest.EnvRequire) == "1" {
			t.Fatalf("%s not installed (apt-get install kmod): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLiveKernel is the end-to-end scenario: the daemon claims
// the audit pid, real programs load a module, drop a modprobe.d file and
// rename a file into modules-load.d, the alerts name rule, path, pid and
// exe, and after SIGTERM the kernel is exactly as it was.
func TestLiveKernel(t *testing.T) {
	snap := requireUnicast(t)
	insmod := lookTool(t, "insmod")
	name := unique(t)
	for _, dir := range []string{"/etc/modprobe.d", "/etc/modules-load.d"} {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(dir) })
		}
	}
	ko := filepath.Join(os.TempDir(), name+".ko")
	// kmod reads the file before calling finit_module: give it a page.
	if err := os.WriteFile(ko, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join("/etc/modprobe.d", name+".conf")
	staged := filepath.Join(os.TempDir(), name+".conf")
	moved := filepath.Join("/etc/modules-load.d", name+".conf")
	t.Cleanup(func() {
		for _, p := range []string{ko, conf, staged, moved} {
			os.Remove(p)
		}
	})

	d := startDaemon(t)

	// 1. insmod: the kernel answers ENOSYS and audits the attempt.
	ins := exec.Command(insmod, ko)
	out, err := ins.CombinedOutput()
	if err == nil {
		t.Fatalf("insmod of a dummy file succeeded: %s", out)
	}
	kmod := realPath(t, insmod)
	acted := time.Now()
	a := d.waitAlerts(t, "insmod "+ko, func(a alert) bool {
		return a.Rule.ID == "kernel-module-load" && a.File.Path == ko
	})
	// Reported, never asserted: wall time depends on the machine.
	t.Logf("insmod alert written %s after insmod exited", time.Since(acted).Round(time.Millisecond))
	if a.Process.PID != ins.Process.Pid || a.Process.Executable != kmod || a.Process.Name != "insmod" {
		t.Errorf("insmod alert process = pid %d exe %q name %q, want pid %d exe %q name insmod",
			a.Process.PID, a.Process.Executable, a.Process.Name, ins.Process.Pid, kmod)
	}
	if a.Process.Parent.PID != os.Getpid() {
		t.Errorf("insmod alert parent pid = %d, want the test's %d", a.Process.Parent.PID, os.Getpid())
	}

	// 2. A shell redirect creates a modprobe.d file.
	sh := exec.Command("/bin/sh", "-c", "echo 'install "+name+" /bin/true' > "+conf)
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("sh: %v: %s", err, out)
	}
	a = d.waitAlerts(t, "creation of "+conf, func(a alert) bool {
		return a.Rule.ID == "lkm-config-file-creation" && a.File.Path == conf
	})
	if a.Process.PID != sh.Process.Pid || a.Process.Executable != realPath(t, "/bin/sh") || a.Event.Action != "creation" {
		t.Errorf("modprobe.d alert = pid %d exe %q action %q, want pid %d exe %q creation",
			a.Process.PID, a.Process.Executable, a.Event.Action, sh.Process.Pid, realPath(t, "/bin/sh"))
	}

	// 3. A file renamed into modules-load.d.
	if err := os.WriteFile(staged, []byte("dummy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mv := exec.Command(lookTool(t, "mv"), staged, moved)
	if out, err := mv.CombinedOutput(); err != nil {
		t.Fatalf("mv: %v: %s", err, out)
	}
	a = d.waitAlerts(t, "rename into "+moved, func(a alert) bool {
		return a.Rule.ID == "lkm-config-file-creation" && a.File.Path == moved
	})
	if a.Process.PID != mv.Process.Pid || a.Process.Executable != realPath(t, lookTool(t, "mv")) || a.Event.Action != "rename" {
		t.Errorf("modules-load.d alert = pid %d exe %q action %q, want pid %d mv rename", a.Process.PID, a.Process.Executable, a.Event.Action, mv.Process.Pid)
	}

	// Metrics are served on loopback while running.
	body := scrape(t, d.addr)
	for _, want := range []string{
		`auditlkm_detections_alerts_total{rule_id="kernel-module-load"}`,
		`auditlkm_netlink_records_received_total{type="SYSCALL"}`,
		"auditlkm_reassembly_events_total", "auditlkm_reassembly_sequence_gaps_total",
		"auditlkm_reassembly_incomplete_events_total", "auditlkm_kernel_lost_total", "auditlkm_kernel_backlog ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	d.stop(t)
	assertKernelAsFound(t, snap)
	if !strings.Contains(d.stderr.String(), "mode=unicast") {
		t.Errorf("daemon did not say it took unicast:\n%s", d.stderr)
	}
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	c := net.Dialer{Timeout: 5 * time.Second}
	conn, err := c.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial metrics: %v", err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", addr)
	var b bytes.Buffer
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = b.ReadFrom(conn)
	return b.String()
}

// assertKernelAsFound compares the kernel's audit state with the snapshot
// taken before the daemon started.
func assertKernelAsFound(t *testing.T, snap *kerneltest.Snapshot) {
	t.Helper()
	st, err := snap.Control.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != snap.Status.PID {
		t.Errorf("audit pid after stop = %d, want %d", st.PID, snap.Status.PID)
	}
	if st.Enabled != snap.Status.Enabled || st.BacklogLimit != snap.Status.BacklogLimit || st.BacklogWaitTime != snap.Status.BacklogWaitTime {
		t.Errorf("status after stop = enabled %d backlog %d wait %d, want %d %d %d", st.Enabled, st.BacklogLimit, st.BacklogWaitTime,
			snap.Status.Enabled, snap.Status.BacklogLimit, snap.Status.BacklogWaitTime)
	}
	rules, err := snap.Control.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != len(snap.Rules) {
		t.Errorf("kernel has %d audit rules after stop, had %d", len(rules), len(snap.Rules))
	}
	for _, r := range rules {
		if !snap.HasRule(r) {
			t.Errorf("a rule was left in the kernel: %x", r)
		}
	}
}
