package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/ecs"
)

func testAlert(sev detections.Severity) *detections.Alert {
	return &detections.Alert{
		Rule:    &detections.Definition{ID: "kernel-module-load", Name: "Kernel module load", Severity: sev, RiskScore: 47},
		Action:  "loaded-kernel-module",
		Reason:  "a \"quoted\"\nname",
		Process: auditevent.Process{PID: 4242, Exe: "/usr/bin/kmod", Args: []string{"insmod", "/tmp/x\xff.ko"}},
	}
}

func newEncoder(t *testing.T) *ecs.Encoder {
	t.Helper()
	enc, err := ecs.NewEncoder(io.Discard, ecs.Host{Hostname: "h1", OSType: "linux"}, ecs.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestRFC5424Format(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.FixedZone("x", 3600))
	tests := []struct {
		name string
		cfg  func(*SyslogConfig)
		msg  Message
		want string
	}{
		{name: "an alert at local0 is err for high severity",
			msg:  Message{Line: []byte(`{"a":1}`), Time: at, Severity: SevError, MsgID: "alert"},
			want: `<131>1 2025-03-04T04:06:07.890123Z host-1 auditlkm PID alert - {"a":1}`},
		{name: "the facility moves the priority",
			cfg:  func(c *SyslogConfig) { c.Facility = "authpriv" },
			msg:  Message{Line: []byte(`{}`), Time: at, Severity: SevNotice, MsgID: "event"},
			want: `<85>1 2025-03-04T04:06:07.890123Z host-1 auditlkm PID event - {}`},
		{name: "a hostname with spaces and non-ASCII is made printable",
			cfg:  func(c *SyslogConfig) { c.Hostname = "bad host\xc3\xa9" },
			msg:  Message{Line: []byte(`{}`), Time: at, Severity: SevInfo},
			want: `<134>1 2025-03-04T04:06:07.890123Z bad_host__ auditlkm PID - - {}`},
		{name: "a line too long for the maximum message size loses its largest fields, marked",
			cfg:  func(c *SyslogConfig) { c.MaxMessageBytes = 480 },
			msg:  Message{Line: []byte(`{"rule":{"id":"r"},"process":{"pid":1,"args":["` + strings.Repeat("x", 1000) + `"]}}`), Time: at, Severity: SevInfo, MsgID: "alert"},
			want: `<134>1 2025-03-04T04:06:07.890123Z host-1 auditlkm PID alert - {"auditlkm":{"truncated":{"original_bytes":1051,"removed":["process.args"]}},"process":{"pid":1},"rule":{"id":"r"}}`},
		{name: "a long line that is not JSON becomes the marker alone",
			cfg:  func(c *SyslogConfig) { c.MaxMessageBytes = 480 },
			msg:  Message{Line: []byte(strings.Repeat("x", 1000)), Time: at, Severity: SevInfo, MsgID: "alert"},
			want: `<134>1 2025-03-04T04:06:07.890123Z host-1 auditlkm PID alert - {"auditlkm":{"truncated":{"original_bytes":1000,"removed":["*"]}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultSyslogConfig()
			cfg.Hostname = "host-1"
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			s, err := NewSyslog(cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := string(s.format(nil, tc.msg))
			want := strings.Replace(tc.want, " PID ", " "+strconv.Itoa(os.Getpid())+" ", 1)
			if got != want {
				t.Errorf("format\n got %q\nwant %q", got, want)
			}
			if len(got) > cfg.MaxMessageBytes {
				t.Errorf("message of %d bytes exceeds %d", len(got), cfg.MaxMessageBytes)
			}
		})
	}
}

func TestSyslogConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*SyslogConfig)
		want string
	}{
		{"a udp address", func(c *SyslogConfig) { c.Address = "udp://1.2.3.4:514" }, `invalid output configuration: syslog address "udp://1.2.3.4:514": want tcp://HOST:PORT, unix:///PATH, unixgram:///PATH or /PATH`},
		{"a tcp address without port", func(c *SyslogConfig) { c.Address = "tcp://loghost" }, `invalid output configuration: syslog address "tcp://loghost": address loghost: missing port in address`},
		{"a relative socket", func(c *SyslogConfig) { c.Address = "unix://dev/log" }, `invalid output configuration: syslog address "unix://dev/log": the socket path must be absolute`},
		{"an unknown facility", func(c *SyslogConfig) { c.Facility = "local9" }, `invalid output configuration: syslog facility "local9": want kern, user, daemon, auth, authpriv, syslog, local0 ... local7 or another RFC 5424 name`},
		{"an empty queue", func(c *SyslogConfig) { c.QueueMessages = 0 }, `invalid output configuration: syslog queue 0 not in [1, 1048576]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultSyslogConfig()
			tc.cfg(&c)
			err := c.Validate()
			if err == nil || err.Error() != tc.want || !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate = %v, want %s", err, tc.want)
			}
		})
	}
	if err := DefaultSyslogConfig().Validate(); err != nil {
		t.Errorf("default config refused: %v", err)
	}
}

// rfc5424RE parses what format writes.
var rfc5424RE = regexp.MustCompile(`^<(\d+)>1 (\S+) (\S+) auditlkm (\d+) (\S+) - (.*)$`)

func TestSyslogOverUnixDatagramSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultSyslogConfig()
	cfg.Address = sock // a bare path: datagram first
	cfg.Hostname = "h1"
	s, err := NewSyslog(cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFanout(newEncoder(t), []Output{{Name: "syslog", W: s}}, m)
	if err != nil {
		t.Fatal(err)
	}
	want := newEncoder(t).AppendAlert(nil, testAlert(detections.High))
	for i := 0; i < 3; i++ {
		if err := f.WriteAlert(testAlert(detections.High)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1<<17)
	_ = l.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < 3; i++ {
		n, err := l.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got := rfc5424RE.FindSubmatch(buf[:n])
		if got == nil {
			t.Fatalf("datagram %q is not RFC 5424 as written", buf[:n])
		}
		if string(got[1]) != "131" || string(got[3]) != "h1" || string(got[5]) != "alert" || string(got[4]) != strconv.Itoa(os.Getpid()) {
			t.Errorf("header fields %q", got[1:6])
		}
		if _, err := time.Parse(time.RFC3339Nano, string(got[2])); err != nil {
			t.Errorf("timestamp: %v", err)
		}
		if stripTime(got[6]) != stripTime(want) {
			t.Errorf("MSG\n got %s\nwant %s", got[6], want)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP auditlkm_output_written_total Lines delivered to the output: written whole (stdout, files), taken by the server (syslog: acknowledged by its TCP, read from a local stream socket, queued as a datagram).
# TYPE auditlkm_output_written_total counter
auditlkm_output_written_total{output="syslog"} 3
# HELP auditlkm_output_dropped_total Lines an output dropped: queue full, or undeliverable after retries and reconnects.
# TYPE auditlkm_output_dropped_total counter
auditlkm_output_dropped_total{output="syslog"} 0
# HELP auditlkm_output_reconnects_total Connections (re)established by a network output.
# TYPE auditlkm_output_reconnects_total counter
auditlkm_output_reconnects_total{output="syslog"} 1
`), "auditlkm_output_written_total", "auditlkm_output_dropped_total", "auditlkm_output_reconnects_total"); err != nil {
		t.Error(err)
	}
}

func TestSyslogOverUnixStreamSocketIsOneMessagePerLine(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		var lines []string
		sc := bufio.NewScanner(c)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		got <- lines
	}()
	cfg := DefaultSyslogConfig()
	cfg.Address = sock // a bare path: datagram refused (EPROTOTYPE), then stream
	s, err := NewSyslog(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Write(Message{Line: []byte(fmt.Sprintf(`{"n":%d}`, i)), Severity: SevInfo, MsgID: "event"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	lines := <-got
	if len(lines) != 2 || !strings.HasSuffix(lines[0], ` event - {"n":0}`) || !strings.HasSuffix(lines[1], ` event - {"n":1}`) {
		t.Errorf("received %q", lines)
	}
}

func TestSyslogDropsAndCountsWhenTheServerIsAway(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nobody listens there now
	reg := prometheus.NewRegistry()
	m, _ := NewMetrics(reg)
	cfg := DefaultSyslogConfig()
	cfg.Address = "tcp://" + addr
	cfg.QueueMessages = 2
	cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Hour
	cfg.DrainTimeout = 0
	s, err := NewSyslog(cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := NewFanout(newEncoder(t), []Output{{Name: "syslog", W: s}}, m)
	var dropped int
	for i := 0; i < 10; i++ {
		if err := f.WriteAlert(testAlert(detections.Low)); errors.Is(err, ErrDropped) {
			dropped++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	// The sender holds at most one line and the queue two.
	if dropped < 7 {
		t.Errorf("%d writes dropped, want at least 7", dropped)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(m.dropped.WithLabelValues("syslog")); n != 10 {
		t.Errorf("dropped_total = %v, want 10 (every line: none could be sent)", n)
	}
	if n := testutil.ToFloat64(m.written.WithLabelValues("syslog")); n != 0 {
		t.Errorf("written_total = %v, want 0", n)
	}
	if err := s.Write(Message{Line: []byte("{}")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
}

func TestFileReopenLosesNoLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.json")
	f, err := OpenFile(path, DefaultFileMode)
	if err != nil {
		t.Fatal(err)
	}
	const lines = 20000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < lines; i++ {
			if err := f.Write(Message{Line: []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("p", i%300)))}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	rotations := 0
	for ; rotations < 30; rotations++ {
		time.Sleep(time.Millisecond)
		if err := os.Rename(path, fmt.Sprintf("%s.%d", path, rotations)); err != nil {
			t.Fatal(err)
		}
		if err := f.Reopen(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, lines)
	files, _ := filepath.Glob(path + "*")
	if len(files) != rotations+1 {
		t.Errorf("%d files, want %d", len(files), rotations+1)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if l == "" {
				continue
			}
			var v struct{ N int }
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("%s: broken line %q: %v", name, l, err)
			}
			if seen[v.N] {
				t.Fatalf("line %d twice", v.N)
			}
			seen[v.N] = true
		}
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("line %d lost", i)
		}
	}
}

func TestFileReopenFailureKeepsTheOldFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(filepath.Join(dir, "a.json"), DefaultFileMode)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	moved := dir + ".old"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Reopen = %v, want ErrNotExist", err)
	}
	if err := f.Write(Message{Line: []byte(`{"still":"here"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(moved, "a.json"))
	if string(b) != "{\"still\":\"here\"}\n" {
		t.Errorf("old file holds %q", b)
	}
	if st, _ := os.Stat(filepath.Join(moved, "a.json")); st.Mode().Perm() != DefaultFileMode {
		t.Errorf("mode %v, want %v", st.Mode().Perm(), os.FileMode(DefaultFileMode))
	}
}

// stripTime drops the @timestamp of a line: an alert without an event is
// stamped when encoded.
func stripTime(line []byte) string {
	_, rest, _ := strings.Cut(string(line), `,"ecs"`)
	return rest
}

type failing struct{}

func (failing) Write(Message) error { return errors.New("disk on fire") }

func TestFanoutWritesEveryOutputDespiteAFailingOne(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, _ := NewMetrics(reg)
	var out strings.Builder
	st, _ := NewStream(&out)
	path := filepath.Join(t.TempDir(), "a.json")
	fl, err := OpenFile(path, DefaultFileMode)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFanout(newEncoder(t), []Output{{"broken", failing{}}, {"stdout", st}, {"file", fl}}, m)
	if err != nil {
		t.Fatal(err)
	}
	err = f.WriteAlert(testAlert(detections.Critical))
	if err == nil || err.Error() != "output broken: disk on fire" {
		t.Errorf("WriteAlert = %v", err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != out.String() || !json.Valid(b) || !strings.HasSuffix(out.String(), "}\n") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("file %q and stdout %q differ or are not one JSON line", b, out.String())
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP auditlkm_output_errors_total Lines an output failed to write, including drops.
# TYPE auditlkm_output_errors_total counter
auditlkm_output_errors_total{output="broken"} 1
auditlkm_output_errors_total{output="file"} 0
auditlkm_output_errors_total{output="stdout"} 0
# HELP auditlkm_output_written_total Lines delivered to the output: written whole (stdout, files), taken by the server (syslog: acknowledged by its TCP, read from a local stream socket, queued as a datagram).
# TYPE auditlkm_output_written_total counter
auditlkm_output_written_total{output="broken"} 0
auditlkm_output_written_total{output="file"} 1
auditlkm_output_written_total{output="stdout"} 1
`), "auditlkm_output_errors_total", "auditlkm_output_written_total"); err != nil {
		t.Error(err)
	}
	if _, err := NewFanout(newEncoder(t), []Output{{"a", st}, {"a", st}}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("repeated names: %v", err)
	}
}

func TestAlertSeverityMapsToSyslog(t *testing.T) {
	for sev, want := range map[detections.Severity]Severity{detections.Critical: SevCritical, detections.High: SevError, detections.Medium: SevWarning, detections.Low: SevNotice, 0: SevInfo} {
		if got := AlertSeverity(testAlert(sev)); got != want {
			t.Errorf("AlertSeverity(%v) = %d, want %d", sev, got, want)
		}
	}
	a := testAlert(detections.Low)
	a.Severity = detections.Critical // the alert's own severity wins
	if got := AlertSeverity(a); got != SevCritical {
		t.Errorf("alert severity override: %d", got)
	}
}

func TestStreamHoldsLinesUntilFlush(t *testing.T) {
	var out strings.Builder
	st, _ := NewStream(&out)
	if err := st.Write(Message{Line: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Fatalf("written before Flush: %q", out.String())
	}
	if err := st.Flush(); err != nil || out.String() != "{\"a\":1}\n" {
		t.Fatalf("after Flush: %q, %v", out.String(), err)
	}
	big := bytes.Repeat([]byte("x"), flushBytes)
	if err := st.Write(Message{Line: big}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != len("{\"a\":1}\n")+len(big)+1 {
		t.Errorf("a full buffer was not written at once (%d bytes out)", out.Len())
	}
}
