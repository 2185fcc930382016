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
	Src Source
	W   io.Writer
	buf []byte
}

// Next returns the next record of Src after writing it to W.
func (t *Tee) Next(ctx context.Context) (auditevent.Record, error) {
	rec, err := t.Src.Next(ctx)
	if err != nil {
		return rec, err
	}
	t.buf = append(append(t.buf[:0], rec.Line()...), '\n')
	if _, err := t.W.Write(t.buf); err != nil {
		return rec, fmt.Errorf("write raw record: %w", err)
	}
	return rec, nil
}
