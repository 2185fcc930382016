package netlink

import (
	"context"
	"sync/atomic"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// maxQueueBatches bounds the batches the queue holds whatever their size;
// records are bounded separately (Config.QueueRecords).
const maxQueueBatches = 1 << 16

// recordQueue is the hand-off from the reader to the consumer: batches of
// records (what one receive call brought), bounded in records. The reader
// never blocks on it: a batch that does not fit is refused whole and the
// reader counts its records as dropped. One goroutine offers, one takes.
type recordQueue struct {
	ch     chan []auditevent.Record
	queued atomic.Int64 // records in ch
	limit  int64
}

func newRecordQueue(limit int) *recordQueue {
	return &recordQueue{ch: make(chan []auditevent.Record, min(limit, maxQueueBatches)), limit: int64(limit)}
}

// offer queues b unless that would exceed the record limit or the batch
// bound; the queue then owns b.
func (q *recordQueue) offer(b []auditevent.Record) bool {
	n := int64(len(b))
	if q.queued.Load()+n > q.limit {
		return false
	}
	q.queued.Add(n)
	select {
	case q.ch <- b:
		return true
	default:
		q.queued.Add(-n)
		return false
	}
}

// take waits for the next batch; ok is false once the queue is closed and
// empty.
func (q *recordQueue) take(ctx context.Context) (b []auditevent.Record, ok bool, err error) {
	select {
	case b, ok = <-q.ch:
		q.queued.Add(-int64(len(b)))
		return b, ok, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// tryTake returns the next batch without waiting; ok is false when none
// is queued (or the queue is closed).
func (q *recordQueue) tryTake() (b []auditevent.Record, ok bool) {
	select {
	case b, ok = <-q.ch:
		q.queued.Add(-int64(len(b)))
		return b, ok
	default:
		return nil, false
	}
}

// len returns the records queued.
func (q *recordQueue) len() int { return int(q.queued.Load()) }

// close ends the queue: the reader calls it when it returns.
func (q *recordQueue) close() { close(q.ch) }
