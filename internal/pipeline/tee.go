package pipeline

import (
	"fmt"
	"io"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Tee returns a hook (netlink.BatchHook) that writes every record of a
// batch to w as audit.log lines (auditd's raw format), one write per
// batch, so that a live stream can be recorded and replayed later. A write
// error ends the stream: a recording with holes would be worse than none.
func Tee(w io.Writer) func(batch []auditevent.Record) error {
	var buf []byte
	return func(b []auditevent.Record) error {
		buf = buf[:0]
		for i := range b {
			buf = append(b[i].AppendLine(buf), '\n')
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("write raw records: %w", err)
		}
		return nil
	}
}
