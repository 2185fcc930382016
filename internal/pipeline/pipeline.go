package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// Source yields records in batches: *netlink.Client (live) and
// *logfile.Reader (replay, plugin). NextBatch waits for at least one record
// and appends what it has to dst, returning the extended slice; the
// records are the caller's. When dst has no capacity the source may return
// a slice of its own instead (the netlink client hands on what one receive
// call brought without copying it). io.EOF, with no records, ends the
// stream.
type Source interface {
	NextBatch(ctx context.Context, dst []auditevent.Record) ([]auditevent.Record, error)
}

// A QueuedSource is a Source whose batches already wait on a channel
// (*netlink.Client: its reader's queue). A live loop receives from it
// directly, beside its other channels, with no goroutine in between: a
// hand-off between goroutines costs a wake-up, and on a busy host the
// wake-ups of a record stream cost more than its bytes. Each batch
// received must be passed to Took; once the channel is closed, Err tells
// a failure from the end. Queued says how many records wait in the
// channel.
type QueuedSource interface {
	Source
	Batches() <-chan []auditevent.Record
	Took(batch []auditevent.Record)
	Err() error
	Queued() int
}

// Sink receives the alerts that survive their exclusions. The alert is
// valid only during the call: a sink that keeps it copies it.
type Sink interface {
	WriteAlert(a *detections.Alert) error
}

// EventSink receives the relevant events (see Processor.SetEventSink).
type EventSink interface {
	WriteEvent(a *detections.Alert) error
}

// Store is the correlation state: it observes every event before the
// detections evaluate it, and returns what it learned about the event;
// the detections query it (process ancestry) through its State view.
type Store interface {
	detections.State
	Observe(ev *auditevent.Event) correlate.Facts
}

// Stats are a Processor's running totals.
type Stats struct {
	Reassembly reassemble.Stats
	Alerts     map[string]uint64 // by rule id
	Suppressed uint64
	// SuppressedBy counts suppressions by "rule id/reason".
	SuppressedBy map[string]uint64
	// RefusedBy counts alerts raised although an exclusion's criteria
	// matched (its provenance was not proven), by "rule id/reason/why".
	RefusedBy map[string]uint64
	// Aggregated counts alerts held back by the storm aggregation; each is
	// in the count of a summary alert.
	Aggregated  uint64
	WriteErrors uint64
	// KernelLog counts the kernel-log alerts held for their load.
	KernelLog KernelLogStats
}

// Processor runs records through reassembly, correlation, detection and
// output. It must be used from one goroutine.
type Processor struct {
	ra    *reassemble.Reassembler
	rules *detections.Catalog
	eval  detections.Evaluator // runs rules.Events over each event, reusing its buffers
	store Store
	sink  Sink
	m     *Metrics
	log   *slog.Logger

	alerts       map[string]uint64
	suppressed   uint64
	suppressedBy map[string]uint64
	refusedBy    map[string]uint64
	writeErrors  uint64

	// loads keeps recent module loads for kernel log correlation; held
	// are the kernel-log alerts waiting for their load (kernellog.go).
	loads correlate.RecentLoads
	held  []heldKernelLog
	klog  KernelLogStats
	now   func() time.Time // wall clock of the holds; tests replace it

	// events, when set, receives every event a detection matched
	// (alerted, aggregated or suppressed), as the detection classified it.
	events EventSink

	// alert-storm aggregation (aggregate.go)
	aggBurst   int
	aggWindow  int64 // ms
	agg        map[aggKey]*aggState
	aggDue     []*aggState               // expiring windows, reused (expireAggregates)
	aggFree    []*aggState               // states of expired keys, for new ones (newAggState)
	aggRecent  [aggRecentSlots]aggRecent // the last keys used, checked before agg
	aggNext    int                       // the aggRecent slot to replace next
	aggregated uint64
	clock      int64 // the last Advance (ms); 0 in a replay
	aggBytes   int64 // sampleSize of the samples held
	// ancestors is the ancestry of the alert being written (writeNow),
	// reused from alert to alert.
	ancestors []auditevent.Process
	// onEvent, when set, sees every event after detection (OnEvent).
	onEvent func(*auditevent.Event, *correlate.ModuleLoad, detections.State)
}

// NewProcessor builds a Processor. store may be nil (no correlation), and
// catalog (no detections).
func NewProcessor(cfg reassemble.Config, catalog *detections.Catalog, store Store, sink Sink, ra *reassemble.Metrics, m *Metrics, log *slog.Logger) (*Processor, error) {
	if sink == nil {
		return nil, errors.New("new processor: sink is nil")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if catalog == nil {
		catalog = &detections.Catalog{}
	}
	p := &Processor{rules: catalog, store: store, sink: sink, m: m, log: log, alerts: map[string]uint64{}, now: time.Now,
		aggBurst: DefaultAggregateBurst, aggWindow: DefaultAggregateWindow.Milliseconds()}
	r, err := reassemble.New(cfg, p.handle, ra)
	if err != nil {
		return nil, fmt.Errorf("new processor: %w", err)
	}
	r.SetLogger(log)
	p.ra = r
	return p, nil
}

// SetEventSink makes the processor also write every event that a
// detection matched, whether the alert was written, aggregated or
// suppressed by an exclusion: the events Elastic's hunts look at (.ko
// creations, kmod tool runs, module loads). They are not aggregated.
func (p *Processor) SetEventSink(s EventSink) { p.events = s }

func (p *Processor) writeEvent(a *detections.Alert, st detections.State) {
	p.complete(a, st)
	if err := p.events.WriteEvent(a); err != nil {
		p.writeFailed("write event", err, "serial", a.Event.Serial)
	}
}

// SetRules replaces the detection catalog (a configuration reload). Call
// it on the processor's goroutine, between two records.
// A nil catalog has no detections.
func (p *Processor) SetRules(catalog *detections.Catalog) {
	if catalog == nil {
		catalog = &detections.Catalog{}
	}
	p.rules = catalog
}

// Push adds one record.
func (p *Processor) Push(rec auditevent.Record) { p.ra.Push(rec) }

// Advance moves the stream clock (ms since the epoch) and writes the
// summaries of aggregation windows that have ended.
func (p *Processor) Advance(nowMs int64) {
	p.clock = nowMs
	p.ra.Advance(nowMs)
	p.expireHeld(p.now().UnixMilli(), false)
	p.expireAggregates(nowMs, false)
}

// Flush hands on every event in flight, every held kernel-log alert and
// every aggregation summary.
func (p *Processor) Flush() {
	p.ra.Flush()
	p.expireHeld(0, true)
	p.expireAggregates(0, true)
}

// Stats returns the running totals.
func (p *Processor) Stats() Stats {
	a := make(map[string]uint64, len(p.alerts))
	for k, v := range p.alerts {
		a[k] = v
	}
	sb := make(map[string]uint64, len(p.suppressedBy))
	for k, v := range p.suppressedBy {
		sb[k] = v
	}
	rb := make(map[string]uint64, len(p.refusedBy))
	for k, v := range p.refusedBy {
		rb[k] = v
	}
	return Stats{Reassembly: p.ra.Stats(), Alerts: a, Suppressed: p.suppressed, SuppressedBy: sb, RefusedBy: rb, Aggregated: p.aggregated, WriteErrors: p.writeErrors, KernelLog: p.klog}
}

var noState detections.State = nilState{}

type nilState struct{}

func (nilState) Process(int) (auditevent.Process, bool) { return auditevent.Process{}, false }
func (nilState) Parent(int) (auditevent.Process, bool)  { return auditevent.Process{}, false }
func (nilState) Ancestry(int, int) []auditevent.Process { return nil }
func (nilState) AppendAncestry(dst []auditevent.Process, _, _ int) []auditevent.Process {
	return dst
}

func (p *Processor) handle(ev *auditevent.Event) {
	st := noState
	var facts correlate.Facts
	if p.store != nil {
		facts = p.store.Observe(ev)
		st = p.store
	}
	alerts := p.eval.Evaluate(p.rules.Events, ev, facts, st)
	var mf *detections.ModuleFile
	if len(alerts) > 0 {
		// What the loaded module's file says, read by the store when it
		// observed the load: on every alert of the load.
		if mf = detections.ModuleFileOf(ev, facts.Load); mf != nil {
			for i := range alerts {
				detections.AttachModuleFile(&alerts[i], mf)
			}
		}
	}
	var first *detections.Alert // only with an event sink: an Alert is large
	for i := range alerts {
		if p.events != nil && first == nil {
			f := alerts[i]
			first = &f
		}
		p.deliver(&alerts[i], st)
	}
	if p.events != nil {
		// A kmod tool's exec is written as the process event it is
		// (event.action exec), whether a detection matched it or not:
		// hunt H2 counts every kmod command line.
		if x, ok := detections.KmodExec(p.eval.Last()); ok {
			first = &x
		} else if first != nil && first.Autoload && first.Action == detections.ActionKernelAutoload {
			// The raw event is a module load like any other (as
			// auditbeat classifies it): hunt H1 counts it.
			first.Action = "loaded-kernel-module"
		}
	}
	if first != nil {
		p.writeEvent(first, st)
	}
	if ev.Node == "" {
		// Kernel log lines are this machine's: only its own loads
		// (the stream without a node name) may explain them.
		p.observeLoad(ev, facts.Load, st)
	}
	if p.onEvent != nil {
		p.onEvent(ev, facts.Load, st)
	}
}

// OnEvent registers a function called with every event after detection,
// with the store's resolution of a module load (nil for any other event)
// and the correlation state as it observed the event (the module
// inventory records loads and unloads there). It runs on the processor's
// goroutine and must not keep ev or ml beyond the call unless it copies
// them.
func (p *Processor) OnEvent(f func(ev *auditevent.Event, ml *correlate.ModuleLoad, st detections.State)) {
	p.onEvent = f
}

// CrossView runs the cross-view detections over one finding of the module
// inventory (internal/inventory). Like Push, it must be called from the
// processor's goroutine (LiveOptions.Do carries it there).
func (p *Processor) CrossView(f *detections.CrossViewFinding) {
	for _, r := range p.rules.CrossView {
		for _, a := range r.EvaluateCrossView(f) {
			p.emit(&a)
		}
	}
	p.FlushOutput()
}

// emit counts a and writes it unless it was suppressed.
func (p *Processor) emit(a *detections.Alert) { p.deliver(a, noState) }

// flusher is a Sink that buffers (stdout, files): FlushOutput calls it.
type flusher interface{ Flush() error }

// FlushOutput writes what a buffering sink holds. A live run calls it
// whenever its input queue is empty and on every tick, so alerts leave at
// once when the stream is quiet and in batches under load; Replay calls it
// at the end.
func (p *Processor) FlushOutput() {
	if ef, ok := p.events.(flusher); ok && p.events != nil {
		if err := ef.Flush(); err != nil {
			p.writeFailed("flush events", err)
		}
	}
	f, ok := p.sink.(flusher)
	if !ok {
		return
	}
	if err := f.Flush(); err != nil {
		p.writeFailed("flush alerts", err)
	}
}

// replayBatch is the capacity of the batch Replay reuses.
const replayBatch = 256

// Replay runs src through p on the calling goroutine until io.EOF, then
// flushes. The reassembler's clock follows record time.
func Replay(ctx context.Context, src Source, p *Processor) error {
	batch := make([]auditevent.Record, 0, replayBatch)
	for {
		var err error
		batch, err = src.NextBatch(ctx, batch[:0])
		for i := range batch {
			p.Push(batch[i])
		}
		if errors.Is(err, io.EOF) {
			p.Flush()
			p.FlushOutput()
			return nil
		}
		if err != nil {
			p.Flush()
			p.FlushOutput()
			return fmt.Errorf("replay: %w", err)
		}
	}
}

// writeFailed counts a failed write or flush. Only the first is logged at
// error level: the outputs count the lines they lose and log their totals
// when closed (output.Fanout), so a full disk does not flood the log.
func (p *Processor) writeFailed(what string, err error, attrs ...any) {
	p.writeErrors++
	p.m.writeError()
	level := slog.LevelDebug
	if p.writeErrors == 1 {
		level = slog.LevelError
	}
	p.log.Log(context.Background(), level, what, append(attrs, "err", err)...)
}

// countRefused counts an alert raised although an exclusion's criteria
// matched; refused is "reason/why".
func (p *Processor) countRefused(id, refused string) {
	if p.refusedBy == nil {
		p.refusedBy = map[string]uint64{}
	}
	if len(p.refusedBy) < 1024 {
		p.refusedBy[id+"/"+refused]++
	}
	reason, why, _ := strings.Cut(refused, "/")
	p.m.refused(id, reason, why)
}

func (p *Processor) countSuppressed(id, reason string) {
	p.suppressed++
	if p.suppressedBy == nil {
		p.suppressedBy = map[string]uint64{}
	}
	p.suppressedBy[id+"/"+reason]++
	p.m.suppressed(id, reason)
}
