package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditdtest"
	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// kmodLoadTool is the detection the reload test excludes a path from: it
// alerts on insmod's execve of kmod, and takes user exclusions.
const kmodLoadTool = "kmod-load-tool"

// Bounds and pacing of the reload test.
const (
	// reloadLoadRate is well below the zero-loss rate the load tests
	// measure (tens of thousands per second), so any loss is the reload's.
	reloadLoadRate     = "5000"
	reloadLoadDuration = 4 * time.Second
	// reloadEvery is the pause between two SIGHUPs during the load.
	reloadEvery = time.Second
	// reloadLogTimeout bounds the wait for the daemon's log line after a
	// signal (the daemon's own reload timeout is 5 s).
	reloadLogTimeout = 8 * time.Second
)

// waitLog waits until the daemon's log holds want at least n times.
func (d *daemon) waitLog(t *testing.T, want string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(d.stderr.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("daemon log has %q %d times after %s, want %d:\n%s", want, strings.Count(d.stderr.String(), want), timeout, n, d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeFileAtomic replaces path the way configuration management does:
// a new file renamed over the old one.
func writeFileAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// replaceOnce replaces the single occurrence of old in s, failing when
// the generated default configuration no longer has it.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("auditlkm config default has %q %d times, want once:\n%s", old, n, s)
	}
	return strings.Replace(s, old, new, 1)
}

// insmodAttempt runs insmod on a dummy module file and returns its pid
// (the kernel refuses with ENOSYS; kmod retries with init_module).
func insmodAttempt(t *testing.T, insmod, ko string) int {
	t.Helper()
	if err := os.WriteFile(ko, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	ins := exec.Command(insmod, ko)
	if out, err := ins.CombinedOutput(); err == nil {
		t.Fatalf("insmod of a dummy file succeeded: %s", out)
	}
	return ins.Process.Pid
}

// TestSIGHUPUnderLoadLosesNothing is the reload scenario: while
// the load generator makes audited module-load attempts at a steady rate,
// the daemon is sent SIGHUP three times, once after the configuration
// file changed (an exclusion that does not match the generator, an
// unrelated detection turned off, an extra watch). Every reload is logged,
// no loss counter moves and every attempt of the generator is alerted,
// exactly. The changed exclusion is in effect afterwards and the watch is
// in the kernel. Then SIGUSR1 after the alert file was renamed away
// (logrotate): the next alert goes to a new file at the configured path,
// the renamed one keeps what it had.
func TestSIGHUPUnderLoadLosesNothing(t *testing.T) {
	snap := kerneltest.Require(t)
	requireFreePID(t, snap)
	insmod := lookTool(t, "insmod")
	lg := loadgen(t)
	name := unique(t)
	dir := t.TempDir()

	def, err := exec.Command(binary, "config", "default").Output()
	if err != nil {
		t.Fatalf("auditlkm config default: %v", err)
	}
	cfg := filepath.Join(dir, "auditlkm.yaml")
	writeFileAtomic(t, cfg, def)
	// The changed file: nothing in it can touch the generator's alerts.
	excluded := filepath.Join(dir, name+"-excluded.ko")
	watched := filepath.Join(dir, "watched")
	if err := os.Mkdir(watched, 0o755); err != nil {
		t.Fatal(err)
	}
	watchKey := name + "-watch"
	changed := string(def)
	changed = replaceOnce(t, changed, "  disabled: []\n", "  disabled: [kexec-kernel-load]\n")
	changed = replaceOnce(t, changed, "  exclusions: {}\n", fmt.Sprintf(
		"  exclusions:\n    %s:\n      - reason: t-reload\n        args: [%q]\n", kmodLoadTool, excluded))
	changed = replaceOnce(t, changed, "\nwatches: []\n", fmt.Sprintf(
		"\nwatches:\n  - path: %s\n    permissions: wa\n    key: %s\n", watched, watchKey))
	if err := os.WriteFile(cfg+".changed", []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary, "config", "check", cfg+".changed").CombinedOutput(); err != nil {
		t.Fatalf("auditlkm config check of the changed file: %v: %s\n%s", err, out, changed)
	}

	d := startLoadDaemon(t, "--config.file", cfg)

	// Before the change the path to be excluded is alerted.
	pid := insmodAttempt(t, insmod, excluded)
	d.waitAlerts(t, "insmod "+excluded+" before the reload", func(a alert) bool {
		return a.Rule.ID == kmodLoadTool && a.File.Path == excluded && a.Process.PID == pid
	})
	alertsBefore := countAlertsFile(d.alerts)

	type result struct {
		r   loadReport
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		cmd := exec.Command(lg, "-mode", "module", "-rate", reloadLoadRate, "-duration", reloadLoadDuration.String(), "-workers", "1")
		var res result
		if res.out, res.err = cmd.Output(); res.err == nil {
			res.err = json.Unmarshal(res.out, &res.r)
		}
		done <- res
	}()
	start := time.Now()
	for i := 1; i <= 3; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * reloadEvery)))
		if i == 2 {
			writeFileAtomic(t, cfg, []byte(changed))
		}
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		d.waitLog(t, "configuration reloaded", i, reloadLogTimeout)
		t.Logf("SIGHUP %d reloaded %s into the load", i, time.Since(start).Round(time.Millisecond))
	}
	select {
	case res := <-done:
		t.Fatalf("the load ended (%s) before the third reload was done: the reloads were not under load", res.out)
	default:
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("loadgen: %v: %s", res.err, res.out)
	}
	r := res.r
	m := waitDrained(t, d.addr)

	log := d.stderr.String()
	// Nothing in the file needs a restart (the command line wins over
	// every setting it has): a reload must not say so.
	for _, bad := range []string{"configuration not reloaded", "need a restart", "level=ERROR"} {
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, bad) {
				t.Errorf("daemon log has %q: %s", bad, l)
			}
		}
	}
	if n := strings.Count(log, "configuration reloaded"); n != 3 {
		t.Errorf("daemon logged %d reloads, want 3:\n%s", n, log)
	}
	// Every counter of lost records or events stays 0 (the daemon started
	// fresh). Incomplete events are not losses of records: they are
	// reported by reason (other processes on the machine make them too).
	for _, name := range lossCounters {
		if name == "auditlkm_reassembly_incomplete_events_total" {
			for _, reason := range []string{"path_missing", "execve_partial", "syscall_missing"} {
				if v := m.sum(name, "reason="+reason); v != 0 {
					t.Logf("%s{reason=%q} = %v", name, reason, v)
				}
			}
			continue
		}
		if v := m.sum(name); v != 0 {
			t.Errorf("%s = %v after reloads under load, want 0", name, v)
		}
	}
	got := countModuleAlerts(t, d.alerts, alertsBefore, r.PID)
	t.Logf("generator pid %d sent %d at %.0f/s over %.1fs; %d kernel-module-load alerts for it",
		r.PID, r.Sent, r.Achieved, r.Seconds, got)
	if r.Sent == 0 {
		t.Fatal("the generator sent nothing")
	}
	if got != r.Sent {
		t.Errorf("kernel-module-load alerts for the generator = %d, want exactly the %d it sent", got, r.Sent)
	}

	// The changed file is in effect: its watch is in the kernel and its
	// exclusion suppresses what was alerted before.
	if l := auditdtest.Auditctl(t, "-l"); !strings.Contains(l, "-w "+watched+" -p wa -k "+watchKey+"\n") {
		t.Errorf("the watch of the reloaded file is not in the kernel:\n%s", l)
	}
	suppressed := func() float64 {
		return scrapeMetrics(t, d.addr).sum("auditlkm_detections_suppressed_total", "rule_id="+kmodLoadTool, "reason=t-reload")
	}
	if v := suppressed(); v != 0 {
		t.Fatalf("suppressed by t-reload = %v before the excluded insmod", v)
	}
	pid = insmodAttempt(t, insmod, excluded)
	// Its module syscalls come after its execve: once they are alerted
	// (kernel-module-load has no exclusion here) the execve was evaluated.
	d.waitAlerts(t, "insmod "+excluded+" after the reload", func(a alert) bool {
		return a.Rule.ID == "kernel-module-load" && a.File.Path == excluded && a.Process.PID == pid
	})
	if v := suppressed(); v != 1 {
		t.Errorf("the exclusion of the reloaded file suppressed %v alerts of insmod %s, want 1", v, excluded)
	}
	for _, a := range readAlerts(t, d.alerts) {
		if a.Rule.ID == kmodLoadTool && a.Process.PID == pid {
			t.Errorf("%s alert for the excluded insmod (pid %d) after the reload: %+v", kmodLoadTool, pid, a)
		}
	}

	// SIGUSR1 after a rotation: the next alert is in a new file at the
	// configured path, the rotated one keeps what it had.
	rotated := d.alerts + ".1"
	if err := os.Rename(d.alerts, rotated); err != nil {
		t.Fatal(err)
	}
	rotatedLines := countAlertsFile(rotated)
	if err := d.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "outputs reopened", 1, reloadLogTimeout)
	control := filepath.Join(dir, name+"-after-rotate.ko")
	cpid := insmodAttempt(t, insmod, control)
	d.waitAlerts(t, "insmod "+control+" after SIGUSR1", func(a alert) bool {
		return a.Rule.ID == "kernel-module-load" && a.File.Path == control && a.Process.PID == cpid
	})
	if n := countAlertsFile(rotated); n != rotatedLines {
		t.Errorf("the rotated file grew from %d to %d lines after SIGUSR1:\n%s", rotatedLines, n, mustRead(rotated))
	}
	if got := countModuleAlerts(t, rotated, alertsBefore, r.PID); got != r.Sent {
		t.Errorf("the rotated file holds %d of the generator's %d alerts", got, r.Sent)
	}
	for _, a := range readAlerts(t, d.alerts) {
		if a.Process.PID != cpid {
			t.Errorf("the new alert file holds an alert of pid %d, not only the insmod after SIGUSR1 (%d): %+v", a.Process.PID, cpid, a)
		}
	}

	d.stop(t)
	assertKernelAsFound(t, snap)
}

// TestConfigExclusionsTakeEffectOrAreRefused: an exclusion the
// configuration file (and so a reload) accepts must suppress what it
// matches. For every detection the recorded log alerts on and every
// criterion its alerts carry a value for (exe = process.executable, args
// = a process.args element, path = file.path), a file excluding exactly
// that value is either refused by `auditlkm config check`, or a replay with
// it has no alert of that detection with that value left.
func TestConfigExclusionsTakeEffectOrAreRefused(t *testing.T) {
	const log = "testdata/debian12-kernel6.18-lkm.log"
	type full struct {
		Rule    struct{ ID string } `json:"rule"`
		Process struct {
			Executable string
			Args       []string
		} `json:"process"`
		File struct{ Path string } `json:"file"`
	}
	replay := func(t *testing.T, extra ...string) []full {
		t.Helper()
		out, err := exec.Command(binary, append([]string{"replay", "--log.level", "error"}, append(extra, log)...)...).Output()
		if err != nil {
			t.Fatalf("replay %v: %v", extra, err)
		}
		var as []full
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var a full
			if err := json.Unmarshal([]byte(l), &a); err != nil {
				t.Fatalf("alert %q: %v", l, err)
			}
			as = append(as, a)
		}
		return as
	}
	values := func(a full) map[string]string {
		v := map[string]string{"exe": a.Process.Executable, "path": a.File.Path}
		if len(a.Process.Args) > 1 {
			v["args"] = a.Process.Args[len(a.Process.Args)-1]
		}
		return v
	}
	// One case per detection and criterion, from the first alert with it.
	type tc struct{ id, criterion, value string }
	var cases []tc
	seen := map[string]bool{}
	for _, a := range replay(t) {
		for _, c := range []string{"exe", "args", "path"} {
			if v := values(a)[c]; v != "" && !seen[a.Rule.ID+" "+c] {
				seen[a.Rule.ID+" "+c] = true
				cases = append(cases, tc{a.Rule.ID, c, v})
			}
		}
	}
	if len(cases) < 6 {
		t.Fatalf("the recorded log gave only %d cases: %v", len(cases), cases)
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("an exclusion of %s by %s takes effect or is refused", c.id, c.criterion), func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "auditlkm.yaml")
			body := fmt.Sprintf("detections:\n  exclusions:\n    %s:\n      - reason: t-exclusion\n        %s: [%q]\n", c.id, c.criterion, c.value)
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(binary, "config", "check", cfg).CombinedOutput(); err != nil {
				t.Logf("refused: %s", strings.TrimSpace(string(out)))
				return
			}
			for _, a := range replay(t, "--config.file", cfg) {
				if a.Rule.ID == c.id && values(a)[c.criterion] == c.value {
					t.Fatalf("config check accepts an exclusion of %s by %s %q, but the replay still alerts on it: the exclusion is silently ignored\n%s",
						c.id, c.criterion, c.value, body)
				}
			}
		})
	}
}
