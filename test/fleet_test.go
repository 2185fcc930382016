package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditdtest"
	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// fleetAlert is what the fleet tests read of an alert: who, where, which
// event, and how it was reassembled.
type fleetAlert struct {
	Event struct {
		Sequence int64 `json:"sequence"`
	} `json:"event"`
	Rule struct {
		ID string `json:"id"`
	} `json:"rule"`
	Host     map[string]any `json:"host"`
	Observer map[string]any `json:"observer"`
	Process  struct {
		PID int `json:"pid"`
	} `json:"process"`
	File struct {
		Path string `json:"path"`
	} `json:"file"`
	Auditd struct {
		Node       string `json:"node"`
		Completion string `json:"completion"`
	} `json:"auditd"`
}

func (a *fleetAlert) hostName() string {
	s, _ := a.Host["name"].(string)
	return s
}

// onlyNodeIdentity reports whether host.* says only what a node name tells:
// the name, and os.type "linux" (only Linux writes audit records).
func (a *fleetAlert) onlyNodeIdentity() bool {
	os, _ := a.Host["os"].(map[string]any)
	return len(a.Host) == 2 && a.hostName() != "" && len(os) == 1 && os["type"] == "linux"
}

func parseFleetAlerts(t *testing.T, b []byte) []fleetAlert {
	t.Helper()
	var out []fleetAlert
	for _, l := range bytes.Split(completeLines(b), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var a fleetAlert
		if err := json.Unmarshal(l, &a); err != nil {
			t.Fatalf("alert line %q: %v", l, err)
		}
		out = append(out, a)
	}
	return out
}

// TestReplayTwoNodes checks the two-node golden by content: hostA and
// hostB ran the same insmod with the same serials, their records
// interleaved one by one. Each host's events stay its own: the same four
// alerts per host as the one-host log gives, each with its host's pid and
// file and host.name, none late.
func TestReplayTwoNodes(t *testing.T) {
	out, st, _ := replayFile(t, "testdata/fleet-two-nodes.log")
	one, _, _ := replayFile(t, "testdata/detections-insmod.log")
	alerts := parseFleetAlerts(t, out)
	if n := len(parseFleetAlerts(t, one)); len(alerts) != 2*n || n == 0 {
		t.Fatalf("%d alerts from two hosts, %d from one", len(alerts), n)
	}
	want := map[string]struct {
		pid  int
		file string
	}{"hostA": {25553, "/tmp/auditlkm-det.ko"}, "hostB": {25999, "/tmp/hostb-rk.ko"}}
	per := map[string]int{}
	for _, a := range alerts {
		w, ok := want[a.hostName()]
		if !ok || a.Process.PID != w.pid || a.File.Path != w.file || a.Auditd.Node != a.hostName() ||
			a.Auditd.Completion == "late" || !a.onlyNodeIdentity() || a.Observer["hostname"] != fixedHost.Hostname {
			t.Errorf("alert %s seq %d: host %v pid %d file %s node %q completion %s observer %v",
				a.Rule.ID, a.Event.Sequence, a.Host, a.Process.PID, a.File.Path, a.Auditd.Node, a.Auditd.Completion, a.Observer)
		}
		per[a.hostName()]++
	}
	if per["hostA"] != per["hostB"] {
		t.Errorf("alerts per host: %v", per)
	}
	ra := st.Reassembly
	if ra.Nodes != 2 || ra.Late != 0 || ra.Incomplete != 0 || ra.Gaps != 0 {
		t.Errorf("nodes=%d late=%d incomplete=%d gaps=%d, want 2 0 0 0", ra.Nodes, ra.Late, ra.Incomplete, ra.Gaps)
	}
}

// TestReplayHostIsNotTheReplayingMachine: `auditlkm replay` of a log
// without node names does not claim the machine running it as the host
// the events happened on: no host name, the machine is observer.*. With node
// names the node is host.name.
func TestReplayHostIsNotTheReplayingMachine(t *testing.T) {
	me, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		log   string
		hosts map[string]bool
	}{
		{"testdata/detections-insmod.log", map[string]bool{"": true}},
		{"testdata/fleet-two-nodes.log", map[string]bool{"hostA": true, "hostB": true}},
	} {
		out, err := exec.Command(binary, "replay", tc.log).Output()
		if err != nil {
			t.Fatalf("replay %s: %v", tc.log, err)
		}
		alerts := parseFleetAlerts(t, out)
		if len(alerts) == 0 {
			t.Fatalf("replay %s: no alerts", tc.log)
		}
		for _, a := range alerts {
			// host.os.type ("linux": only Linux writes audit records) is
			// the one host field known without a node name.
			_, named := a.Host["name"]
			_, hostname := a.Host["hostname"]
			if !tc.hosts[a.hostName()] || (a.hostName() == "" && (named || hostname)) || a.Observer["hostname"] != me || a.Observer["product"] != "auditlkm" {
				t.Errorf("replay %s: alert %s host %v observer %v (this machine is %q)", tc.log, a.Rule.ID, a.Host, a.Observer, me)
			}
		}
	}
}

// fleetTimeout bounds each wait of the fleet test.
const fleetTimeout = 15 * time.Second

// freeTCPPort returns a TCP port free on 127.0.0.1 at the time of the call.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	_, p, err := net.SplitHostPort(freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// audispRemote prepares an audisp-remote sending to 127.0.0.1:port and
// returns the program to run. audisp-remote reads its configuration from
// the fixed path /etc/audit/audisp-remote.conf: the returned wrapper runs
// it in a mount namespace of its own where a directory holding the
// test's configuration is bound over /etc/audit, so the machine's
// /etc/audit is never touched. The wrapper is root-owned and mode 0750,
// as auditd requires of a plugin.
func audispRemote(t *testing.T, port int) string {
	t.Helper()
	bin := ""
	for _, p := range []string{"/sbin/audisp-remote", "/usr/sbin/audisp-remote"} {
		if _, err := os.Stat(p); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		msg := "audisp-remote not installed (apt-get install audispd-plugins)"
		if os.Getenv(kerneltest.EnvRequire) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	unshare := lookTool(t, "unshare")
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc-audit")
	if err := os.Mkdir(etc, 0o750); err != nil {
		t.Fatal(err)
	}
	// mode immediate: no spool file; network_failure_action syslog: a
	// lost link is logged, the sender goes on (the default, stop, would
	// end it).
	conf := fmt.Sprintf(`remote_server = 127.0.0.1
port = %d
transport = tcp
mode = immediate
queue_depth = 2048
format = managed
network_retry_time = 1
max_tries_per_record = 3
max_time_per_record = 5
heartbeat_timeout = 0
network_failure_action = syslog
disk_low_action = ignore
disk_full_action = warn_once
disk_error_action = warn_once
remote_ending_action = reconnect
generic_error_action = syslog
generic_warning_action = syslog
queue_error_action = stop
overflow_action = syslog
startup_failure_action = warn_once_continue
`, port)
	if err := os.WriteFile(filepath.Join(etc, "audisp-remote.conf"), []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(dir, "audisp-remote")
	script := fmt.Sprintf("#!/bin/sh\nexec %s --mount --propagation private /bin/sh -c 'mount --bind \"$0\" /etc/audit && exec \"$1\"' %s %s\n", unshare, etc, bin)
	if err := os.WriteFile(wrapper, []byte(script), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(wrapper, 0o750); err != nil {
		t.Fatal(err)
	}
	return wrapper
}

// recordedLoad returns the records of one module load event recorded from
// this kernel (finit_module by insmod, refused: modules compiled out):
// SYSCALL, PROCTITLE and EOE, as lines to rewrite.
func recordedLoad(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/detections-insmod.log")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "msg=audit(1795324659.364:493702):") {
			out = append(out, l)
		}
	}
	if len(out) != 3 || !strings.Contains(out[0], " pid=25553 ") {
		t.Fatalf("recorded load event: %q", out)
	}
	return out
}

// TestFleetCollector is the fleet set-up for real, on 127.0.0.1: Debian's
// auditd as a collector (tcp_listen_port, local_events = no,
// distribute_network = yes) with auditlkm as its plugin, and two senders
// with node names of their own:
//
//   - hostA: a local auditd (holding the kernel audit pid) with
//     name_format = user, name = hostA, and audisp-remote as its plugin;
//     real insmod runs make its module load events;
//   - hostB: a second audisp-remote fed recorded module load records
//     (node=hostB) on stdin, as auditd's dispatcher would, with exactly
//     the serials hostA's loads got.
//
// Every load must be alerted exactly once, with the right host, pid and
// no late completion.
func TestFleetCollector(t *testing.T) {
	kerneltest.Require(t)
	insmod := lookTool(t, "insmod")
	port := freeTCPPort(t)
	remote := audispRemote(t, port)
	dir := t.TempDir()
	name := unique(t)
	plugin := installPluginBinary(t, dir)
	alertsPath := filepath.Join(dir, name+"-alerts.json")
	// auditd passes a plugin two arguments at most: the rest is in the
	// configuration file, the metrics address included.
	metricsAddr := freePort(t)
	pluginConf := filepath.Join(dir, "plugin.yml")
	if err := os.WriteFile(pluginConf, []byte(fmt.Sprintf("output:\n  alerts: %s\nweb:\n  listen_address: %q\n", alertsPath, metricsAddr)), 0o640); err != nil {
		t.Fatal(err)
	}
	collector := auditdtest.Start(t, auditdtest.Options{
		ListenPort: port,
		Plugins: map[string]string{"auditlkm.conf": fmt.Sprintf(`active = yes
direction = out
path = %s
type = always
args = plugin --config.file=%s
format = string
`, plugin, pluginConf)},
	})
	key := "t-fleet"
	hostA := auditdtest.Start(t, auditdtest.Options{
		NodeName: "hostA",
		Rules:    [][]string{{"-a", "always,exit", "-F", "arch=b64", "-S", "finit_module,init_module", "-k", key}},
		Plugins: map[string]string{"au-remote.conf": fmt.Sprintf(`active = yes
direction = out
path = %s
type = always
format = string
`, remote)},
	})

	// hostB's sender: audisp-remote reading the plugin protocol (string
	// format, one record a line) from our pipe.
	senderB := exec.Command(remote)
	stdinB, err := senderB.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errB bytes.Buffer
	senderB.Stdout, senderB.Stderr = &errB, &errB
	if err := senderB.Start(); err != nil {
		t.Fatal(err)
	}
	doneB := make(chan error, 1)
	go func() { doneB <- senderB.Wait() }()
	t.Cleanup(func() {
		stdinB.Close()
		select {
		case <-doneB:
		case <-time.After(fleetTimeout):
			_ = senderB.Process.Kill()
			<-doneB
		}
	})

	// hostA: real module load attempts (finit_module, then init_module
	// after ENOSYS: two events each).
	ko := filepath.Join(t.TempDir(), name+".ko")
	if err := os.WriteFile(ko, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	pidsA := map[int]bool{}
	for i := 0; i < 3; i++ {
		c := exec.Command(insmod, ko)
		if out, err := c.CombinedOutput(); err == nil {
			t.Fatalf("insmod of a dummy file succeeded: %s", out)
		}
		pidsA[c.Process.Pid] = true
	}
	// hostA's own log names its load events: their serials and times.
	type loadRef struct {
		serial uint32
		sec    int64
		milli  uint16
		pid    int
	}
	var loadsA []loadRef
	deadline := time.Now().Add(fleetTimeout)
	for len(loadsA) < 2*len(pidsA) {
		if time.Now().After(deadline) {
			t.Fatalf("hostA's log holds %d of %d module load events:\n%s\n%s", len(loadsA), 2*len(pidsA), hostA.Log(), hostA.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
		loadsA = loadsA[:0]
		sc := bufio.NewScanner(strings.NewReader(hostA.Log()))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if !strings.HasPrefix(l, "node=hostA type=SYSCALL ") || !strings.Contains(l, `key="`+key+`"`) {
				continue
			}
			r, err := auditevent.ParseLine([]byte(l))
			if err != nil {
				t.Fatalf("hostA log line %q: %v", l, err)
			}
			ev := auditevent.Build([]auditevent.Record{r}, auditevent.CompleteEOE)
			if pidsA[ev.Syscall.PID] {
				loadsA = append(loadsA, loadRef{r.Serial, r.Sec, r.Milli, ev.Syscall.PID})
			}
		}
	}

	// hostB: the recorded load, once per hostA serial, with the same
	// serial and time and a pid of its own; hostB's third serial is
	// missing, as if its sender had dropped it: one gap, on hostB only.
	rec := recordedLoad(t)
	wantB := map[uint32]int{}
	var feed strings.Builder
	for i, l := range loadsA {
		if i == 2 {
			continue
		}
		pid := 31000 + i
		wantB[l.serial] = pid
		hdr := fmt.Sprintf("msg=audit(%d.%03d:%d):", l.sec, l.milli, l.serial)
		for _, r := range rec {
			r = strings.Replace(r, "msg=audit(1795324659.364:493702):", hdr, 1)
			r = strings.Replace(r, " pid=25553 ", " pid="+strconv.Itoa(pid)+" ", 1)
			feed.WriteString("node=hostB " + r + "\n")
		}
	}
	if _, err := io.WriteString(stdinB, feed.String()); err != nil {
		t.Fatalf("feed hostB's sender: %v: %s", err, errB.String())
	}

	wantA := map[uint32]int{}
	for _, l := range loadsA {
		wantA[l.serial] = l.pid
	}
	want := map[string]map[uint32]int{"hostA": wantA, "hostB": wantB}
	var alerts []fleetAlert
	count := func() int {
		n := 0
		for _, a := range alerts {
			if a.Rule.ID == "kernel-module-load" {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(fleetTimeout); ; {
		b, _ := os.ReadFile(alertsPath)
		alerts = parseFleetAlerts(t, b)
		if count() >= len(wantA)+len(wantB) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let anything extra (a duplicate, a late event) arrive too.
	time.Sleep(500 * time.Millisecond)
	b, _ := os.ReadFile(alertsPath)
	alerts = parseFleetAlerts(t, b)
	seen := map[string]int{}
	for _, a := range alerts {
		if a.Rule.ID != "kernel-module-load" {
			continue
		}
		h := a.hostName()
		k := fmt.Sprintf("%s/%d", h, a.Event.Sequence)
		seen[k]++
		wantPID, ok := want[h][uint32(a.Event.Sequence)]
		if !ok || a.Process.PID != wantPID || a.Auditd.Completion == "late" || !a.onlyNodeIdentity() || a.Observer["product"] != "auditlkm" {
			t.Errorf("alert %s: host %v pid %d (want %d, known %v) completion %s observer %v", k, a.Host, a.Process.PID, wantPID, ok, a.Auditd.Completion, a.Observer)
		}
	}
	for h, m := range want {
		for serial := range m {
			if k := fmt.Sprintf("%s/%d", h, serial); seen[k] != 1 {
				t.Errorf("load %s alerted %d times, want once", k, seen[k])
			}
		}
	}
	t.Logf("%d loads on hostA, %d on hostB with the same serials, %d kernel-module-load alerts", len(wantA), len(wantB), count())
	// The plugin's metrics count the nodes and hostB's gap (settled once
	// the later serials waited the reassembly timeout).
	var metrics string
	for deadline := time.Now().Add(fleetTimeout); ; {
		metrics = scrape(t, metricsAddr)
		if strings.Contains(metrics, "auditlkm_reassembly_node_sequence_gaps_total{node=\"hostB\"} 1\n") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{
		"auditlkm_reassembly_nodes 2\n",
		"auditlkm_correlate_nodes 2\n",
		"auditlkm_reassembly_node_sequence_gaps_total{node=\"hostB\"} 1\n",
		"auditlkm_reassembly_node_late_records_total{node=\"hostB\"} 0\n",
		"auditlkm_reassembly_node_late_records_total{node=\"hostA\"} 0\n",
		"auditlkm_reassembly_untracked_records_total 0\n",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("the plugin's /metrics lacks %q", strings.TrimSpace(want))
		}
	}
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "auditlkm_reassembly_node_sequence_gaps_total{node=\"hostA\"}") {
			t.Logf("%s (hostA's real kernel serials: any event lost on the way shows here)", l)
		}
	}
	// The collector got the node names from the senders: it logs each
	// record with its sender's node= prefix.
	for _, h := range []string{"hostA", "hostB"} {
		if !strings.Contains(collector.Log(), "node="+h+" type=SYSCALL ") {
			t.Errorf("the collector's log has no SYSCALL record of %s:\n%s", h, collector.Log())
		}
	}
	if t.Failed() {
		t.Logf("alerts:\n%s\ncollector:\n%s\nhostA:\n%s\nsender B: %s", b, collector.Stderr(), hostA.Stderr(), errB.String())
	}
}
