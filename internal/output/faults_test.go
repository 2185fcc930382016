package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// checkWholeLines fails unless every line of data is a JSON object ended
// by a newline, and returns how many there are.
func checkWholeLines(t *testing.T, data []byte) int {
	t.Helper()
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("the file ends mid-line: ...%q", data[max(0, len(data)-60):])
	}
	n := 0
	for _, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal(l, &v); err != nil {
			t.Errorf("line %d is not whole JSON (%v): %.80q", n+1, err, l)
		}
		n++
	}
	return n
}

// TestFileOnAFullDiskLeavesNoHalfLineAndCountsEveryLine fills a 64 KiB
// tmpfs with lines of about 1.5 KiB (flushes of several lines each, so
// the write that meets the full disk is cut mid-line): every line the
// file holds is whole, and the lines written plus the lines lost are the
// lines given, the lost ones counted in auditlkm_output_lost_total.
func TestFileOnAFullDiskLeavesNoHalfLineAndCountsEveryLine(t *testing.T) {
	dir := kerneltest.Tmpfs(t, "64k")
	path := filepath.Join(dir, "alerts.json")
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path, DefaultFileMode)
	if err != nil {
		t.Fatal(err)
	}
	fan, err := NewFanout(newEncoder(t), []Output{{Name: "file", W: f}}, m)
	if err != nil {
		t.Fatal(err)
	}
	const total = 200
	pad := strings.Repeat("p", 1500)
	var failures int
	for i := 0; i < total; i++ {
		if err := fan.WriteLine([]byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, pad)), "alert", SevInfo); err != nil {
			failures++
		}
		if i%7 == 6 {
			if err := fan.Flush(); err != nil {
				failures++
			}
		}
	}
	if err := fan.Close(); err == nil && failures == 0 {
		t.Error("no write failed on a full 64 KiB tmpfs")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := checkWholeLines(t, data)
	lost := fan.Lost()["file"]
	if uint64(lines) != f.Written() || lines+int(lost) != total {
		t.Errorf("file holds %d lines, Written %d, lost %d: want Written = lines and lines + lost = %d", lines, f.Written(), lost, total)
	}
	if lost == 0 {
		t.Error("nothing counted lost")
	}
	if got := testutil.ToFloat64(m.lost.WithLabelValues("file")); got != float64(lost) {
		t.Errorf("auditlkm_output_lost_total = %v, want %d", got, lost)
	}
	if got := testutil.ToFloat64(m.written.WithLabelValues("file")); got != float64(lines) {
		t.Errorf("auditlkm_output_written_total = %v, want %d", got, lines)
	}
}

// TestFileRepairsATornTailOnOpen: a file whose last line was cut (by a
// crash, or an older version on a full disk) gets a newline before the
// next alert, so that alert is a line of its own.
func TestFileRepairsATornTailOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.json")
	if err := os.WriteFile(path, []byte("{\"whole\":1}\n{\"cut\":"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path, DefaultFileMode)
	if err != nil {
		t.Fatal(err)
	}
	if !f.RepairedTail() {
		t.Error("RepairedTail = false for a file ending mid-line")
	}
	if err := f.Write(Message{Line: []byte(`{"next":2}`)}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if want := "{\"whole\":1}\n{\"cut\":\n{\"next\":2}\n"; string(data) != want {
		t.Errorf("file = %q, want %q", data, want)
	}
	// A whole file is left alone.
	f, err = OpenFile(path, DefaultFileMode)
	if err != nil {
		t.Fatal(err)
	}
	if f.RepairedTail() {
		t.Error("RepairedTail = true for a file ending with a newline")
	}
	_ = f.Close()
}

// TestStreamShortWriteKeepsLinesApart: a pipe that takes half a batch
// leaves a fragment; the next batch starts on a new line and the lost
// lines are counted.
func TestStreamShortWriteKeepsLinesApart(t *testing.T) {
	w := &shortWriter{limit: 14}
	s, _ := NewStream(w)
	fan, _ := NewFanout(newEncoder(t), []Output{{Name: "stdout", W: s}}, nil)
	_ = fan.WriteLine([]byte(`{"a":1}`), "alert", SevInfo)
	_ = fan.WriteLine([]byte(`{"b":2}`), "alert", SevInfo)
	if err := fan.Flush(); err == nil {
		t.Error("short write not reported")
	}
	w.limit = 1 << 20
	_ = fan.WriteLine([]byte(`{"c":3}`), "alert", SevInfo)
	if err := fan.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "{\"a\":1}\n{\"b\":2\n{\"c\":3}\n"; w.buf.String() != want {
		t.Errorf("stream = %q, want %q", w.buf.String(), want)
	}
	if s.Written() != 2 || fan.Lost()["stdout"] != 1 {
		t.Errorf("written %d lost %v, want 2 and 1", s.Written(), fan.Lost())
	}
}

type shortWriter struct {
	buf   bytes.Buffer
	limit int
}

func (w *shortWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n, _ := w.buf.Write(p[:w.limit])
		w.limit = 0
		return n, io.ErrShortWrite
	}
	return w.buf.Write(p)
}

// syncBuffer is a bytes.Buffer safe for the sender goroutine's logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// syslogTo returns a Syslog sending to the TCP server l with short
// timeouts.
func syslogTo(t *testing.T, l net.Listener, m *Metrics, log *slog.Logger, drain time.Duration) *Syslog {
	t.Helper()
	cfg := DefaultSyslogConfig()
	cfg.Address = "tcp://" + l.Addr().String()
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	cfg.WriteTimeout = 300 * time.Millisecond
	cfg.DrainTimeout = drain
	s, err := NewSyslog(cfg, m, log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSyslogServerClosingWithoutReadingLosesCountedLines: a server that
// accepts and closes at once takes nothing; no line may be counted as
// written, every one as lost.
func TestSyslogServerClosingWithoutReadingLosesCountedLines(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	m, _ := NewMetrics(nil)
	s := syslogTo(t, l, m, nil, 2*time.Second)
	fan, _ := NewFanout(newEncoder(t), []Output{{Name: "syslog", W: s}}, m)
	const total = 20
	for i := 0; i < total; i++ {
		_ = fan.WriteLine([]byte(fmt.Sprintf(`{"n":%d}`, i)), "alert", SevInfo)
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := fan.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %v", d)
	}
	if w := testutil.ToFloat64(m.written.WithLabelValues("syslog")); w != 0 {
		t.Errorf("written_total = %v for a server that read nothing", w)
	}
	if lost := fan.Lost()["syslog"]; lost != total {
		t.Errorf("lost %d, want %d", lost, total)
	}
}

// TestSyslogSilentServerCountsOnlyWhatItTook: a server that never reads
// fills its receive buffer and then takes nothing; after Close the lines
// counted written are at most the lines it can then read, and written plus
// lost is every line.
func TestSyslogSilentServerCountsOnlyWhatItTook(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var conns []net.Conn
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	m, _ := NewMetrics(nil)
	var logs syncBuffer
	s := syslogTo(t, l, m, slog.New(slog.NewTextHandler(&logs, nil)), 500*time.Millisecond)
	fan, _ := NewFanout(newEncoder(t), []Output{{Name: "syslog", W: s}}, m)
	const total = 1000
	line := `{"pad":"` + strings.Repeat("x", 8000) + `"}`
	for i := 0; i < total; i++ {
		_ = fan.WriteLine([]byte(line), "alert", SevInfo)
	}
	if err := fan.Close(); err != nil {
		t.Fatal(err)
	}
	written := testutil.ToFloat64(m.written.WithLabelValues("syslog"))
	lost := fan.Lost()["syslog"]
	if int(written)+int(lost) != total || lost == 0 {
		t.Errorf("written %v + lost %d != %d (or nothing lost)", written, lost, total)
	}
	if !strings.Contains(logs.String(), "dropped at shutdown") {
		t.Errorf("the lines dropped at shutdown are not logged:\n%s", logs.String())
	}
	// What the server's kernel holds is what it took.
	received := 0
	l.Close()
	<-accepting
	mu.Lock()
	defer mu.Unlock()
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		r := bufio.NewReader(c)
		for {
			var n int
			if _, err := fmt.Fscanf(r, "%d ", &n); err != nil {
				break
			}
			if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
				break
			}
			received++
		}
		c.Close()
	}
	if int(written) > received {
		t.Errorf("written_total %v but the server holds %d whole messages", written, received)
	}
}
