package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/rules"
)

// LiveOptions tune Live.
type LiveOptions struct {
	// Tick is how often the wall clock advances the reassembler.
	Tick time.Duration
	// Queue bounds the records between the reader and the processor.
	Queue int
	// Stop is called once when ctx is cancelled: it must make the source
	// return io.EOF once it has handed out what it holds (the netlink
	// client releases the kernel and drains its queue).
	Stop func() error
	// Drain bounds how long Live keeps reading after Stop.
	Drain time.Duration
	// OnTick is called on every tick (correlation maintenance, state
	// snapshots), on the processor's goroutine.
	OnTick func(now time.Time)
	// Do, when set, carries functions to run on the processor's goroutine
	// between records (a configuration reload swapping the catalog).
	Do <-chan func(*Processor)
	// KernelLog, when set, feeds kernel log lines (internal/kmsg) into the
	// processor's goroutine; a closed channel is simply no longer read.
	KernelLog <-chan *rules.KernelLogLine
}

// tryNexter is a Source that can hand out a record it already holds
// without waiting (the netlink client's queue).
type tryNexter interface {
	TryNext() (auditevent.Record, bool)
}

// BatchSource is a Source that hands out records in batches, the caller
// owning each.
type BatchSource interface {
	Source
	NextBatch(ctx context.Context) ([]auditevent.Record, error)
}

// nextBatch waits for the next records of src: a batch of bs when src is a
// BatchSource, else one record and whatever tn holds already (at most
// maxBatch).
func nextBatch(ctx context.Context, src Source, bs BatchSource, tn tryNexter) ([]auditevent.Record, error) {
	if bs != nil {
		return bs.NextBatch(ctx)
	}
	rec, err := src.Next(ctx)
	if err != nil {
		return nil, err
	}
	batch := make([]auditevent.Record, 1, 16)
	batch[0] = rec
	for tn != nil && len(batch) < maxBatch {
		r, ok := tn.TryNext()
		if !ok {
			break
		}
		batch = append(batch, r)
	}
	return batch, nil
}

// maxBatch bounds the records handed to the processor at once.
const maxBatch = 256

// flushGap is the least time between two output flushes when the input
// goes idle: alerts still leave within a tick, but a stream that keeps
// draining the queue does not pay a write per record.
const flushGap = 20 * time.Millisecond

// Live runs src through p until ctx is cancelled or the source ends.
func Live(ctx context.Context, src Source, p *Processor, o LiveOptions) error {
	if o.Tick <= 0 {
		o.Tick = 250 * time.Millisecond
	}
	if o.Queue <= 0 {
		o.Queue = 4096
	}
	if o.Drain <= 0 {
		o.Drain = 5 * time.Second
	}
	// readCtx outlives ctx by the drain period so that what the source
	// still holds at shutdown is processed, not dropped.
	readCtx, cancelRead := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRead()
	g, gctx := errgroup.WithContext(readCtx)
	// Records cross from the reader to the processor in batches: one
	// channel operation (and wake-up) per batch, not per record: the
	// source's own batches (a BatchSource, such as the netlink client,
	// hands out what one receive call brought), or what a tryNexter
	// already holds.
	ch := make(chan []auditevent.Record, max(o.Queue/maxBatch, 4))
	tn, _ := src.(tryNexter)
	bs, _ := src.(BatchSource)
	g.Go(func() error {
		defer close(ch)
		for {
			batch, err := nextBatch(gctx, src, bs, tn)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				if gctx.Err() != nil {
					return nil // drain period over
				}
				return fmt.Errorf("read source: %w", err)
			}
			select {
			case ch <- batch:
			case <-gctx.Done():
				return nil
			}
		}
	})

	g.Go(func() error {
		// The clock must be set before the first record: an event created
		// at clock 0 would look ancient at the first tick and be cut off.
		p.Advance(time.Now().UnixMilli())
		t := time.NewTicker(o.Tick)
		defer t.Stop()
		done := ctx.Done()
		var drainTimer <-chan time.Time
		var lastFlush time.Time
		klog := o.KernelLog
		for {
			select {
			case f := <-o.Do:
				f(p)
			case l, ok := <-klog:
				if !ok {
					klog = nil
					continue
				}
				p.KernelLog(l)
				p.FlushOutput()
			case batch, ok := <-ch:
				if !ok {
					p.Advance(time.Now().UnixMilli())
					p.Flush()
					p.FlushOutput()
					return nil
				}
				for _, rec := range batch {
					p.Push(rec)
				}
				if len(ch) == 0 {
					if now := time.Now(); now.Sub(lastFlush) >= flushGap {
						p.FlushOutput()
						lastFlush = now
					}
				}
			case now := <-t.C:
				// Push what is already queued before the clock moves:
				// otherwise an event whose last records wait in the queue
				// (after a slow stop, say) would be handed on idle, split.
				for n := len(ch); n > 0; n-- {
					batch, ok := <-ch
					if !ok {
						break
					}
					for _, rec := range batch {
						p.Push(rec)
					}
				}
				p.Advance(now.UnixMilli())
				p.FlushOutput()
				if o.OnTick != nil {
					o.OnTick(now)
				}
			case <-done:
				done = nil
				if o.Stop != nil {
					if err := o.Stop(); err != nil {
						p.log.Error("stop source", "err", err)
					}
				}
				drainTimer = time.After(o.Drain)
			case <-drainTimer:
				cancelRead()
				drainTimer = nil
			}
		}
	})
	return g.Wait()
}
