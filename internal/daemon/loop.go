package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/kmsg"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/web"
)

const (
	// tick is how often the wall clock advances the reassembler.
	tick = 250 * time.Millisecond
	// queueBatches bounds the batches between the reader and the processor.
	queueBatches = 16
	// maxBatchRecords is the most records a source's batch holds
	// (logfile.Reader.NextBatch).
	maxBatchRecords = 256
	// drain bounds how long the loop keeps reading after the stop.
	drain = 5 * time.Second
	// flushGap is the least time between two output flushes when the input
	// goes idle: alerts still leave within a tick, but a stream that keeps
	// draining the queue does not pay a write per record.
	flushGap = 20 * time.Millisecond
)

// loop drives a Processor from a live source.
type loop struct {
	src pipeline.Source
	// queued is src when it is a pipeline.QueuedSource (set by run).
	queued pipeline.QueuedSource
	p      *pipeline.Processor
	// stop, when set, is called once when the context ends: it must make
	// src return io.EOF once it has handed out what it holds.
	stop func() error
	// onTick runs on every tick, on the processor's goroutine.
	onTick func(now time.Time)
	// afterBatch, when set, runs after each batch of records has been
	// pushed, on the processor's goroutine (the store's pending
	// configuration reads).
	afterBatch func()
	// reloads carries new detection catalogs; klog kernel log lines (a
	// closed channel is no longer read). Both may be nil.
	reloads <-chan *detections.Catalog
	klog    <-chan *kmsg.Line
	// xview carries the module inventory's findings (may be nil).
	xview <-chan *detections.CrossViewFinding
	log   interface{ Error(string, ...any) }
	// procs follows the queue's length (nil: GOMAXPROCS is fixed).
	procs *procsGovernor
}

// PluginConfig is what the plugin serves besides its records.
type PluginConfig struct {
	// Stop, when set, is called once when the context ends: it makes the
	// source end after the records it read whole (logfile.Reader.Stop).
	Stop     func() error
	Web      web.Config // an empty ListenAddress: no metrics server
	Registry prometheus.Gatherer
	Log      *slog.Logger
	// AfterBatch, when set, runs after each batch of records has been
	// handled, on the processor's goroutine (correlate's ReadConfigs).
	AfterBatch func()
	MaxProcs   int // GOMAXPROCS while running; 0: one, or the runtime's default while records wait (procsGovernor)
}

// errPluginInputEnded ends the metrics server when the input ends.
var errPluginInputEnded = errors.New("plugin input ended")

// Plugin runs p over src (auditd's dispatcher on stdin) until src ends or
// ctx is done, then hands on every event in flight; with
// cfg.Web.ListenAddress it serves the metrics meanwhile.
func Plugin(ctx context.Context, src pipeline.Source, p *pipeline.Processor, cfg PluginConfig) error {
	l := &loop{src: src, p: p, stop: cfg.Stop, log: cfg.Log, afterBatch: cfg.AfterBatch}
	var stopProcs func()
	l.procs, stopProcs = startProcs(cfg.MaxProcs, cfg.Log)
	defer stopProcs()
	if cfg.Web.ListenAddress == "" {
		return l.run(ctx)
	}
	ln, err := web.Listen(cfg.Web)
	if err != nil {
		return err
	}
	cfg.Log.Info("serving metrics", "address", ln.Addr().String(), "path", cfg.Web.MetricsPath)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return web.Serve(gctx, ln, cfg.Web, cfg.Registry, cfg.Log.With("component", "web")) })
	g.Go(func() error {
		if err := l.run(gctx); err != nil {
			return err
		}
		return errPluginInputEnded // stops the web server
	})
	if err := g.Wait(); err != nil && !errors.Is(err, errPluginInputEnded) {
		return err
	}
	return nil
}

// run processes src's batches until the source ends or, after ctx is done,
// the drain period is over. A pipeline.QueuedSource (the netlink client)
// is received from directly; any other source is read on a goroutine of
// its own, since its NextBatch blocks.
func (l *loop) run(ctx context.Context) error {
	// readCtx outlives ctx by the drain period so that what the source
	// still holds at shutdown is processed, not dropped.
	readCtx, cancelRead := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRead()
	g, gctx := errgroup.WithContext(readCtx)
	in := l.input(gctx, g)
	g.Go(func() error { return l.process(ctx, in, cancelRead, g.Go) })
	return g.Wait()
}

// input returns the channel the processor receives batches on: a queued
// source's own, or one a reader goroutine in g fills from src.
func (l *loop) input(ctx context.Context, g *errgroup.Group) <-chan []auditevent.Record {
	if qs, ok := l.src.(pipeline.QueuedSource); ok {
		l.queued = qs
		return qs.Batches()
	}
	// Records cross from the reader to the processor in batches: one
	// channel operation (and wake-up) per batch, not per record.
	ch := make(chan []auditevent.Record, queueBatches)
	g.Go(func() error { return l.read(ctx, ch) })
	return ch
}

// read hands the source's batches to ch until the source ends or ctx is
// cancelled.
func (l *loop) read(ctx context.Context, ch chan<- []auditevent.Record) error {
	defer close(ch)
	for {
		batch, err := l.src.NextBatch(ctx, nil)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil // drain period over
			}
			return fmt.Errorf("read source: %w", err)
		}
		select {
		case ch <- batch:
		case <-ctx.Done():
			return nil
		}
	}
}

// process is the processor's goroutine. When ctx ends it stops the source
// on a goroutine of its own (spawn) and keeps processing meanwhile (the
// kernel session's Close takes our rules out and waits for the reader to
// drain the socket: the queue would otherwise fill while it does), until
// the source ends or the drain period is over.
func (l *loop) process(ctx context.Context, in <-chan []auditevent.Record, cancelRead func(), spawn func(func() error)) error {
	// The clock must be set before the first record: an event created at
	// clock 0 would look ancient at the first tick and be cut off.
	l.p.Advance(time.Now().UnixMilli())
	t := time.NewTicker(tick)
	defer t.Stop()
	done := ctx.Done()
	var drainTimer <-chan time.Time
	var lastFlush time.Time
	klog, xview := l.klog, l.xview
	for {
		select {
		case f, ok := <-xview:
			if !ok {
				xview = nil
				continue
			}
			l.p.CrossView(f)
		case c := <-l.reloads:
			l.p.SetRules(c)
		case line, ok := <-klog:
			if !ok {
				klog = nil
				continue
			}
			l.p.KernelLog(line)
			l.p.FlushOutput()
		case batch, ok := <-in:
			if !ok {
				l.finish()
				if l.queued != nil {
					if err := l.queued.Err(); err != nil {
						return fmt.Errorf("read source: %w", err)
					}
				}
				return nil
			}
			l.push(batch)
			l.procs.queued(l.waiting(in))
			if len(in) == 0 {
				if now := time.Now(); now.Sub(lastFlush) >= flushGap {
					l.p.FlushOutput()
					lastFlush = now
				}
			}
		case now := <-t.C:
			l.tick(in, now)
		case <-done:
			done = nil
			spawn(func() error { l.shutdown(); return nil })
			drainTimer = time.After(drain)
		case <-drainTimer:
			// What the source still holds is given up: stop its reader
			// goroutine, if it has one.
			cancelRead()
			l.finish()
			return nil
		}
	}
}

// finish hands on every event in flight and flushes the outputs.
func (l *loop) finish() {
	l.p.Advance(time.Now().UnixMilli())
	l.p.Flush()
	l.p.FlushOutput()
}

// push hands batch to the processor.
func (l *loop) push(batch []auditevent.Record) {
	if l.queued != nil {
		l.queued.Took(batch)
	}
	for i := range batch {
		l.p.Push(batch[i])
	}
	if l.afterBatch != nil {
		l.afterBatch()
	}
}

// waiting returns how many records wait for the processor: a queued
// source counts them; a plugin's channel holds batches of at most
// maxBatchRecords.
func (l *loop) waiting(in <-chan []auditevent.Record) int {
	if l.queued != nil {
		return l.queued.Queued()
	}
	return len(in) * maxBatchRecords
}

// tick pushes what is already queued before the clock moves: otherwise an
// event whose last records wait in the queue (after a slow stop, say)
// would be handed on idle, split.
func (l *loop) tick(in <-chan []auditevent.Record, now time.Time) {
	for n := len(in); n > 0; n-- {
		batch, ok := <-in
		if !ok {
			break
		}
		l.push(batch)
	}
	l.procs.tick(l.waiting(in))
	l.p.Advance(now.UnixMilli())
	l.p.FlushOutput()
	if l.onTick != nil {
		l.onTick(now)
	}
}

func (l *loop) shutdown() {
	if l.stop == nil {
		return
	}
	if err := l.stop(); err != nil && l.log != nil {
		l.log.Error("stop source", "err", err)
	}
}
