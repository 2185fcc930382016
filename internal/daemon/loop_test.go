package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/logfile"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// collect is a Sink that keeps the alerts' serials.
type collect struct {
	mu      sync.Mutex
	serials []uint32
}

func (c *collect) WriteAlert(a *detections.Alert) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.serials = append(c.serials, a.Event.Serial)
	return nil
}

func (c *collect) got() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.serials)
}

// finit is one refused finit_module event (an alert of the module load
// detection) with its EOE, as audit.log lines; each of another process, so
// that the alert-storm aggregation keeps out of the way.
func finit(serial int) string {
	stamp := fmt.Sprintf("1763790000.%03d:%d", serial%1000, serial)
	return fmt.Sprintf(`type=SYSCALL msg=audit(%s): arch=c000003e syscall=313 success=no exit=-38 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=%d auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="loadgen" exe="/usr/local/bin/loadgen" key=(null)`, stamp, 1000+serial) +
		"\n" + fmt.Sprintf("type=EOE msg=audit(%s): \n", stamp)
}

func newProcessor(t *testing.T, sink pipeline.Sink) *pipeline.Processor {
	t.Helper()
	cat, err := detections.NewCatalog(detections.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.NewProcessor(reassemble.DefaultConfig(), cat, nil, sink, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pipeSource is a logfile.Reader on the read end of a pipe: a source that
// waits for input like stdin does.
func pipeSource(t *testing.T) (*logfile.Reader, *io.PipeWriter) {
	t.Helper()
	pr, pw := io.Pipe()
	src, err := logfile.Open(logfile.DefaultConfig(), []string{"-"}, pr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close(); _ = pw.Close() })
	return src, pw
}

func TestPluginProcessesTheWholeStreamInOrder(t *testing.T) {
	var in strings.Builder
	for s := 1; s <= 600; s++ { // more than one batch
		in.WriteString(finit(s))
	}
	src, err := logfile.Open(logfile.DefaultConfig(), []string{"-"}, strings.NewReader(in.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &collect{}
	if err := Plugin(context.Background(), src, newProcessor(t, sink), PluginConfig{}); err != nil {
		t.Fatal(err)
	}
	want := make([]uint32, 600)
	for i := range want {
		want[i] = uint32(i + 1)
	}
	if got := sink.got(); got != fmt.Sprint(want) {
		t.Fatalf("alerts for serials %s, want 1..600 in order", got)
	}
}

// TestLoopStopsOnceAndDrains: when the context ends, the loop calls stop
// once, keeps processing what the source still hands out, and flushes
// every event in flight (an event without its EOE included).
func TestLoopStopsOnceAndDrains(t *testing.T) {
	src, pw := pipeSource(t)
	sink := &collect{}
	var stops int
	ctx, cancel := context.WithCancel(context.Background())
	l := &loop{src: src, p: newProcessor(t, sink), stop: func() error {
		stops++
		// Like the kernel session: what is still queued comes, then EOF.
		go func() {
			_, _ = io.WriteString(pw, finit(2)+strings.SplitAfter(finit(3), "\n")[0])
			_ = pw.Close()
		}()
		return nil
	}}
	done := make(chan error, 1)
	go func() { done <- l.run(ctx) }()
	if _, err := io.WriteString(pw, finit(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return sink.got() == "[1]" })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(drain + 5*time.Second):
		t.Fatal("loop did not end after the source did")
	}
	if stops != 1 {
		t.Errorf("stop called %d times, want 1", stops)
	}
	if got := sink.got(); got != "[1 2 3]" {
		t.Errorf("alerts for serials %s, want [1 2 3] (3 flushed without its EOE)", got)
	}
}

// TestLoopReloadSwapsTheCatalogBetweenRecords: a catalog sent on the
// reload channel applies to the records that follow.
func TestLoopReloadSwapsTheCatalogBetweenRecords(t *testing.T) {
	src, pw := pipeSource(t)
	sink := &collect{}
	reloads := make(chan *detections.Catalog)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &loop{src: src, p: newProcessor(t, sink), reloads: reloads, stop: pw.Close}
	done := make(chan error, 1)
	go func() { done <- l.run(ctx) }()
	if _, err := io.WriteString(pw, finit(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return sink.got() == "[1]" })
	reloads <- nil // an empty catalog: nothing alerts any more
	if _, err := io.WriteString(pw, finit(2)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := sink.got(); got != "[1]" {
		t.Errorf("alerts for serials %s, want [1]: serial 2 came after the reload", got)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}

// queued is a pipeline.QueuedSource over a channel, like the netlink
// client's queue: the loop receives from it with no reader goroutine.
type queued struct {
	ch   chan []auditevent.Record
	took atomic.Int64
	err  error
	n    atomic.Int64 // records put and not yet taken
}

// put queues b, counting its records as the netlink client's queue does.
func (q *queued) put(b []auditevent.Record) {
	q.n.Add(int64(len(b)))
	q.ch <- b
}

func (q *queued) NextBatch(context.Context, []auditevent.Record) ([]auditevent.Record, error) {
	return nil, errors.New("NextBatch called on a queued source")
}
func (q *queued) Batches() <-chan []auditevent.Record { return q.ch }
func (q *queued) Took(b []auditevent.Record) {
	q.took.Add(int64(len(b)))
	q.n.Add(-int64(len(b)))
}
func (q *queued) Err() error  { return q.err }
func (q *queued) Queued() int { return int(q.n.Load()) }

// records parses audit.log lines into one batch.
func records(t *testing.T, text string) []auditevent.Record {
	t.Helper()
	var b []auditevent.Record
	for _, line := range strings.SplitAfter(strings.TrimSuffix(text, "\n"), "\n") {
		rec, err := auditevent.ParseLine([]byte(strings.TrimSuffix(line, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, rec)
	}
	return b
}

// TestLoopQueuedSourceStopsWhileProcessing: with a queued source the stop
// runs beside the processor, which keeps processing meanwhile: here the
// stop (like the kernel session's Close, which waits for the reader to
// drain the socket) waits until a record sent after it began has been
// processed. A stop on the processor's goroutine would wait for itself.
func TestLoopQueuedSourceStopsWhileProcessing(t *testing.T) {
	q := &queued{ch: make(chan []auditevent.Record, 4)}
	sink := &collect{}
	ctx, cancel := context.WithCancel(context.Background())
	l := &loop{src: q, p: newProcessor(t, sink), stop: func() error {
		q.ch <- records(t, finit(2)+finit(3))
		for deadline := time.Now().Add(drain); sink.got() != "[1 2 3]" && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		close(q.ch)
		return nil
	}}
	done := make(chan error, 1)
	go func() { done <- l.run(ctx) }()
	q.ch <- records(t, finit(1))
	waitFor(t, func() bool { return sink.got() == "[1]" })
	start := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited >= drain {
		t.Errorf("the loop ended after %s, at the drain period: the stop waited for records only the processor's goroutine could process", waited)
	}
	if got := sink.got(); got != "[1 2 3]" {
		t.Errorf("alerts for serials %s, want [1 2 3]", got)
	}
	if n := q.took.Load(); n != 6 {
		t.Errorf("Took accounted for %d records, want 6", n)
	}
}

// TestLoopQueuedSourceError: a queued source that ends with an error ends
// the loop with it, after what it handed out was processed.
func TestLoopQueuedSourceError(t *testing.T) {
	q := &queued{ch: make(chan []auditevent.Record, 1), err: errors.New("socket gone")}
	sink := &collect{}
	q.ch <- records(t, finit(1))
	close(q.ch)
	l := &loop{src: q, p: newProcessor(t, sink)}
	if err := l.run(context.Background()); err == nil || !strings.Contains(err.Error(), "socket gone") {
		t.Fatalf("run = %v, want the source's error", err)
	}
	if got := sink.got(); got != "[1]" {
		t.Errorf("alerts for serials %s, want [1]", got)
	}
}
