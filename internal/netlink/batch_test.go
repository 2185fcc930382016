package netlink

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// fakeBatches replays scripted receive calls through the batch seam: each
// element of calls is what one recvmmsg returns. When the script is
// exhausted it returns end (default: the socket closed).
type fakeBatches struct {
	calls [][]step
	end   error
}

func (f *fakeBatches) recv([]byte) (int, bool, error) {
	return 0, false, errors.New("fake: recv called on a batch receiver")
}

func (f *fakeBatches) setDeadline(time.Time) error { return nil }

func (f *fakeBatches) recvBatch(b *batch) (int, error) {
	if len(f.calls) == 0 {
		if f.end != nil {
			return 0, f.end
		}
		return 0, ErrClosed
	}
	call := f.calls[0]
	f.calls = f.calls[1:]
	for i, s := range call {
		m := &b.msgs[i]
		m.n = copy(m.buf, s.msg)
		m.trunc, m.notKernel = s.trunc, false
	}
	return len(call), nil
}

func records(from, n int) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = record(from + i)
	}
	return out
}

// queuedBatches empties q and returns the size of each batch it held.
func queuedBatches(q *recordQueue) []int {
	var sizes []int
	for {
		b, ok := q.tryTake()
		if !ok {
			return sizes
		}
		sizes = append(sizes, len(b))
	}
}

func TestReaderHandsOverWholeReceiveBatches(t *testing.T) {
	tests := []struct {
		name        string
		calls       [][]step
		queue       int
		wantBatches []int
		wantDropped float64
		wantLingers int
	}{
		{
			name:        "the records of one receive reach the queue as one batch",
			calls:       [][]step{records(1, 3), records(4, 1)},
			queue:       16,
			wantBatches: []int{3, 1},
			// Both receives found the socket drained: each is followed by
			// a linger before the next receive (the last one ends).
			wantLingers: 2,
		},
		{
			name:        "a batch that does not fit is dropped whole and every record counted",
			calls:       [][]step{records(1, 3), records(4, 2), records(6, 1)},
			queue:       4,
			wantBatches: []int{3, 1},
			wantDropped: 2,
			wantLingers: 3,
		},
		{
			name:        "a full receive is read on at once, without a linger",
			calls:       [][]step{records(1, lingerBelow), records(100, 1)},
			queue:       1024,
			wantBatches: []int{lingerBelow, 1},
			wantLingers: 1, // after the second only
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			q := newRecordQueue(tt.queue)
			f := &fakeBatches{calls: tt.calls}
			rd := &reader{r: f, queue: q, m: m, log: testLogger(t),
				closing:    func() bool { return true },
				releaseSeq: func() uint32 { return 0 },
				onRelease:  func(error) {},
			}
			rd.batch = newBatch(f, batchMessages, 256)
			rd.batch.linger = time.Millisecond
			var lingers []time.Duration
			rd.batch.sleep = func(d time.Duration) { lingers = append(lingers, d) }
			if err := rd.run(); err != nil {
				t.Fatalf("run() = %v", err)
			}
			got := queuedBatches(q)
			if len(got) != len(tt.wantBatches) {
				t.Fatalf("queued batches %v, want %v", got, tt.wantBatches)
			}
			for i := range got {
				if got[i] != tt.wantBatches[i] {
					t.Fatalf("queued batches %v, want %v", got, tt.wantBatches)
				}
			}
			if d := metricValue(t, m, "dropped"); d != tt.wantDropped {
				t.Errorf("dropped %v records, want %v", d, tt.wantDropped)
			}
			if len(lingers) != tt.wantLingers {
				t.Errorf("lingered %d times, want %d", len(lingers), tt.wantLingers)
			}
			for _, d := range lingers {
				if d != time.Millisecond {
					t.Errorf("lingered %s, want the configured 1ms", d)
				}
			}
		})
	}
}

func TestRecordQueueBoundsRecordsNotBatches(t *testing.T) {
	q := newRecordQueue(5)
	batch := func(n int) []auditevent.Record { return make([]auditevent.Record, n) }
	if !q.offer(batch(3)) || !q.offer(batch(2)) {
		t.Fatal("batches within the record limit refused")
	}
	if q.offer(batch(1)) {
		t.Fatal("a batch past the record limit accepted")
	}
	if q.len() != 5 {
		t.Fatalf("len %d, want 5", q.len())
	}
	if b, ok := q.tryTake(); !ok || len(b) != 3 {
		t.Fatalf("tryTake = %d records, %v; want the first batch of 3", len(b), ok)
	}
	if !q.offer(batch(3)) {
		t.Fatal("a batch that fits after a take refused")
	}
	q.close()
	ctx := context.Background()
	for _, want := range []int{2, 3} {
		b, ok, err := q.take(ctx)
		if err != nil || !ok || len(b) != want {
			t.Fatalf("take = %d records, %v, %v; want %d", len(b), ok, err, want)
		}
	}
	if _, ok, err := q.take(ctx); ok || err != nil {
		t.Fatalf("take on a closed, empty queue = %v, %v; want not ok", ok, err)
	}
	if q.len() != 0 {
		t.Fatalf("len %d after everything was taken", q.len())
	}
}

func TestNextBatchThenNextShareTheQueue(t *testing.T) {
	cfg := DefaultConfig()
	c := newClient(cfg, testLogger(t), nil, nil, ModeMulticast)
	c.closing.Store(true)
	c.startReader(&fakeBatches{calls: [][]step{records(1, 3), records(4, 2)}}, make([]byte, 256))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec, err := c.Next(ctx)
	if err != nil || rec.Serial != 1 {
		t.Fatalf("Next = serial %d, %v; want 1", rec.Serial, err)
	}
	var serials []uint32
	// The first batch is appended to a buffer of the caller's, the
	// others are handed on as they are.
	buf := make([]auditevent.Record, 0, 8)
	for {
		b, err := c.NextBatch(ctx, buf)
		buf = nil
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("NextBatch: %v", err)
		}
		for _, r := range b {
			serials = append(serials, r.Serial)
		}
	}
	want := []uint32{2, 3, 4, 5}
	if len(serials) != len(want) {
		t.Fatalf("NextBatch serials %v, want %v (the rest of Next's batch first)", serials, want)
	}
	for i := range want {
		if serials[i] != want[i] {
			t.Fatalf("NextBatch serials %v, want %v (the rest of Next's batch first)", serials, want)
		}
	}
}
