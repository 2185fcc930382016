package netlink_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"github.com/elastic/go-libaudit/v2/auparse"
	"github.com/elastic/go-libaudit/v2/rule"
	"github.com/elastic/go-libaudit/v2/rule/flags"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/kerneltest"
	"github.com/auditlkm/auditlkm/internal/netlink"
)

const (
	testKey   = "auditlkm-test"
	finitNR   = 313 // finit_module on x86_64
	waitLimit = 5 * time.Second
)

// childEnv makes the test binary a child that only calls finit_module.
const childEnv = "AUDITLKM_NETLINK_FINIT_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(finitChild())
	}
	before := openFDs()
	code := m.Run()
	if leaked := diffFDs(before, openFDs()); code == 0 && len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "leaked file descriptors: %v\n", leaked)
		code = 99
	}
	os.Exit(code)
}

// openFDs maps this process's fds to their targets, leaving out the Go
// runtime's poller (created lazily by the first pollable socket).
func openFDs() map[string]string {
	fds := map[string]string{}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || strings.HasPrefix(target, "anon_inode:[event") || strings.HasPrefix(target, "pipe:") {
			continue
		}
		fds[e.Name()] = target
	}
	return fds
}

func diffFDs(before, after map[string]string) []string {
	var leaked []string
	for fd, target := range after {
		if before[fd] != target {
			leaked = append(leaked, fd+" -> "+target)
		}
	}
	return leaked
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func ruleWire(t *testing.T, text string) []byte {
	t.Helper()
	r, err := flags.Parse(text)
	if err != nil {
		t.Fatalf("parse rule %q: %v", text, err)
	}
	wire, err := rule.Build(r)
	if err != nil {
		t.Fatalf("build rule %q: %v", text, err)
	}
	return wire
}

// addFinitRule loads the test's syscall rule and deletes it in cleanup.
func addFinitRule(t *testing.T, ctl *netlink.Control) {
	t.Helper()
	wire := ruleWire(t, "-a always,exit -F arch=b64 -S finit_module -k "+testKey)
	if err := ctl.AddRule(wire); err != nil {
		t.Fatalf("add rule: %v", err)
	}
	t.Cleanup(func() {
		if err := ctl.DeleteRule(wire); err != nil {
			t.Errorf("delete rule: %v", err)
		}
	})
}

// finitChild makes one finit_module attempt. Loadable modules are
// compiled out here (ENOSYS); elsewhere an fd of /dev/null fails too.
func finitChild() int {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return 2
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err == nil {
		return 1
	}
	return 0
}

// finitModule makes an audited finit_module attempt in a child process and
// returns its pid. It must be a child: the kernel never audits the process
// that holds the audit pid (auditd_test_task), and this one may.
func finitModule(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("finit_module child: %v: %s", err, out)
	}
	return cmd.Process.Pid
}

// waitSyscall reads records until the SYSCALL record of pid's finit_module
// attempt arrives.
func waitSyscall(t *testing.T, pid int, next func(context.Context) (auditevent.Record, error)) auditevent.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	want := fmt.Sprintf(" syscall=%d ", finitNR)
	for {
		rec, err := next(ctx)
		if err != nil {
			t.Fatalf("no SYSCALL record for finit_module: %v", err)
		}
		body := rec.Body()
		if rec.Type == auparse.AUDIT_SYSCALL && bytes.Contains(body, []byte(want)) &&
			bytes.Contains(body, []byte(fmt.Sprintf(" pid=%d ", pid))) &&
			bytes.Contains(body, []byte(`key="`+testKey+`"`)) {
			return rec
		}
	}
}

func TestControlReadsTheKernelStatus(t *testing.T) {
	snap := kerneltest.Require(t)
	ctl, err := netlink.OpenControl()
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	st, err := ctl.Status()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel audit status: %+v", st)
	if st.Enabled != snap.Status.Enabled || st.BacklogLimit != snap.Status.BacklogLimit || st.PID != snap.Status.PID {
		t.Errorf("status %+v disagrees with the snapshot %+v", st, snap.Status)
	}
	if st.FeatureBitmap == 0 {
		t.Error("feature bitmap is 0: the reply was not decoded")
	}
}

func TestControlRuleErrors(t *testing.T) {
	kerneltest.Require(t)
	ctl, err := netlink.OpenControl()
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()

	t.Run("deleting a rule that is not loaded returns ENOENT", func(t *testing.T) {
		wire := ruleWire(t, "-a always,exit -F arch=b64 -S delete_module -k auditlkm-test-absent")
		if err := ctl.DeleteRule(wire); !errors.Is(err, unix.ENOENT) {
			t.Fatalf("DeleteRule of an absent rule = %v, want ENOENT", err)
		}
	})
	t.Run("adding a rule twice returns ErrRuleExists", func(t *testing.T) {
		wire := ruleWire(t, "-a always,exit -F arch=b64 -S init_module -k auditlkm-test-twice")
		if err := ctl.AddRule(wire); err != nil {
			t.Fatalf("first AddRule: %v", err)
		}
		defer func() {
			if err := ctl.DeleteRule(wire); err != nil {
				t.Errorf("DeleteRule: %v", err)
			}
		}()
		if err := ctl.AddRule(wire); !errors.Is(err, netlink.ErrRuleExists) {
			t.Fatalf("second AddRule = %v, want ErrRuleExists", err)
		}
		rules, err := ctl.Rules()
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, r := range rules {
			if text, err := rule.ToCommandLine(r, false); err == nil && strings.Contains(text, "auditlkm-test-twice") {
				found++
			}
		}
		if found != 1 {
			t.Errorf("rule listed %d times, want 1", found)
		}
	})
	t.Run("SetEnabled refuses the immutable mode", func(t *testing.T) {
		if err := ctl.SetEnabled(2); err == nil {
			t.Fatal("SetEnabled(2) succeeded")
		}
	})
}

func TestUnicastClaimsReceivesAndRestores(t *testing.T) {
	snap := kerneltest.Require(t)
	reg := prometheus.NewRegistry()
	m, err := netlink.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := netlink.DefaultConfig()
	cfg.Mode = netlink.ModeUnicast
	c, err := netlink.Open(cfg, testLogger(t), m)
	if err != nil {
		t.Fatalf("Open unicast: %v", err)
	}
	defer c.Close()
	if c.Mode() != netlink.ModeUnicast {
		t.Fatalf("Mode() = %q", c.Mode())
	}

	st, err := c.Control().Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != uint32(os.Getpid()) || st.Enabled != 1 || st.BacklogLimit != cfg.BacklogLimit ||
		st.BacklogWaitTime != uint32(cfg.BacklogWaitTime) || st.RateLimit != cfg.RateLimit {
		t.Fatalf("status while open %+v: want pid %d, enabled 1, backlog %d, wait %d, rate %d",
			st, os.Getpid(), cfg.BacklogLimit, cfg.BacklogWaitTime, cfg.RateLimit)
	}

	addFinitRule(t, snap.Control)
	rec := waitSyscall(t, finitModule(t), c.Next)
	t.Logf("received: %s", rec.Line())
	if got := testutil.ToFloat64(counterVec(t, reg, "auditlkm_netlink_records_received_total", "SYSCALL")); got < 1 {
		t.Errorf("records_received_total{type=SYSCALL} = %v", got)
	}

	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Everything queued is still delivered, then io.EOF.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for i := 0; ; i++ {
		if _, err := c.Next(ctx); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("Next after Close = %v, want io.EOF", err)
			}
			break
		}
		if i > 1<<16 {
			t.Fatal("Next after Close never ends")
		}
	}

	after, err := snap.Control.Status()
	if err != nil {
		t.Fatal(err)
	}
	if after.PID != snap.Status.PID || after.Enabled != snap.Status.Enabled ||
		after.BacklogLimit != snap.Status.BacklogLimit || after.BacklogWaitTime != snap.Status.BacklogWaitTime ||
		after.RateLimit != snap.Status.RateLimit {
		t.Errorf("status after Close %+v, want as before Open %+v", after, snap.Status)
	}
}

// counterVec returns one series of a registered counter vector.
func counterVec(t *testing.T, reg *prometheus.Registry, name, typ string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == typ {
					c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})
					c.Add(m.GetCounter().GetValue())
					return c
				}
			}
		}
	}
	t.Fatalf("no %s{type=%q}", name, typ)
	return nil
}

func TestSecondOpenWhilePIDIsHeld(t *testing.T) {
	snap := kerneltest.Require(t)
	reg := prometheus.NewRegistry()
	m1, err := netlink.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := netlink.DefaultConfig()
	cfg.Mode = netlink.ModeUnicast
	first, err := netlink.Open(cfg, testLogger(t), m1)
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	defer first.Close()

	t.Run("unicast is refused with ErrAuditPIDTaken naming the holder", func(t *testing.T) {
		c, err := netlink.Open(cfg, testLogger(t), nil)
		if err == nil {
			c.Close()
			t.Fatal("second unicast Open succeeded")
		}
		if !errors.Is(err, netlink.ErrAuditPIDTaken) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
			t.Fatalf("second unicast Open = %v, want ErrAuditPIDTaken naming pid %d", err, os.Getpid())
		}
	})

	t.Run("a claim attempt reaches the holder as an AUDIT_REPLACE probe", func(t *testing.T) {
		ac, err := libaudit.NewAuditClient(nil)
		if err != nil {
			t.Fatal(err)
		}
		// Not ac.Close: go-libaudit arms "clear pid on close" even when
		// SetPID failed, and a pid=0 from this process would release the
		// pid our first Client holds (the kernel checks the process, not
		// the socket).
		defer ac.Netlink.Close()
		if err := ac.SetPID(libaudit.WaitForReply); !errors.Is(err, unix.EEXIST) {
			t.Fatalf("raw SetPID = %v, want EEXIST", err)
		}
		deadline := time.Now().Add(waitLimit)
		for testutil.ToFloat64(counterByName(t, reg, "auditlkm_netlink_replace_probes_total")) < 1 {
			if time.Now().After(deadline) {
				t.Fatal("no AUDIT_REPLACE probe counted")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("auto falls back to multicast and still receives records", func(t *testing.T) {
		cfg := cfg
		cfg.Mode = netlink.ModeAuto
		mc, err := netlink.Open(cfg, testLogger(t), nil)
		if err != nil {
			t.Fatalf("auto Open: %v", err)
		}
		defer mc.Close()
		if mc.Mode() != netlink.ModeMulticast {
			t.Fatalf("auto chose %q, want multicast", mc.Mode())
		}
		addFinitRule(t, snap.Control)
		pid := finitModule(t)
		waitSyscall(t, pid, mc.Next)
		waitSyscall(t, pid, first.Next)
		st, err := mc.Control().Status()
		if err != nil {
			t.Fatal(err)
		}
		if st.PID != uint32(os.Getpid()) {
			t.Errorf("multicast client changed the pid to %d", st.PID)
		}
	})
}

// counterByName returns a plain counter's value as a collector.
func counterByName(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			c.Add(mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	return c
}

func TestStatusCollector(t *testing.T) {
	kerneltest.Require(t)
	ctl, err := netlink.OpenControl()
	if err != nil {
		t.Fatal(err)
	}
	st, err := ctl.Status()
	if err != nil {
		t.Fatal(err)
	}
	col := netlink.NewStatusCollector(ctl)

	t.Run("a working control socket exports the kernel status", func(t *testing.T) {
		want := fmt.Sprintf(`
# HELP auditlkm_kernel_audit_pid Pid of the process holding kernel audit unicast delivery, 0 if none.
# TYPE auditlkm_kernel_audit_pid gauge
auditlkm_kernel_audit_pid %d
# HELP auditlkm_kernel_backlog_limit Kernel audit backlog limit (records).
# TYPE auditlkm_kernel_backlog_limit gauge
auditlkm_kernel_backlog_limit %d
# HELP auditlkm_kernel_enabled Kernel audit enabled flag: 0 off, 1 on, 2 on and immutable until reboot.
# TYPE auditlkm_kernel_enabled gauge
auditlkm_kernel_enabled %d
# HELP auditlkm_kernel_pid_held 1 if this process holds the kernel audit pid.
# TYPE auditlkm_kernel_pid_held gauge
auditlkm_kernel_pid_held 0
# HELP auditlkm_scrape_collector_success Whether a scrape-time collector succeeded (1) or failed (0).
# TYPE auditlkm_scrape_collector_success gauge
auditlkm_scrape_collector_success{collector="kernel_status"} 1
`, st.PID, st.BacklogLimit, st.Enabled)
		if err := testutil.CollectAndCompare(col, strings.NewReader(want),
			"auditlkm_kernel_audit_pid", "auditlkm_kernel_backlog_limit", "auditlkm_kernel_enabled",
			"auditlkm_kernel_pid_held", "auditlkm_scrape_collector_success"); err != nil {
			t.Fatal(err)
		}
		if n := testutil.CollectAndCount(col); n != 11 {
			t.Errorf("collected %d metrics, want 11", n)
		}
		if problems, err := testutil.CollectAndLint(col); err != nil || len(problems) > 0 {
			t.Errorf("lint: %v %v", problems, err)
		}
	})

	t.Run("a failed status read exports only scrape success 0", func(t *testing.T) {
		if err := ctl.Close(); err != nil {
			t.Fatal(err)
		}
		want := `
# HELP auditlkm_scrape_collector_success Whether a scrape-time collector succeeded (1) or failed (0).
# TYPE auditlkm_scrape_collector_success gauge
auditlkm_scrape_collector_success{collector="kernel_status"} 0
`
		if err := testutil.CollectAndCompare(col, strings.NewReader(want)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOpenRejectsAnInvalidConfig(t *testing.T) {
	cfg := netlink.DefaultConfig()
	cfg.Mode = "broadcast"
	if _, err := netlink.Open(cfg, nil, nil); err == nil {
		t.Fatal("Open with mode broadcast succeeded")
	}
}

func TestOpenControlWithoutPrivilegeIsErrPermission(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("runs as an unprivileged user (CI runs the suite both ways)")
	}
	ctl, err := netlink.OpenControl()
	if err == nil {
		ctl.Close()
		t.Fatal("OpenControl succeeded without privilege")
	}
	if !errors.Is(err, netlink.ErrPermission) {
		t.Fatalf("OpenControl = %v, want ErrPermission", err)
	}
}

// TestKernelLossIsCountedExactly makes the kernel drop records for real
// (a rate limit of 1 message per second) and checks that
// auditlkm_kernel_lost_total equals the increase of the kernel's own
// counter, although that counter was not zero at the start.
func TestKernelLossIsCountedExactly(t *testing.T) {
	snap := kerneltest.Require(t)
	cfg := netlink.DefaultConfig()
	cfg.Mode = netlink.ModeUnicast
	cfg.RateLimit = 1
	cfg.StateFile = t.TempDir() + "/netlink.json"
	before, err := snap.Control.Status()
	if err != nil {
		t.Fatal(err)
	}
	c, err := netlink.Open(cfg, testLogger(t), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	addFinitRule(t, snap.Control)
	for range 20 {
		finitModule(t)
	}
	after, err := snap.Control.Status()
	if err != nil {
		t.Fatal(err)
	}
	want := float64(after.Lost - before.Lost)
	t.Logf("kernel lost counter %d -> %d", before.Lost, after.Lost)
	if want == 0 {
		t.Fatal("the rate limit made the kernel lose nothing")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collector())
	got := testutil.ToFloat64(gaugeOrCounter(t, reg, "auditlkm_kernel_lost_total"))
	if got != want {
		t.Errorf("auditlkm_kernel_lost_total = %v, want the kernel's increase %v", got, want)
	}
	if raw := testutil.ToFloat64(gaugeOrCounter(t, reg, "auditlkm_kernel_lost_records")); raw != float64(after.Lost) {
		t.Errorf("auditlkm_kernel_lost_records = %v, want %d", raw, after.Lost)
	}
	if drops := testutil.ToFloat64(gaugeOrCounter(t, reg, "auditlkm_netlink_socket_drops_total")); drops != 0 {
		t.Errorf("unicast socket drops = %v, want 0 (kauditd waits instead of dropping)", drops)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg.StateFile)
	if err != nil || !bytes.Contains(b, []byte(`"serial":`)) {
		t.Errorf("state file after Close: %q %v", b, err)
	}
}

// gaugeOrCounter returns a registered metric without labels.
func gaugeOrCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			v := mf.GetMetric()[0]
			if v.GetCounter() != nil {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "x"}, func() float64 { return v.GetCounter().GetValue() })
			}
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: "x"}, func() float64 { return v.GetGauge().GetValue() })
		}
	}
	t.Fatalf("metric %s not gathered", name)
	return nil
}
