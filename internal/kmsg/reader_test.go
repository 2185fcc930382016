package kmsg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

// TestReaderRealDevice writes lines into the real /dev/kmsg (as root) and
// reads them back through a Reader started at the end of the buffer: the
// line arrives parsed, with the user facility the kernel forces on lines
// written from user space, even when the writer asks for facility 0.
func TestReaderRealDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("writing /dev/kmsg needs root")
	}
	if !Readable("/dev/kmsg") {
		t.Skip("/dev/kmsg is not readable")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	token := "auditlkm-kmsg-test-" + hex.EncodeToString(b)

	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Backlog = false
	out, done, cancel := startReader(t, cfg, m, 16)

	// "<0>" asks for kern.emerg; the kernel turns facility 0 into LOG_USER.
	msg := "<0>" + token + ": loading out-of-tree module taints kernel.\twith a tab"
	if err := os.WriteFile("/dev/kmsg", []byte(msg+"\n"), 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	var got *Line
	for got == nil {
		select {
		case l := <-out:
			if len(l.Message) >= len(token) && l.Message[:len(token)] == token {
				got = l
			}
		case <-deadline:
			t.Fatal("the injected line did not come back")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, open := <-out; open {
		// drain: Run closes out when it returns
		for range out {
		}
	}
	if got.Facility != 1 || got.Level != 0 {
		t.Errorf("facility %d level %d, want 1 (user) 0", got.Facility, got.Level)
	}
	if want := token + ": loading out-of-tree module taints kernel.\twith a tab"; got.Message != want {
		t.Errorf("message %q, want %q", got.Message, want)
	}
	if d := time.Since(got.Time); d < -2*time.Second || d > 10*time.Second {
		t.Errorf("wall time %s is %s away from now", got.Time, d)
	}
	if n := testutil.ToFloat64(m.lines); n < 1 {
		t.Errorf("lines_total = %v", n)
	}
}

// startReader opens the kernel log with cfg and runs a Reader on it until
// the returned cancel; Run's result comes on done, its lines on out
// (buffered n).
func startReader(t *testing.T, cfg Config, m *Metrics, n int) (out chan *Line, done chan error, cancel context.CancelFunc) {
	t.Helper()
	r, err := Open(cfg, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, done = make(chan *Line, n), make(chan error, 1)
	go func() { done <- r.Run(ctx, out) }()
	return out, done, cancel
}

// TestReaderBacklog reads the records already in the buffer, kernel
// messages among them.
func TestReaderBacklog(t *testing.T) {
	if !Readable("/dev/kmsg") {
		t.Skip("/dev/kmsg is not readable")
	}
	out, done, cancel := startReader(t, DefaultConfig(), nil, 0)
	// The ring buffer's oldest records may be lines user space wrote
	// (other tests write some): look through the backlog, bounded, for one
	// the kernel wrote.
	var kernel *Line
	deadline := time.After(5 * time.Second)
	for seen := 0; kernel == nil && seen < maxBacklogScan; seen++ {
		select {
		case l := <-out:
			if l.Facility == 0 && l.Message != "" {
				kernel = l
			}
		case <-deadline:
			seen = maxBacklogScan
		}
	}
	cancel()
	for range out {
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if kernel == nil {
		t.Errorf("no kernel message in the first %d backlog records", maxBacklogScan)
	}
}

// maxBacklogScan bounds the backlog records TestReaderBacklog looks at.
const maxBacklogScan = 100000

func TestWallTime(t *testing.T) {
	now := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	cases := []struct {
		name        string
		since, mono time.Duration
		want        time.Time
	}{
		{"a line logged now", 3 * time.Hour, 3 * time.Hour, now},
		{"a line at boot", 0, 3 * time.Hour, now.Add(-3 * time.Hour)},
		{"a line 95.001234 s after boot, 100 s of uptime", 95001234 * time.Microsecond, 100 * time.Second, now.Add(-4998766 * time.Microsecond)},
	}
	for _, c := range cases {
		if got := wallTime(c.since, now, c.mono); !got.Equal(c.want) {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	// The real clocks: the kernel's "now" is now.
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(WallTime(time.Duration(ts.Nano()))); d < 0 || d > time.Second {
		t.Errorf("WallTime(monotonic now) is %s from now", d)
	}
}

// TestOpenRefusesAFileThePollerCannotWaitFor: Run waits in the Go
// runtime's poller, which is what lets its context end a wait; a regular
// file cannot be waited for there (nor read for ever), so Open says so.
func TestOpenRefusesAFileThePollerCannotWaitFor(t *testing.T) {
	p := t.TempDir() + "/kmsg"
	if err := os.WriteFile(p, []byte("6,1,2,-;x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Path = p
	if r, err := Open(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "poller") {
		t.Fatalf("Open(%s) = %v, %v; want an error naming the poller", p, r, err)
	}
}

// TestRunEndsWithItsContextWhileWaiting: a reader waiting for the next
// record (none comes: it starts at the end of the buffer) returns as soon
// as its context ends.
func TestRunEndsWithItsContextWhileWaiting(t *testing.T) {
	if !Readable("/dev/kmsg") {
		t.Skip("/dev/kmsg is not readable")
	}
	cfg := DefaultConfig()
	cfg.Backlog = false
	_, done, cancel := startReader(t, cfg, nil, 64)
	time.Sleep(50 * time.Millisecond) // in the poller by now, or reading a line some other process logged
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of its context's end")
	}
}
