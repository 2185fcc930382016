package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// EnvLoad enables the long load runs (rate sweeps, files and exec modes).
// The two assertions the issue requires run in CI briefly without it.
const EnvLoad = "AUDITLKM_LOAD"

// recordsPerModuleEvent: a finit_module attempt refused with ENOSYS is
var (
	loadgenOnce sync.Once
	loadgenPath string
	loadgenErr  error
)

// loadgen builds test/loadgen once, next to the auditlkm binary.
func loadgen(t *testing.T) string {
	t.Helper()
	loadgenOnce.Do(func() {
		loadgenPath = filepath.Join(filepath.Dir(binary), "loadgen")
		out, err := exec.Command("go", "build", "-o", loadgenPath, "./loadgen").CombinedOutput()
		if err != nil {
			loadgenErr = fmt.Errorf("build loadgen: %w: %s", err, out)
		}
	})
	if loadgenErr != nil {
		t.Fatal(loadgenErr)
	}
	return loadgenPath
}

// loadReport is test/loadgen's JSON.
type loadReport struct {
	PID      int     `json:"pid"`
	Seconds  float64 `json:"seconds"`
	Sent     uint64  `json:"sent"`
	Achieved float64 `json:"achieved_rate"`
	Failures uint64  `json:"failures"`
}

func runLoadgen(t *testing.T, args ...string) loadReport {
	t.Helper()
	out, err := exec.Command(loadgen(t), args...).Output()
	if err != nil {
		t.Fatalf("loadgen %v: %v", args, err)
	}
	var r loadReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("loadgen output %q: %v", out, err)
	}
	return r
}

// metrics is one parsed scrape.
type metrics map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T, addr string) metrics {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return metrics(mfs)
}

// sum adds the series of name whose labels include every pair in want
// (label=value, ...); a missing metric is 0.
func (m metrics) sum(name string, want ...string) float64 {
	mf := m[name]
	if mf == nil {
		return 0
	}
	total := 0.0
next:
	for _, s := range mf.GetMetric() {
		for _, w := range want {
			k, v, _ := strings.Cut(w, "=")
			found := false
			for _, l := range s.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case s.GetCounter() != nil:
			total += s.GetCounter().GetValue()
		case s.GetGauge() != nil:
			total += s.GetGauge().GetValue()
		case s.GetUntyped() != nil:
			total += s.GetUntyped().GetValue()
		}
	}
	return total
}

// lossCounters are the daemon's loss counters, each its own series.
var lossCounters = []string{
	"auditlkm_kernel_lost_total",
	"auditlkm_netlink_socket_drops_total",
	"auditlkm_netlink_queue_dropped_total",
	"auditlkm_netlink_truncated_total",
	"auditlkm_netlink_parse_errors_total",
	"auditlkm_reassembly_sequence_gaps_total",
	"auditlkm_reassembly_incomplete_events_total",
	"auditlkm_output_write_errors_total",
}

// loadResult is one load run, as deltas over the run.
type loadResult struct {
	Rate, Seconds, Achieved float64
	Sent                    uint64
	// Received are the generator's events that reached an alert (module
	// mode) or its SYSCALL records (other modes).
	Received uint64
	// Records are SYSCALL, PROCTITLE and EOE records received (all
	// processes); NoiseSyscalls are SYSCALL records not from the generator.
	Records, NoiseSyscalls uint64
	Loss                   map[string]float64
	CPUSeconds             float64
	// ByType are records received by type (SYSCALL, PROCTITLE, EOE).
	ByType map[string]uint64
	// ENOBUFS are receive errors reporting a socket overrun.
	ENOBUFS float64
}

func (r loadResult) lossTotal() float64 {
	t := 0.0
	for _, v := range r.Loss {
		t += v
	}
	return t
}

// recordLoss is every counter that counts lost records (not events).
func (r loadResult) recordLoss() float64 {
	return r.Loss["auditlkm_kernel_lost_total"] + r.Loss["auditlkm_netlink_socket_drops_total"] +
		r.Loss["auditlkm_netlink_queue_dropped_total"] + r.Loss["auditlkm_netlink_truncated_total"] +
		r.Loss["auditlkm_netlink_parse_errors_total"]
}

func (r loadResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "by type %v ENOBUFS %.0f; ", r.ByType, r.ENOBUFS)
	fmt.Fprintf(&b, "target %.0f/s achieved %.0f/s over %.1fs: sent %d received %d (records %d, noise syscalls %d)",
		r.Rate, r.Achieved, r.Seconds, r.Sent, r.Received, r.Records, r.NoiseSyscalls)
	for _, name := range lossCounters {
		fmt.Fprintf(&b, " %s=%.0f", strings.TrimPrefix(name, "auditlkm_"), r.Loss[name])
	}
	if r.Received > 0 {
		fmt.Fprintf(&b, " cpu %.3fs (%.3fs per 10k events)", r.CPUSeconds, r.CPUSeconds/float64(r.Received)*1e4)
	}
	return b.String()
}

// waitDrained waits until the kernel backlog and the daemon's queue are
// empty, nothing new arrives and the reassembler has had time to flush
// what is incomplete; it returns the final scrape.
func waitDrained(t *testing.T, addr string) metrics {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := -1.0
	stable := time.Time{}
	for time.Now().Before(deadline) {
		m := scrapeMetrics(t, addr)
		recs := m.sum("auditlkm_netlink_records_received_total")
		busy := m.sum("auditlkm_kernel_backlog") > 0 || m.sum("auditlkm_netlink_queue_length") > 0
		if busy || recs != last {
			last, stable = recs, time.Now()
		} else if time.Since(stable) > 3*time.Second { // > the 2 s reassembly timeout
			return m
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the daemon did not drain within 30s")
	return nil
}

// loadRun runs the daemon (already started) under loadgen once.
func loadRun(t *testing.T, d *daemon, rate float64, dur time.Duration, workers int) loadResult {
	t.Helper()
	before := waitDrained(t, d.addr)
	alertsBefore := countAlertsFile(d.alerts)
	r := runLoadgen(t, "-mode", "module", "-rate", strconv.FormatFloat(rate, 'f', 0, 64), "-duration", dur.String(), "-workers", strconv.Itoa(workers))
	after := waitDrained(t, d.addr)
	res := loadResult{Rate: rate, Seconds: r.Seconds, Achieved: r.Achieved, Sent: r.Sent, Loss: map[string]float64{}}
	res.Received = countModuleAlerts(t, d.alerts, alertsBefore, r.PID)
	delta := func(name string, labels ...string) float64 {
		return after.sum(name, labels...) - before.sum(name, labels...)
	}
	for _, name := range lossCounters {
		res.Loss[name] = delta(name)
	}
	syscalls := delta("auditlkm_netlink_records_received_total", "type=SYSCALL")
	res.Records = uint64(syscalls + delta("auditlkm_netlink_records_received_total", "type=PROCTITLE") +
		delta("auditlkm_netlink_records_received_total", "type=EOE"))
	// SYSCALL records received but dropped in the daemon's queue never
	// became alerts; what remains beyond the alerts came from others.
	res.NoiseSyscalls = uint64(syscalls - delta("auditlkm_netlink_queue_dropped_total", "type=SYSCALL") - float64(res.Received))
	res.ByType = map[string]uint64{}
	for _, typ := range []string{"SYSCALL", "PROCTITLE", "EOE"} {
		res.ByType[typ] = uint64(delta("auditlkm_netlink_records_received_total", "type="+typ))
	}
	res.ENOBUFS = delta("auditlkm_netlink_receive_errors_total", "errno=ENOBUFS")
	res.CPUSeconds = delta("process_cpu_seconds_total")
	return res
}

// countAlertsFile counts lines in the alert file (the offset of a run).
func countAlertsFile(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

// countModuleAlerts counts kernel-module-load alerts of pid after line skip.
func countModuleAlerts(t *testing.T, path string, skip, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(b, []byte("\n"))
	if skip > len(lines) {
		skip = len(lines)
	}
	var n uint64
	for _, a := range readAlertBytes(t, bytes.Join(lines[skip:], []byte("\n"))) {
		if a.Rule.ID == "kernel-module-load" && a.Process.PID == pid {
			// A summary of an alert storm stands for aggregated_count alerts.
			n += uint64(max(1, a.Auditd.AggregatedCount))
		}
	}
	return n
}

// startLoadDaemon starts the daemon without the raw record copy (it
// doubles the write load) and with extra flags. The drop-place rules are
// left out: they record every file created in /tmp, and the go tool (and
// anything else on the machine) creates files there while these tests
// count records exactly.
func startLoadDaemon(t *testing.T, extra ...string) *daemon {
	t.Helper()
	d := startDaemon(t, append([]string{"--output.records=", "--audit.drop-rules=false"}, extra...)...)
	// The switch really reaches the kernel (it was once lost in the
	// wiring and these tests counted records of /tmp creations).
	out, err := exec.Command("auditctl", "-l").CombinedOutput()
	if err != nil {
		t.Fatalf("auditctl -l: %v: %s", err, out)
	}
	if strings.Contains(string(out), "auditlkm-drop") {
		t.Fatalf("--audit.drop-rules=false, but the kernel has the drop-place rules:\n%s", out)
	}
	if !strings.Contains(string(out), "auditlkm") {
		t.Fatalf("auditctl -l shows none of auditlkm's rules:\n%s", out)
	}
	return d
}

func requireFreePID(t *testing.T, snap *kerneltest.Snapshot) {
	t.Helper()
	if snap.Status.PID != 0 {
		t.Fatalf("audit pid %d is held before the test: load tests need unicast", snap.Status.PID)
	}
}

// TestLoadNothingLostBelowTheLimit: at a rate the daemon holds, every
// module-load attempt the generator made reaches an alert and every loss
// counter stays 0.
func TestLoadNothingLostBelowTheLimit(t *testing.T) {
	snap := kerneltest.Require(t)
	requireFreePID(t, snap)
	d := startLoadDaemon(t)
	res := loadRun(t, d, 20000, 2*time.Second, 1)
	t.Log(res)
	if res.Sent == 0 {
		t.Fatal("the generator sent nothing")
	}
	if res.Received != res.Sent {
		t.Errorf("received %d of %d sent", res.Received, res.Sent)
	}
	for name, v := range res.Loss {
		if v != 0 {
			t.Errorf("%s = %v, want 0", name, v)
		}
	}
	d.stop(t)
	assertKernelAsFound(t, snap)
}

// TestLoadLossAccountedPastTheLimit: with a small kernel backlog and the
// generator as fast as it can, events are lost, and the counters account
// for them.
//
// How the kernel counts (kernel/auditsc.c audit_log_exit): when the
// SYSCALL record cannot be queued (backlog full) the kernel adds 1 to lost
// and abandons the whole event, so its PROCTITLE and EOE are never made;
// when SYSCALL got through, each later record that cannot be queued adds 1.
// So with R_type the records received of each type and L the kernel's lost
// increase, the generator's events are exactly
//
//	sent = (R_SYSCALL + L_SYSCALL) = L + R_PROCTITLE + R_EOE - R_SYSCALL
//
// which the test checks when the kernel was the only place records were
// lost and no other process made audit records meanwhile. In every case it
// checks the bound: an event is missing only if one of its records was
// lost somewhere counted, or its serial never arrived (a gap), so
// sent - received <= every loss counter together.
func TestLoadLossAccountedPastTheLimit(t *testing.T) {
	snap := kerneltest.Require(t)
	requireFreePID(t, snap)
	d := startLoadDaemon(t, "--audit.backlog-limit", "64")
	res := loadRun(t, d, 0, 2*time.Second, 2)
	t.Log(res)
	checkPastLimit(t, res)
	d.stop(t)
	assertKernelAsFound(t, snap)
}

func checkPastLimit(t *testing.T, res loadResult) {
	t.Helper()
	missing := float64(res.Sent) - float64(res.Received)
	bound := res.recordLoss() + res.Loss["auditlkm_reassembly_sequence_gaps_total"]
	kernel := res.Loss["auditlkm_kernel_lost_total"]
	t.Logf("events: sent %d = received %d + missing %.0f; loss counters together %.0f (kernel lost %.0f)",
		res.Sent, res.Received, missing, bound, kernel)
	if bound == 0 {
		t.Fatalf("nothing was lost: the rate was not past the limit (%s)", res)
	}
	if missing < 0 {
		t.Errorf("received %d alerts for %d sent", res.Received, res.Sent)
	}
	if missing > bound {
		t.Errorf("missing events %.0f exceed every loss counter together %.0f: loss went uncounted", missing, bound)
	}
	// Records dropped in the daemon's queue were received from the
	// kernel first (and are in R_type): the balance holds with them.
	beforeQueue := res.recordLoss() - res.Loss["auditlkm_netlink_queue_dropped_total"]
	if beforeQueue == kernel && res.ENOBUFS == 0 && res.NoiseSyscalls == 0 {
		model := kernel + float64(res.ByType["PROCTITLE"]) + float64(res.ByType["EOE"]) - float64(res.ByType["SYSCALL"])
		t.Logf("exact balance: lost %.0f + PROCTITLE %d + EOE %d - SYSCALL %d = %.0f events, sent %d",
			kernel, res.ByType["PROCTITLE"], res.ByType["EOE"], res.ByType["SYSCALL"], model, res.Sent)
		if model != float64(res.Sent) {
			t.Errorf("the kernel's lost counter and the records received account for %.0f events, the generator sent %d", model, res.Sent)
		}
	} else {
		t.Logf("exact balance not checked: loss at the socket (%.0f, ENOBUFS %.0f) or %d SYSCALL records from other processes",
			beforeQueue-kernel, res.ENOBUFS, res.NoiseSyscalls)
	}
}

// TestLoadSweep (AUDITLKM_LOAD=1) finds the highest module-load rate the
// daemon holds with nothing lost, 10 s per rate, and reports CPU per
// 10,000 events.
func TestLoadSweep(t *testing.T) {
	if os.Getenv(EnvLoad) != "1" {
		t.Skip("set " + EnvLoad + "=1 for the rate sweep")
	}
	snap := kerneltest.Require(t)
	requireFreePID(t, snap)
	dur := 10 * time.Second
	if s := os.Getenv("AUDITLKM_LOAD_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		dur = time.Duration(n) * time.Second
	}
	rates := []float64{20000, 35000, 50000, 70000, 90000, 110000, 135000}
	if s := os.Getenv("AUDITLKM_LOAD_RATES"); s != "" {
		rates = nil
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatal(err)
			}
			rates = append(rates, v)
		}
	}
	d := startLoadDaemon(t)
	best := 0.0
	for _, rate := range rates {
		res := loadRun(t, d, rate, dur, 2)
		held := res.lossTotal() == 0 && res.Received == res.Sent && res.Achieved >= 0.95*rate
		t.Logf("held=%v %s", held, res)
		if res.lossTotal() > 0 {
			checkPastLimit(t, res)
		}
		if !held {
			if res.Achieved < 0.95*rate {
				t.Logf("the generator reached only %.0f/s of %.0f/s", res.Achieved, rate)
			}
			break
		}
		best = math.Max(best, res.Achieved)
	}
	t.Logf("FIGURE auditlkm highest zero-loss module-load rate: %.0f/s", best)
	d.stop(t)
	assertKernelAsFound(t, snap)
}

// TestSIGKILLThenRestartReclaimsThePID kills the daemon under load; the
// kernel resets the pid of a dead holder when it next sends (or when a
// new daemon claims it) and the next start claims the pid and reports what
// was lost in between from its state file.
func TestSIGKILLThenRestartReclaimsThePID(t *testing.T) {
	snap := kerneltest.Require(t)
	requireFreePID(t, snap)
	state := t.TempDir()
	d := startLoadDaemon(t, "--state.dir", state)
	done := make(chan loadReport, 1)
	go func() {
		out, err := exec.Command(loadgen(t), "-mode", "module", "-rate", "20000", "-duration", "3s").Output()
		var r loadReport
		if err == nil {
			_ = json.Unmarshal(out, &r)
		}
		done <- r
	}()
	time.Sleep(1500 * time.Millisecond)
	killed := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d.cmd.Wait()
	lostAtKill := mustStatus(t, snap).Lost
	var resetAfter time.Duration
	for time.Since(killed) < 5*time.Second {
		if mustStatus(t, snap).PID == 0 {
			resetAfter = time.Since(killed)
			break
		}
		time.Sleep(time.Millisecond)
	}
	if resetAfter == 0 {
		t.Log("the kernel still names the dead daemon as audit pid after 5s (no record sent since)")
	} else {
		t.Logf("the kernel reset the audit pid %s after SIGKILL (under load)", resetAfter)
	}
	d2 := startLoadDaemon(t, "--state.dir", state)
	if st := mustStatus(t, snap); st.PID != uint32(d2.cmd.Process.Pid) {
		t.Fatalf("audit pid after restart = %d, want the new daemon %d\n%s", st.PID, d2.cmd.Process.Pid, d2.stderr)
	}
	r := <-done
	m := waitDrained(t, d2.addr)
	lostNow := mustStatus(t, snap).Lost
	t.Logf("generator sent %d; kernel lost counter %d at kill, %d now", r.Sent, lostAtKill, lostNow)
	log := d2.stderr.String()
	if !strings.Contains(log, "kernel lost counter since the previous run") {
		t.Errorf("the restarted daemon did not report the kernel's loss since the previous run:\n%s", log)
	}
	if _, ok := m["auditlkm_restart_kernel_lost_records"]; !ok {
		t.Error("auditlkm_restart_kernel_lost_records not exported after a restart")
	}
	if _, ok := m["auditlkm_restart_missed_serials"]; ok {
		t.Logf("restart gap: kernel lost %.0f records between the runs, %.0f serials never received",
			m.sum("auditlkm_restart_kernel_lost_records"), m.sum("auditlkm_restart_missed_serials"))
	} else {
		t.Errorf("auditlkm_restart_missed_serials not exported although records arrived:\n%s", log)
	}
	d2.stop(t)
	// The killed daemon never removed its rules nor restored the status:
	// kerneltest's cleanup does, and fails the test if it cannot.
	cleanupRulesLeftByKilledDaemon(t, snap)
}

func mustStatus(t *testing.T, snap *kerneltest.Snapshot) (st struct{ PID, Lost uint32 }) {
	t.Helper()
	s, err := snap.Control.Status()
	if err != nil {
		t.Fatal(err)
	}
	st.PID, st.Lost = s.PID, s.Lost
	return st
}

// cleanupRulesLeftByKilledDaemon deletes the rules the killed daemon
// loaded (the snapshot had none of them) so the kernel is as found.
func cleanupRulesLeftByKilledDaemon(t *testing.T, snap *kerneltest.Snapshot) {
	t.Helper()
	rules, err := snap.Control.Rules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if !snap.HasRule(r) {
			if err := snap.Control.DeleteRule(r); err != nil {
				t.Errorf("delete rule left by the killed daemon: %v", err)
			}
		}
	}
}
