//go:build linux

package guard

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/auditrules"
	"github.com/auditlkm/auditlkm/internal/kerneltest"
	"github.com/auditlkm/auditlkm/internal/netlink"
)

var _ Kernel = (*netlink.Control)(nil)

const testRules = "-a always,exit -F arch=b64 -S kexec_load -F key=auditlkm-test-guard\n" +
	"-a always,exit -F arch=b64 -S kexec_file_load -F key=auditlkm-test-guard\n"

func parse(text string) WantFunc {
	return func() ([]auditrules.Rule, error) {
		return auditrules.ParseFile("guard.rules", strings.NewReader(text), auditrules.DefaultParseOptions())
	}
}

// kernelRules renders the kernel's list in auditctl syntax.
func kernelRules(t *testing.T, ctl *netlink.Control) []string {
	t.Helper()
	list, err := ctl.Rules()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, w := range list {
		s, err := auditrules.ToCommandLine(w)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func has(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// loadGuarded loads want and returns a guard owning what was added; the
// cleanup disarms it and unloads what it owns.
func loadGuarded(t *testing.T, ctl *netlink.Control, cfg Config, want WantFunc, k Kernel, reg prometheus.Registerer) *Guard {
	t.Helper()
	rules, err := want()
	if err != nil {
		t.Fatal(err)
	}
	res, err := auditrules.Load(ctl, rules)
	if err != nil {
		t.Fatal(err)
	}
	if k == nil {
		k = ctl
	}
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, k, want, res.Added, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := auditrules.Unload(ctl, g.Disarm()); err != nil {
			t.Error(err)
		}
	})
	return g
}

// deleteFromAnotherProcess removes one rule the way an attacker would:
// with auditctl when installed, else over this process's control socket.
func deleteFromAnotherProcess(t *testing.T, ctl *netlink.Control, syscall string) {
	t.Helper()
	if p, err := exec.LookPath("auditctl"); err == nil {
		out, err := exec.Command(p, "-d", "always,exit", "-F", "arch=b64", "-S", syscall, "-F", "key=auditlkm-test-guard").CombinedOutput()
		if err != nil {
			t.Fatalf("auditctl -d: %v: %s", err, out)
		}
		return
	}
	rules, _ := parse(fmt.Sprintf("-a always,exit -F arch=b64 -S %s -F key=auditlkm-test-guard\n", syscall))()
	if err := ctl.DeleteRule(rules[0].Wire); err != nil {
		t.Fatal(err)
	}
}

func TestGuardPutsBackARuleSomeoneDeleted(t *testing.T) {
	snap := kerneltest.Require(t)
	reg := prometheus.NewRegistry()
	g := loadGuarded(t, snap.Control, DefaultConfig(), parse(testRules), nil, reg)
	if res, err := g.Check(TriggerManual); err != nil || res.Missing != 0 || res.Added != 0 {
		t.Fatalf("first check: %v %v", res, err)
	}
	deleteFromAnotherProcess(t, snap.Control, "kexec_file_load")
	if has(kernelRules(t, snap.Control), "kexec_file_load -F key=auditlkm-test-guard") {
		t.Fatal("rule still there after the delete")
	}
	res, err := g.Check(TriggerManual)
	if err != nil {
		t.Fatal(err)
	}
	if res.Missing != 1 || res.Added != 1 || len(res.Lines) != 1 || res.Lines[0] != "guard.rules:2" {
		t.Fatalf("check: %+v", res)
	}
	if !has(kernelRules(t, snap.Control), "kexec_file_load -F key=auditlkm-test-guard") {
		t.Fatal("rule not put back")
	}
	if n := len(g.Owned()); n != 2 {
		t.Fatalf("owns %d rules, want 2 (no duplicates)", n)
	}
	if got := testutil.ToFloat64(g.m.repairs.WithLabelValues("rule")); got != 1 {
		t.Fatalf("repairs_total{what=rule} = %v", got)
	}
	if got := testutil.ToFloat64(g.m.missing); got != 1 {
		t.Fatalf("missing gauge = %v (the check's finding)", got)
	}
}

func TestGuardDoesNothingOnceDisarmed(t *testing.T) {
	snap := kerneltest.Require(t)
	g := loadGuarded(t, snap.Control, DefaultConfig(), parse(testRules), nil, nil)
	owned := g.Disarm()
	if len(owned) != 2 {
		t.Fatalf("owned %d", len(owned))
	}
	// Our own shutdown: the unload must not be repaired.
	if err := auditrules.Unload(snap.Control, owned); err != nil {
		t.Fatal(err)
	}
	res, err := g.Check(TriggerRecord)
	if err != nil || !res.Disarmed {
		t.Fatalf("check after disarm: %+v %v", res, err)
	}
	if has(kernelRules(t, snap.Control), "auditlkm-test-guard") {
		t.Fatal("a disarmed guard put rules back")
	}
}

func TestGuardOnlyMeasuresWhenRepairIsOff(t *testing.T) {
	snap := kerneltest.Require(t)
	cfg := DefaultConfig()
	cfg.Repair = false
	reg := prometheus.NewRegistry()
	g := loadGuarded(t, snap.Control, cfg, parse(testRules), nil, reg)
	deleteFromAnotherProcess(t, snap.Control, "kexec_load")
	res, err := g.Check(TriggerManual)
	if err != nil || res.Missing != 1 || res.Added != 0 {
		t.Fatalf("check: %+v %v", res, err)
	}
	if has(kernelRules(t, snap.Control), "-S kexec_load -F key=auditlkm-test-guard") {
		t.Fatal("repair is off but the rule came back")
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP auditlkm_auditrules_missing auditlkm audit rules missing from the kernel at the last check (before any repair).
# TYPE auditlkm_auditrules_missing gauge
auditlkm_auditrules_missing 1
`), "auditlkm_auditrules_missing"); err != nil {
		t.Fatal(err)
	}
}

// immutableKernel is the real kernel except that Status says enabled=2.
// The real kernel cannot be locked in a test: "auditctl -e 2" holds until
// reboot on a machine other tests share.
type immutableKernel struct{ *netlink.Control }

func (k immutableKernel) Status() (netlink.Status, error) {
	st, err := k.Control.Status()
	st.Enabled = 2
	return st, err
}

func (k immutableKernel) AddRule([]byte) error {
	return fmt.Errorf("add audit rule: %w", os.ErrPermission) // what a locked kernel answers
}

func TestGuardReportsALockedKernelAndLeavesIt(t *testing.T) {
	snap := kerneltest.Require(t)
	reg := prometheus.NewRegistry()
	g := loadGuarded(t, snap.Control, DefaultConfig(), parse(testRules), immutableKernel{snap.Control}, reg)
	deleteFromAnotherProcess(t, snap.Control, "kexec_load")
	for range 2 {
		res, err := g.Check(TriggerManual)
		if err != nil || !res.Immutable || res.Added != 0 || res.Missing != 1 {
			t.Fatalf("check: %+v %v", res, err)
		}
	}
	if got := testutil.ToFloat64(g.m.failures.WithLabelValues("immutable")); got != 2 {
		t.Fatalf("repair_failures_total{reason=immutable} = %v", got)
	}
}

func TestGuardRunRepairsSoonAfterARemovalRecord(t *testing.T) {
	snap := kerneltest.Require(t)
	cfg := DefaultConfig()
	cfg.Interval = time.Hour // only the record can trigger the check
	cfg.Settle = 10 * time.Millisecond
	g := loadGuarded(t, snap.Control, cfg, parse(testRules), nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deleteFromAnotherProcess(t, snap.Control, "kexec_load")
	// Records that must not trigger, then the one that must.
	for _, line := range []string{
		`type=CONFIG_CHANGE msg=audit(1795324036.264:1): auid=0 ses=1 op=add_rule key="x" list=4 res=1`,
		`type=SYSCALL msg=audit(1795324036.264:2): arch=c000003e syscall=2 success=yes exit=3 pid=1 key="other"`,
	} {
		rec, err := auditevent.ParseLine([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		g.Observe(&rec)
	}
	time.Sleep(200 * time.Millisecond)
	if has(kernelRules(t, snap.Control), "-S kexec_load -F key=auditlkm-test-guard") {
		t.Fatal("an unrelated record triggered a repair")
	}
	rec, err := auditevent.ParseLine([]byte(`type=CONFIG_CHANGE msg=audit(1795324036.264:723): auid=4294967295 ses=4294967295 op=remove_rule key="auditlkm-test-guard" list=4 res=1`))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	g.Observe(&rec)
	for !has(kernelRules(t, snap.Control), "-S kexec_load -F key=auditlkm-test-guard") {
		if time.Since(start) > 3*time.Second {
			t.Fatal("rule not put back within 3s of the record")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("put back %v after the record", time.Since(start).Round(time.Millisecond))
}

// TestGuardMovesAWatchToTheDirectoryOnceItExists pins the answer to "a
// missing directory must not silently become a single-file watch": the
// kernel refuses dir= on a missing directory, so the name is watched with
// path= (which records the directory's creation), and the next check
// replaces it with the recursive dir= watch; when the directory goes
// away the kernel drops the dir= watch and the check goes back to path=.
func TestGuardMovesAWatchToTheDirectoryOnceItExists(t *testing.T) {
	snap := kerneltest.Require(t)
	sub := filepath.Join(t.TempDir(), "modules-load.d")
	want := parse(fmt.Sprintf("-w %s/ -p wa -k auditlkm-test-guard\n", sub))
	g := loadGuarded(t, snap.Control, DefaultConfig(), want, nil, nil)
	pathForm, err := want()
	if err != nil {
		t.Fatal(err)
	}
	// inKernel reports whether the kernel holds exactly the rules of form.
	inKernel := func(form []auditrules.Rule) bool {
		have, err := snap.Control.Rules()
		if err != nil {
			t.Fatal(err)
		}
		d, err := auditrules.Compare(have, form)
		if err != nil {
			t.Fatal(err)
		}
		return len(d.Missing) == 0
	}
	if !inKernel(pathForm) {
		t.Fatal("path= watch not loaded")
	}
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	dirForm, err := want()
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Check(TriggerRecord)
	// The directory line is now the dir= tree watch plus the name watch
	// (path=) it already had: one rule added, none replaced.
	if err != nil || res.Added != 1 || res.Replaced != 0 || len(dirForm) != 2 {
		t.Fatalf("check after mkdir: %+v %v (%d rules wanted)", res, err, len(dirForm))
	}
	if !inKernel(pathForm) || !inKernel(dirForm) {
		t.Fatalf("after mkdir: path= %v dir= %v", inKernel(pathForm), inKernel(dirForm))
	}
	if err := os.Remove(sub); err != nil {
		t.Fatal(err)
	}
	if inKernel(dirForm) {
		t.Log("the kernel kept the dir= watch of a removed directory")
	}
	res, err = g.Check(TriggerRecord)
	if err != nil || len(g.Owned()) != 1 {
		t.Fatalf("check after rmdir: %+v %v (owned %d)", res, err, len(g.Owned()))
	}
	if !inKernel(pathForm) || inKernel(dirForm) {
		t.Fatalf("after rmdir: path= %v dir= %v", inKernel(pathForm), inKernel(dirForm))
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"the defaults are valid", func(*Config) {}, true},
		{"an interval under a second is refused", func(c *Config) { c.Interval = time.Millisecond }, false},
		{"a negative settle is refused", func(c *Config) { c.Settle = -1 }, false},
		{"a settle over the bound is refused", func(c *Config) { c.Settle = time.Minute }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

func TestGuardUnloadRemovesWhatItOwnsAndStopsRepairing(t *testing.T) {
	snap := kerneltest.Require(t)
	g := loadGuarded(t, snap.Control, DefaultConfig(), parse(testRules), nil, nil)
	deleteFromAnotherProcess(t, snap.Control, "kexec_load")
	if res, err := g.Check(TriggerManual); err != nil || res.Added != 1 {
		t.Fatalf("repair: %+v %v", res, err)
	}
	if err := g.Unload(); err != nil {
		t.Fatal(err)
	}
	if has(kernelRules(t, snap.Control), "auditlkm-test-guard") {
		t.Fatal("rules left after Unload")
	}
	if res, err := g.Check(TriggerRecord); err != nil || !res.Disarmed {
		t.Fatalf("check after Unload: %+v %v", res, err)
	}
	if len(g.Owned()) != 0 {
		t.Fatal("still owns rules")
	}
}
