// Package auditdtest runs Debian's real auditd (package auditd) inside a
// test, so tests can check how auditlkm behaves beside it: multicast mode,
// rule coexistence, the auditd plugin path.
//
// Start runs "auditd -n -c DIR" in the foreground with a configuration of
// its own in a temporary directory (audit.log, plugins.d), so /etc/audit
// and /var/log/audit are never read or written. It waits until auditd
// holds the kernel audit pid, then loads the test's rules with auditctl.
// t.Cleanup deletes exactly those rules (auditctl -d / -W), stops auditd
// with SIGTERM (SIGKILL after StopTimeout), waits until the kernel audit
// pid is released and sets the kernel's enabled flag back to what it was
// (auditd enables auditing at start and leaves it on).
//
// The caller must hold the kernel lock first: call kerneltest.Require(t)
// before Start (Start does not take the lock itself: flock locks are per
// open file, so a second lock in the same process would deadlock). Start
// skips the test when auditd is not installed, and fails it instead when
// AUDITLKM_REQUIRE_KERNEL=1 (CI installs auditd: see test/run-all.sh).
package auditdtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
	"github.com/auditlkm/auditlkm/internal/netlink"
)

// Bounds of the waits.
const (
	// StartTimeout bounds the wait for auditd to claim the audit pid.
	StartTimeout = 10 * time.Second
	// StopTimeout bounds the wait for auditd to exit after SIGTERM.
	StopTimeout = 10 * time.Second
	poll        = 20 * time.Millisecond
)

// Options configure the auditd a test starts.
type Options struct {
	// Rules are auditctl argument lists loaded once auditd holds the pid,
	// e.g. {"-a", "always,exit", "-F", "arch=b64", "-S", "kexec_load",
	// "-k", "auditd-test"} or {"-w", "/etc/hosts", "-p", "wa"}. Only -a and
	// -w rules: cleanup deletes each by turning -a into -d and -w into -W.
	Rules [][]string
	// Plugins are files written into auditd's plugin_dir before it starts,
	// by file name (e.g. "auditlkm.conf") and content. auditd refuses
	// plugin files not owned by root or writable by others: they are
	// written 0640.
	Plugins map[string]string
	// LogFormat is RAW (default) or ENRICHED.
	LogFormat string
	// NodeName, when set, makes auditd prefix every record with
	// node=NodeName (name_format = user), as a sender in a fleet does.
	NodeName string
	// ListenPort, when set, makes this auditd a collector: it receives
	// records from audisp-remote senders on that TCP port (auditd 3.0.9
	// listens on every address; tests connect to 127.0.0.1 only), hands
	// them to its plugins (distribute_network = yes) and reads nothing
	// from the kernel (local_events = no): it never takes the audit pid,
	// so it needs no kernel lock, and Start waits for the port instead.
	ListenPort int
}

// Daemon is a running auditd.
type Daemon struct {
	// PID is auditd's process id, which holds the kernel audit pid.
	PID int
	// Dir holds auditd.conf, plugins.d/ and log/.
	Dir string
	// LogPath is auditd's audit.log.
	LogPath string

	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	rules  [][]string
	// collector: local_events = no, the kernel is none of its business.
	collector bool
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Tool returns the path of an auditd package program (auditd, auditctl,
// augenrules), skipping the test when it is missing, or failing it when
// AUDITLKM_REQUIRE_KERNEL=1.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if c := filepath.Join(dir, name); isExec(c) {
			return c
		}
	}
	msg := fmt.Sprintf("%s not installed (DEBIAN_FRONTEND=noninteractive apt-get install -y auditd)", name)
	if os.Getenv(kerneltest.EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Auditctl runs auditctl with args and fails the test on error.
func Auditctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(Tool(t, "auditctl"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("auditctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// config is a minimal auditd.conf: local logging (or, for a collector,
// logging of what senders send), nothing that suspends the machine on a
// full disk.
func config(dir, format string, o Options) string {
	extra := ""
	local := "yes"
	if o.NodeName != "" {
		extra += fmt.Sprintf("name_format = user\nname = %s\n", o.NodeName)
	}
	if o.ListenPort != 0 {
		local = "no"
		// Two senders connect from 127.0.0.1: allow more than the
		// default one connection per address.
		extra += fmt.Sprintf("tcp_listen_port = %d\ntcp_max_per_addr = 16\nuse_libwrap = no\ndistribute_network = yes\n", o.ListenPort)
	}
	return fmt.Sprintf(`local_events = %s
write_logs = yes
log_file = %s
log_format = %s
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 8
num_logs = 1
max_log_file_action = IGNORE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
plugin_dir = %s
end_of_event_timeout = 2
q_depth = 2000
overflow_action = IGNORE
%s`, local, filepath.Join(dir, "log", "audit.log"), format, filepath.Join(dir, "plugins.d"), extra)
}

// Start starts auditd as described in the package documentation.
func Start(t testing.TB, o Options) *Daemon {
	t.Helper()
	bin := Tool(t, "auditd")
	Tool(t, "auditctl")
	ctl, err := netlink.OpenControl()
	if err != nil {
		t.Fatalf("auditdtest: %v", err)
	}
	defer ctl.Close()
	before, err := ctl.Status()
	if err != nil {
		t.Fatalf("auditdtest: %v", err)
	}
	if before.PID != 0 && o.ListenPort == 0 {
		t.Fatalf("auditdtest: the audit pid is held by pid %d already", before.PID)
	}
	format := o.LogFormat
	if format == "" {
		format = "RAW"
	}
	dir := t.TempDir()
	for _, d := range []string{"log", "plugins.d"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "auditd.conf"), []byte(config(dir, format, o)), 0o640); err != nil {
		t.Fatal(err)
	}
	for name, content := range o.Plugins {
		if err := os.WriteFile(filepath.Join(dir, "plugins.d", name), []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	d := &Daemon{Dir: dir, LogPath: filepath.Join(dir, "log", "audit.log"), stderr: &lockedBuffer{}, done: make(chan struct{}),
		collector: o.ListenPort != 0}
	d.cmd = exec.Command(bin, "-n", "-c", dir)
	d.cmd.Stdout, d.cmd.Stderr = d.stderr, d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start auditd: %v", err)
	}
	d.PID = d.cmd.Process.Pid
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.stop(t, before.Enabled) })

	deadline := time.Now().Add(StartTimeout)
	if o.ListenPort != 0 {
		d.waitListen(t, o.ListenPort, deadline)
		return d
	}
	for {
		st, err := ctl.Status()
		if err == nil && st.PID == uint32(d.PID) {
			break
		}
		select {
		case <-d.done:
			t.Fatalf("auditd exited at start (%v): %s", d.cmd.ProcessState, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("auditd (pid %d) did not claim the audit pid within %s (held by %d): %s", d.PID, StartTimeout, st.PID, d.stderr)
		}
		time.Sleep(poll)
	}
	for _, r := range o.Rules {
		if len(r) == 0 || (r[0] != "-a" && r[0] != "-w") {
			t.Fatalf("auditdtest: rule %q: only -a and -w rules", r)
		}
		Auditctl(t, r...)
		d.rules = append(d.rules, r)
	}
	return d
}

// waitListen waits until a collector accepts connections on port.
func (d *Daemon) waitListen(t testing.TB, port int, deadline time.Time) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-d.done:
			t.Fatalf("auditd collector exited at start (%v): %s", d.cmd.ProcessState, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("auditd collector (pid %d) does not listen on %s within %s: %v: %s", d.PID, addr, StartTimeout, err, d.stderr)
		}
		time.Sleep(poll)
	}
}

// Running reports whether auditd is still running.
func (d *Daemon) Running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Stderr returns what auditd wrote to stdout and stderr.
func (d *Daemon) Stderr() string { return d.stderr.String() }

// Log returns auditd's audit.log so far ("" before auditd wrote it).
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.LogPath)
	return string(b)
}

// WaitLog waits until audit.log contains sub and fails the test after
// timeout.
func (d *Daemon) WaitLog(t testing.TB, sub string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(d.Log(), sub) {
		if time.Now().After(deadline) {
			t.Fatalf("auditd log has no %q after %s", sub, timeout)
		}
		time.Sleep(poll)
	}
}

// stop deletes the rules Start loaded, stops auditd and waits until the
// kernel audit pid is free again, then restores the enabled flag.
func (d *Daemon) stop(t testing.TB, enabled uint32) {
	t.Helper()
	for i := len(d.rules) - 1; i >= 0; i-- {
		args := append([]string(nil), d.rules[i]...)
		args[0] = map[string]string{"-a": "-d", "-w": "-W"}[args[0]]
		if out, err := exec.Command(Tool(t, "auditctl"), args...).CombinedOutput(); err != nil {
			t.Errorf("auditdtest: delete auditd rule %q: %v: %s", d.rules[i], err, out)
		}
	}
	if d.Running() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(StopTimeout):
			t.Errorf("auditdtest: auditd did not stop within %s of SIGTERM; killing it", StopTimeout)
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	if d.collector {
		return
	}
	ctl, err := netlink.OpenControl()
	if err != nil {
		t.Errorf("auditdtest: %v", err)
		return
	}
	defer ctl.Close()
	deadline := time.Now().Add(StopTimeout)
	for {
		st, err := ctl.Status()
		if err != nil {
			t.Errorf("auditdtest: %v", err)
			return
		}
		if st.PID != uint32(d.PID) {
			if st.Enabled != enabled && st.Enabled != 2 {
				if err := ctl.SetEnabled(enabled); err != nil {
					t.Errorf("auditdtest: restore enabled=%d: %v", enabled, err)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("auditdtest: audit pid still held by the stopped auditd %d", d.PID)
			return
		}
		time.Sleep(poll)
	}
}

// ErrNotRunning is returned by Stop when auditd had already exited.
var ErrNotRunning = errors.New("auditd not running")

// Stop stops auditd now (SIGTERM) and waits for it; cleanup still deletes
// the rules and checks the pid. It is for tests about auditd going away.
func (d *Daemon) Stop() error {
	if !d.Running() {
		return ErrNotRunning
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop auditd: %w", err)
	}
	select {
	case <-d.done:
		return nil
	case <-time.After(StopTimeout):
		_ = d.cmd.Process.Kill()
		<-d.done
		return fmt.Errorf("stop auditd: killed after %s", StopTimeout)
	}
}
