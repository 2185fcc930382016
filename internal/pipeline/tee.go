package pipeline

import (
	"context"
	"fmt"
	"io"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Tee is a Source that writes every record it passes on to w as an
// audit.log line (auditd's raw format), so that a live stream can be
// recorded and replayed later. Write errors end the stream: a recording
// with holes would be worse than none.
type Tee struct {
	Src     Source
	W       io.Writer
	buf     []byte
	pending error // a write error met in TryNext, for Next to return
}

// Next returns the next record of Src after writing it to W.
func (t *Tee) Next(ctx context.Context) (auditevent.Record, error) {
	if err := t.pending; err != nil {
		return auditevent.Record{}, err
	}
	rec, err := t.Src.Next(ctx)
	if err != nil {
		return rec, err
	}
	t.buf = append(rec.AppendLine(t.buf[:0]), '\n')
	if _, err := t.W.Write(t.buf); err != nil {
		return rec, fmt.Errorf("write raw record: %w", err)
	}
	return rec, nil
}

// TryNext forwards a non-blocking read when Src has one. A record whose
// write fails is kept for Next, which returns the error.
func (t *Tee) TryNext() (auditevent.Record, bool) {
	tn, ok := t.Src.(tryNexter)
	if !ok || t.pending != nil {
		return auditevent.Record{}, false
	}
	rec, ok := tn.TryNext()
	if !ok {
		return rec, false
	}
	t.buf = append(rec.AppendLine(t.buf[:0]), '\n')
	if _, err := t.W.Write(t.buf); err != nil {
		t.pending = fmt.Errorf("write raw record: %w", err)
		return auditevent.Record{}, false
	}
	return rec, true
}

// NextBatch returns Src's next batch after writing it to W, when Src is a
// BatchSource; else one record, as Next.
func (t *Tee) NextBatch(ctx context.Context) ([]auditevent.Record, error) {
	bs, ok := t.Src.(BatchSource)
	if !ok {
		rec, err := t.Next(ctx)
		if err != nil {
			return nil, err
		}
		return []auditevent.Record{rec}, nil
	}
	if err := t.pending; err != nil {
		return nil, err
	}
	b, err := bs.NextBatch(ctx)
	if err != nil {
		return nil, err
	}
	t.buf = t.buf[:0]
	for i := range b {
		t.buf = append(b[i].AppendLine(t.buf), '\n')
	}
	if _, err := t.W.Write(t.buf); err != nil {
		return nil, fmt.Errorf("write raw records: %w", err)
	}
	return b, nil
}
