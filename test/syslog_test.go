package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/ecs"
	"github.com/auditlkm/auditlkm/internal/output"
)

// rsyslogd is a real rsyslog started in the foreground for one test,
// receiving RFC 5424 over TCP on loopback and writing every message's
// parsed fields to a file.
type rsyslogd struct {
	dir, conf, out string
	port           int
	cmd            *exec.Cmd
}

// rsyslogTemplate writes the fields rsyslog parsed, "|"-separated.
const rsyslogTemplate = `%pri%|%protocol-version%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%\n`

func requireRsyslog(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("rsyslogd")
	if err != nil {
		if os.Getenv("AUDITLKM_REQUIRE_KERNEL") == "1" {
			t.Fatal("rsyslogd not installed (apt-get install rsyslog); required in CI")
		}
		t.Skip("rsyslogd not installed")
	}
	return p
}

func newRsyslogd(t *testing.T) *rsyslogd {
	t.Helper()
	bin := requireRsyslog(t)
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &rsyslogd{dir: dir, conf: filepath.Join(dir, "rsyslog.conf"), out: filepath.Join(dir, "out.log"), port: port}
	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="256k")
module(load="imtcp")
template(name="fields" type="string" string="%s")
ruleset(name="r") { action(type="omfile" file=%q template="fields") }
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="r")
`, dir, rsyslogTemplate, r.out, port)
	if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-N1", "-f", r.conf).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd -N1 refuses the test configuration: %v\n%s", err, out)
	}
	r.start(t)
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *rsyslogd) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command("rsyslogd", "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = os.Stderr, os.Stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd does not listen on %d: %v", r.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *rsyslogd) stop(t *testing.T) {
	t.Helper()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
	r.cmd = nil
}

// waitLines waits until the output file holds n lines and returns them.
func (r *rsyslogd) waitLines(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var lines []string
		if f, err := os.Open(r.out); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			f.Close()
		}
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslog wrote %d lines, want %d: %.500q", len(lines), n, strings.Join(lines, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func syslogAlert(args ...string) *detections.Alert {
	return &detections.Alert{
		Rule:    &detections.Definition{ID: detections.ModuleLoadID, Name: "Kernel module load", Severity: detections.High, RiskScore: 47},
		Action:  "loaded-kernel-module",
		Process: auditevent.Process{PID: 31337, Exe: "/usr/bin/kmod", Args: args},
	}
}

// manyArgs makes an alert of about 20 KiB, far above rsyslog's default
// 8 KiB message size, within the ECS encoder's bounds.
func manyArgs() []string {
	args := []string{"modprobe"}
	for i := 0; i < 200; i++ {
		args = append(args, fmt.Sprintf("opt%03d=%s", i, strings.Repeat("v", 90)))
	}
	return args
}

func TestSyslogOutputReachesARealRsyslogOverTCP(t *testing.T) {
	rs := newRsyslogd(t)
	reg := prometheus.NewRegistry()
	m, err := output.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := output.DefaultSyslogConfig()
	cfg.Address = "tcp://127.0.0.1:" + strconv.Itoa(rs.port)
	cfg.Hostname = "fleet-host-7"
	cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	s, err := output.NewSyslog(cfg, m, discard())
	if err != nil {
		t.Fatal(err)
	}
	enc, err := ecs.NewEncoder(io.Discard, ecs.Host{Hostname: "fleet-host-7", OSType: "linux"}, ecs.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	fan, err := output.NewFanout(enc, []output.Output{{Name: "syslog", W: s}}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer fan.Close()

	// A hostile name and a message far above rsyslog's default 8 KiB.
	alerts := []*detections.Alert{
		syslogAlert("insmod", "/tmp/evil\n\"name\"|x.ko"),
		syslogAlert(manyArgs()...),
	}
	for _, a := range alerts {
		if err := fan.WriteAlert(a); err != nil {
			t.Fatal(err)
		}
	}
	lines := rs.waitLines(t, 2)
	for i, l := range lines {
		f := strings.SplitN(l, "|", 9)
		if len(f) != 9 {
			t.Fatalf("line %d: %.500q", i, l)
		}
		want := []string{"131", "1", "", "fleet-host-7", "auditlkm", strconv.Itoa(os.Getpid()), "alert", "-"}
		for j, w := range want {
			if w != "" && f[j] != w {
				t.Errorf("line %d field %d = %q, want %q", i, j, f[j], w)
			}
		}
		if ts, err := time.Parse(time.RFC3339Nano, f[2]); err != nil || time.Since(ts) > time.Minute || time.Since(ts) < -time.Minute {
			t.Errorf("line %d TIMESTAMP %q: %v", i, f[2], err)
		}
		var doc struct {
			Rule    struct{ ID string }
			Process struct{ Args []string }
		}
		if err := json.Unmarshal([]byte(f[8]), &doc); err != nil {
			t.Fatalf("line %d MSG is not the JSON document: %v: %.200q", i, err, f[8])
		}
		if doc.Rule.ID != detections.ModuleLoadID || strings.Join(doc.Process.Args, "\x00") != strings.Join(alerts[i].Process.Args, "\x00") {
			t.Errorf("line %d: document %+v does not carry the alert", i, doc.Rule)
		}
	}

	// rsyslog restarts: the output reconnects and a line written while
	// it was away arrives. The first two must be settled first (taken by
	// the peer and the connection still open confirmAfter later): a line
	// not yet settled when the connection breaks is sent again on the
	// next one (at least once), and would arrive before the third.
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(prometheusCounter(t, reg, "auditlkm_output_written_total")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the first two lines were never counted as written")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rs.stop(t)
	if err := fan.WriteAlert(syslogAlert("modprobe", "while-away")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	rs.start(t)
	lines = rs.waitLines(t, 3)
	if !strings.Contains(lines[2], "while-away") {
		t.Errorf("third line %q is not the one written while rsyslog was away", lines[2])
	}
	if err := fan.Close(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(prometheusCounter(t, reg, "auditlkm_output_written_total")); n != 3 {
		t.Errorf("written_total = %v, want 3", n)
	}
	if n := testutil.ToFloat64(prometheusCounter(t, reg, "auditlkm_output_reconnects_total")); n < 2 {
		t.Errorf("reconnects_total = %v, want at least 2", n)
	}
}

// prometheusCounter gathers the one series of name from reg.
func prometheusCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "copy"}, func() float64 { return mf.GetMetric()[0].GetCounter().GetValue() })
		}
	}
	t.Fatalf("no single series %s", name)
	return nil
}
