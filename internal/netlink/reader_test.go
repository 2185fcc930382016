package netlink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/elastic/go-libaudit/v2/auparse"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"
)

// step is one scripted result of recv.
type step struct {
	msg   []byte
	trunc bool
	err   error
}

// fakeReceiver replays a script through the reader's seam. When the script
// is exhausted it returns end (default: the socket closed).
type fakeReceiver struct {
	steps     []step
	end       error
	deadlines []time.Time
}

func (f *fakeReceiver) recv(buf []byte) (int, bool, error) {
	if len(f.steps) == 0 {
		if f.end != nil {
			return 0, false, f.end
		}
		return 0, false, fmt.Errorf("fake: %w", ErrClosed)
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	if s.err != nil {
		return 0, false, s.err
	}
	copy(buf, s.msg)
	return len(s.msg), s.trunc || len(s.msg) > len(buf), nil
}

func (f *fakeReceiver) setDeadline(t time.Time) error {
	f.deadlines = append(f.deadlines, t)
	return nil
}

// nlmsg builds one netlink message as the kernel sends it.
func nlmsg(typ uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, nlmsgHdrLen+len(payload))
	// Unicast audit messages carry a non-standard length; the reader must
	// not care, so write a wrong one on purpose.
	binary.NativeEndian.PutUint32(b[0:4], 3)
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	copy(b[nlmsgHdrLen:], payload)
	return b
}

func record(serial int) step {
	return step{msg: nlmsg(uint16(auparse.AUDIT_SYSCALL), 0,
		fmt.Appendf(nil, "audit(1700000000.123:%d): arch=c000003e syscall=313 success=no exit=-38\x00", serial))}
}

func ack(seq uint32, errno syscall.Errno) step {
	p := make([]byte, 4+nlmsgHdrLen)
	binary.NativeEndian.PutUint32(p[0:4], uint32(-int32(errno)))
	return step{msg: nlmsg(unix.NLMSG_ERROR, seq, p)}
}

func TestReaderHandlesErrnosAndMessages(t *testing.T) {
	tests := []struct {
		name        string
		steps       []step
		end         error
		queue       int
		wantRecords int
		wantErr     error
		want        map[string]float64 // metric (with labels) -> value
	}{
		{
			name:        "ENOBUFS is counted and the reader keeps reading",
			steps:       []step{{err: unix.ENOBUFS}, record(1), {err: unix.ENOBUFS}, record(2)},
			wantRecords: 2,
			want:        map[string]float64{"errors/ENOBUFS": 2, "received/SYSCALL": 2},
		},
		{
			name:        "EINTR and EAGAIN are retried",
			steps:       []step{{err: unix.EINTR}, {err: unix.EAGAIN}, record(1)},
			wantRecords: 1,
			want:        map[string]float64{"errors/EINTR": 1, "errors/EAGAIN": 1},
		},
		{
			name:        "a truncated message is counted and dropped",
			steps:       []step{{msg: record(1).msg, trunc: true}, record(2)},
			wantRecords: 1,
			want:        map[string]float64{"truncated": 1, "received/SYSCALL": 1},
		},
		{
			name:        "an unexpected errno ends the reader",
			steps:       []step{record(1), {err: unix.EBADF}, record(2)},
			wantRecords: 1,
			wantErr:     unix.EBADF,
			want:        map[string]float64{"errors/other": 1},
		},
		{
			name: "ACKs, DONE and control replies are ignored",
			steps: []step{ack(5, 0), {msg: nlmsg(unix.NLMSG_DONE, 5, nil)}, {msg: nlmsg(1000, 5, make([]byte, 44))},
				{msg: nlmsg(3000, 0, []byte("audit(1.000:1): x=1"))}, record(1)},
			wantRecords: 1,
			want:        map[string]float64{"received/SYSCALL": 1},
		},
		{
			name:        "AUDIT_REPLACE probes are counted and not queued",
			steps:       []step{{msg: nlmsg(uint16(auparse.AUDIT_REPLACE), 0, []byte("audit(1.000:9): pid=42"))}, record(1)},
			wantRecords: 1,
			want:        map[string]float64{"replace": 1},
		},
		{
			name: "unparsable messages are counted by reason",
			steps: []step{{msg: []byte{1, 2, 3}}, {msg: nlmsg(uint16(auparse.AUDIT_SYSCALL), 0, []byte("no header here"))},
				{msg: nlmsg(uint16(auparse.AUDIT_PATH), 0, []byte("audit(1.000:1): "))}},
			wantRecords: 1,
			want:        map[string]float64{"parse/short": 1, "parse/no_header": 1, "received/PATH": 1},
		},
		{
			name:        "messages from user-space ports are dropped",
			steps:       []step{{err: errNotKernel}, record(1)},
			wantRecords: 1,
			want:        map[string]float64{"parse/not_from_kernel": 1},
		},
		{
			name:        "a full queue drops and counts instead of blocking",
			steps:       []step{record(1), record(2), record(3)},
			queue:       1,
			wantRecords: 1,
			want:        map[string]float64{"dropped": 2, "received/SYSCALL": 3, "queue": 1},
		},
		{
			name:        "endless transient errors end the reader",
			end:         unix.EINTR,
			wantRecords: 0,
			wantErr:     unix.EINTR,
			want:        map[string]float64{"errors/EINTR": maxTransientErrors},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			if tt.queue == 0 {
				tt.queue = 16
			}
			queue := newRecordQueue(tt.queue)
			rd := &reader{
				r: &fakeReceiver{steps: tt.steps, end: tt.end}, buf: make([]byte, 256),
				queue: queue, m: m, log: testLogger(t),
				closing:    func() bool { return true },
				releaseSeq: func() uint32 { return 0 },
				onRelease:  func(error) { t.Error("release ACK reported without a release") },
			}
			err = rd.run()
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("run() = %v, want %v", err, tt.wantErr)
			}
			if queue.len() != tt.wantRecords {
				t.Errorf("queued %d records, want %d", queue.len(), tt.wantRecords)
			}
			for key, want := range tt.want {
				if got := metricValue(t, m, key); got != want {
					t.Errorf("%s = %v, want %v", key, got, want)
				}
			}
		})
	}
}

func TestReaderDrainsAfterReleaseACK(t *testing.T) {
	const seq = 7
	var released []error
	f := &fakeReceiver{
		steps: []step{record(1), ack(seq-1, 0), ack(seq, 0), record(2), record(3)},
		end:   fmt.Errorf("fake: %w", os.ErrDeadlineExceeded),
	}
	queue := newRecordQueue(8)
	rd := &reader{
		r: f, buf: make([]byte, 256), queue: queue, log: testLogger(t),
		closing:    func() bool { return true },
		releaseSeq: func() uint32 { return seq },
		onRelease:  func(err error) { released = append(released, err) },
	}
	start := time.Now()
	if err := rd.run(); err != nil {
		t.Fatalf("run() = %v, want nil after the drain", err)
	}
	if len(released) != 1 || released[0] != nil {
		t.Fatalf("release ACKs reported = %v, want one nil", released)
	}
	if queue.len() != 3 {
		t.Errorf("queued %d records, want 3 (records after the ACK are drained, not lost)", queue.len())
	}
	if len(f.deadlines) == 0 {
		t.Fatal("the drain set no read deadline: it could block forever")
	}
	for _, d := range f.deadlines {
		if d.Before(start) || d.After(start.Add(drainMax+time.Second)) {
			t.Errorf("drain deadline %v outside the drainMax bound", d)
		}
	}
}

func TestReleaseACKCarriesTheKernelErrno(t *testing.T) {
	var released []error
	rd := &reader{
		r: &fakeReceiver{steps: []step{ack(3, unix.EACCES)}}, buf: make([]byte, 256),
		queue: newRecordQueue(1), log: testLogger(t),
		closing:    func() bool { return true },
		releaseSeq: func() uint32 { return 3 },
		onRelease:  func(err error) { released = append(released, err) },
	}
	_ = rd.run()
	if len(released) != 1 || !errors.Is(released[0], unix.EACCES) {
		t.Fatalf("release ACKs reported = %v, want EACCES", released)
	}
}

func TestNextReturnsQueuedRecordsThenTheEnd(t *testing.T) {
	tests := []struct {
		name    string
		end     error
		wantErr error
	}{
		{"a closed socket ends with io.EOF", nil, io.EOF},
		{"a failed socket ends with its error", unix.EIO, unix.EIO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.QueueRecords = 4
			c := newClient(cfg, testLogger(t), nil, nil, ModeMulticast)
			c.closing.Store(true)
			c.startReader(&fakeReceiver{steps: []step{record(1), record(2)}, end: tt.end}, make([]byte, 256))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for i := 1; i <= 2; i++ {
				rec, err := c.Next(ctx)
				if err != nil {
					t.Fatalf("Next #%d: %v", i, err)
				}
				if rec.Serial != uint32(i) {
					t.Errorf("Next #%d serial %d", i, rec.Serial)
				}
			}
			if _, err := c.Next(ctx); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Next at the end = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestNextHonoursTheContext(t *testing.T) {
	c := newClient(DefaultConfig(), testLogger(t), nil, nil, ModeMulticast)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an empty queue = %v, want DeadlineExceeded", err)
	}
}

func TestLogLimiterLetsOneLinePerInterval(t *testing.T) {
	var l logLimiter
	t0 := time.Unix(1000, 0)
	if ok, n := l.allow(t0); !ok || n != 0 {
		t.Fatalf("first = %v %d", ok, n)
	}
	for i := range 3 {
		if ok, _ := l.allow(t0.Add(time.Duration(i) * time.Second)); ok {
			t.Fatalf("line %d within the interval was allowed", i)
		}
	}
	if ok, n := l.allow(t0.Add(logEvery)); !ok || n != 3 {
		t.Fatalf("after the interval = %v %d, want true 3", ok, n)
	}
}

// metricValue reads one of m's series by a short key.
func metricValue(t *testing.T, m *Metrics, key string) float64 {
	t.Helper()
	var kind, label string
	for i := range key {
		if key[i] == '/' {
			kind, label = key[:i], key[i+1:]
			break
		}
	}
	if kind == "" {
		kind = key
	}
	switch kind {
	case "received":
		return testutil.ToFloat64(m.received.WithLabelValues(label))
	case "errors":
		return testutil.ToFloat64(m.receiveErrors.WithLabelValues(label))
	case "parse":
		return testutil.ToFloat64(m.parseErrors.WithLabelValues(label))
	case "truncated":
		return testutil.ToFloat64(m.truncated)
	case "dropped":
		if label != "" {
			return testutil.ToFloat64(m.queueDropped.WithLabelValues(label))
		}
		ch := make(chan prometheus.Metric, 64)
		m.queueDropped.Collect(ch)
		close(ch)
		sum := 0.0
		for c := range ch {
			var pb dto.Metric
			if err := c.Write(&pb); err != nil {
				t.Fatal(err)
			}
			sum += pb.GetCounter().GetValue()
		}
		return sum
	case "replace":
		return testutil.ToFloat64(m.replaceProbes)
	case "queue":
		return testutil.ToFloat64(m.queueLength)
	}
	t.Fatalf("unknown metric key %q", key)
	return 0
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func auparseType(t uint16) auparse.AuditMessageType { return auparse.AuditMessageType(t) }

// TestHooksSeeEveryBatchTheQueueDrops: the hooks (Config.Hooks, then
// AddHook) see every record received, in order, before the queue, so the
// ones a full queue drops too; the consumer gets what the queue held.
func TestHooksSeeEveryBatchTheQueueDrops(t *testing.T) {
	var first, second []uint32
	cfg := DefaultConfig()
	cfg.QueueRecords = 2
	cfg.Hooks = []BatchHook{func(b []auditevent.Record) error {
		for i := range b {
			first = append(first, b[i].Serial)
		}
		return nil
	}}
	c := newClient(cfg, testLogger(t), nil, nil, ModeMulticast)
	c.AddHook(func(b []auditevent.Record) error {
		for i := range b {
			second = append(second, b[i].Serial)
		}
		return nil
	})
	c.closing.Store(true)
	c.startReader(&fakeReceiver{steps: records(1, 5)}, make([]byte, 256))
	<-c.done
	want := "[1 2 3 4 5]"
	if fmt.Sprint(first) != want || fmt.Sprint(second) != want {
		t.Errorf("hooks saw %v and %v, want %s each", first, second, want)
	}
	var got []uint32
	for b := range c.Batches() {
		c.Took(b)
		for i := range b {
			got = append(got, b[i].Serial)
		}
	}
	if fmt.Sprint(got) != "[1 2]" || c.Err() != nil {
		t.Errorf("consumer got %v (err %v), want [1 2] and a clean end: the queue holds 2", got, c.Err())
	}
}

// TestHookErrorEndsTheReader: a hook's error ends the reader with it; the
// batch it failed on is still queued, nothing after it is read.
func TestHookErrorEndsTheReader(t *testing.T) {
	diskFull := errors.New("disk full")
	var seen []uint32
	cfg := DefaultConfig()
	cfg.Hooks = []BatchHook{func(b []auditevent.Record) error {
		seen = append(seen, b[0].Serial)
		if b[0].Serial == 2 {
			return diskFull
		}
		return nil
	}}
	c := newClient(cfg, testLogger(t), nil, nil, ModeMulticast)
	c.startReader(&fakeReceiver{steps: records(1, 4)}, make([]byte, 256))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 1; i <= 2; i++ {
		if rec, err := c.Next(ctx); err != nil || rec.Serial != uint32(i) {
			t.Fatalf("Next #%d = serial %d, %v", i, rec.Serial, err)
		}
	}
	if _, err := c.Next(ctx); !errors.Is(err, diskFull) {
		t.Fatalf("Next after the failed hook = %v, want its error", err)
	}
	if fmt.Sprint(seen) != "[1 2]" {
		t.Errorf("hook saw %v, want [1 2]: the reader must stop at the error", seen)
	}
}
