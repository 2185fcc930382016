package output

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/auditlkm/auditlkm/internal/detections"
)

// Output names one Writer of a Fanout.
type Output struct {
	Name string // metric label: stdout, file, syslog, events
	W    Writer
}

// alertAppender encodes an alert, or its event, as one JSON document
// (*ecs.Encoder).
type alertAppender interface {
	AppendAlert(dst []byte, a *detections.Alert) []byte
	AppendEventDoc(dst []byte, a *detections.Alert) []byte
}

// Fanout encodes each alert once and writes the line to every output. It
// implements pipeline.Sink. WriteAlert and WriteLine must be called from
// one goroutine; Reopen may be called from any.
type Fanout struct {
	enc  alertAppender
	outs []Output
	m    *Metrics
	now  func() time.Time
	buf  []byte
	log  *slog.Logger

	failing []bool   // per output: its first failure was logged
	lost    []uint64 // per output whose Writer does not count its own
	closed  bool
}

// accounter is a Writer that counts what it writes and loses itself, in
// the metrics it is bound to (Stream, File, Syslog).
type accounter interface {
	bind(name string, m *Metrics)
	Lost() uint64
}

// NewFanout returns a Fanout over outs, encoding alerts with enc (an
// *ecs.Encoder; its own writer is not used). Names must be unique.
func NewFanout(enc alertAppender, outs []Output, m *Metrics) (*Fanout, error) {
	if enc == nil {
		return nil, fmt.Errorf("new fanout: %w: nil encoder", ErrInvalidConfig)
	}
	seen := map[string]bool{}
	for _, o := range outs {
		switch {
		case o.W == nil:
			return nil, fmt.Errorf("new fanout: %w: output %q has no writer", ErrInvalidConfig, o.Name)
		case o.Name == "" || seen[o.Name]:
			return nil, fmt.Errorf("new fanout: %w: output name %q empty or repeated", ErrInvalidConfig, o.Name)
		}
		seen[o.Name] = true
		m.init(o.Name)
		if a, ok := o.W.(accounter); ok {
			a.bind(o.Name, m)
		}
	}
	return &Fanout{enc: enc, outs: outs, m: m, now: time.Now, log: slog.New(slog.DiscardHandler),
		failing: make([]bool, len(outs)), lost: make([]uint64, len(outs))}, nil
}

// SetLog sets the logger of output failures: the first failure of each
// output, and at Close the number of lines each output lost.
func (f *Fanout) SetLog(log *slog.Logger) {
	if log != nil {
		f.log = log
	}
}

// Lost returns, per output name, how many lines (alerts or events) it did
// not deliver: failed or short writes, full queues, a server that did not
// take them, the shutdown deadline. Outputs that lost none are left out.
// After Close it is final.
func (f *Fanout) Lost() map[string]uint64 {
	out := map[string]uint64{}
	for i, o := range f.outs {
		n := f.lost[i]
		if a, ok := o.W.(accounter); ok {
			n = a.Lost()
		}
		if n > 0 {
			out[o.Name] = n
		}
	}
	return out
}

// failed logs the first failure of output i.
func (f *Fanout) failed(i int, err error) {
	if f.failing[i] {
		return
	}
	f.failing[i] = true
	f.log.Error("output failing: lines are being lost (counted in auditlkm_output_lost_total; the total is logged at exit)", "output", f.outs[i].Name, "err", err)
}

// WriteAlert encodes a and writes it to every output (syslog MSGID
// "alert"). It returns the outputs' errors joined; every output is tried.
func (f *Fanout) WriteAlert(a *detections.Alert) error {
	if a == nil {
		return errors.New("write alert: nil alert")
	}
	f.buf = f.enc.AppendAlert(f.buf[:0], a)
	err := f.WriteLine(f.buf, "alert", AlertSeverity(a))
	if cap(f.buf) > keepBufBytes {
		f.buf = nil
	}
	return err
}

// WriteEvent encodes the event behind a (event.kind "event") and writes it
// to every output (syslog MSGID "event", severity info).
func (f *Fanout) WriteEvent(a *detections.Alert) error {
	if a == nil {
		return errors.New("write event: nil alert")
	}
	f.buf = f.enc.AppendEventDoc(f.buf[:0], a)
	err := f.WriteLine(f.buf, "event", SevInfo)
	if cap(f.buf) > keepBufBytes {
		f.buf = nil
	}
	return err
}

// WriteLine writes one JSON document (no newline) to every output.
func (f *Fanout) WriteLine(line []byte, msgID string, sev Severity) error {
	m := Message{Line: line, Time: f.now(), Severity: sev, MsgID: msgID}
	var all []error
	for i, o := range f.outs {
		_, self := o.W.(accounter)
		if err := o.W.Write(m); err != nil {
			f.failed(i, err)
			if !self {
				f.lost[i]++
				f.m.inc(lostV, o.Name)
				f.m.inc(errs, o.Name)
				if errors.Is(err, ErrDropped) {
					f.m.inc(dropped, o.Name)
				}
			}
			all = append(all, fmt.Errorf("output %s: %w", o.Name, err))
			continue
		}
		if !self {
			f.m.inc(written, o.Name)
		}
	}
	return errors.Join(all...)
}

// Reopen reopens every output that can (files, after logrotate). It
// returns their errors joined; an output that failed keeps its old file.
func (f *Fanout) Reopen() error {
	var all []error
	for _, o := range f.outs {
		if r, ok := o.W.(interface{ Reopen() error }); ok {
			if err := r.Reopen(); err != nil {
				all = append(all, fmt.Errorf("output %s: %w", o.Name, err))
			}
		}
	}
	return errors.Join(all...)
}

// Flush writes what buffered outputs (stdout, files) hold. The pipeline
// calls it whenever its input goes idle, so alerts leave promptly when the
// stream is quiet and in batches under load.
func (f *Fanout) Flush() error {
	var all []error
	for i, o := range f.outs {
		if fl, ok := o.W.(interface{ Flush() error }); ok {
			if err := fl.Flush(); err != nil {
				f.failed(i, err)
				if _, self := o.W.(accounter); !self {
					f.m.inc(errs, o.Name)
				}
				all = append(all, fmt.Errorf("output %s: %w", o.Name, err))
			}
		}
	}
	return errors.Join(all...)
}

// Close flushes every output, closes those that are an io.Closer (not a
// Stream: stdout is the caller's) and logs, once per output, how many
// lines it lost. A second Close does nothing.
func (f *Fanout) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	all := []error{f.Flush()}
	for _, o := range f.outs {
		if c, ok := o.W.(io.Closer); ok {
			if err := c.Close(); err != nil {
				all = append(all, fmt.Errorf("output %s: %w", o.Name, err))
			}
		}
	}
	lost := f.Lost()
	for _, o := range f.outs {
		if n := lost[o.Name]; n > 0 {
			f.log.Error("output lost lines", "output", o.Name, "lost", n)
		}
	}
	return errors.Join(all...)
}
