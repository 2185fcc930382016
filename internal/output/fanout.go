package output

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/auditlkm/auditlkm/internal/rules"
)

// Output names one Writer of a Fanout.
type Output struct {
	Name string // metric label: stdout, file, syslog, events
	W    Writer
}

// alertAppender encodes an alert, or its event, as one JSON document
// (*ecs.Encoder).
type alertAppender interface {
	AppendAlert(dst []byte, a *rules.Alert) []byte
	AppendEventDoc(dst []byte, a *rules.Alert) []byte
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
	}
	return &Fanout{enc: enc, outs: outs, m: m, now: time.Now}, nil
}

// WriteAlert encodes a and writes it to every output (syslog MSGID
// "alert"). It returns the outputs' errors joined; every output is tried.
func (f *Fanout) WriteAlert(a *rules.Alert) error {
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
func (f *Fanout) WriteEvent(a *rules.Alert) error {
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
	for _, o := range f.outs {
		if err := o.W.Write(m); err != nil {
			f.m.inc(errs, o.Name)
			if errors.Is(err, ErrDropped) {
				f.m.inc(dropped, o.Name)
			}
			all = append(all, fmt.Errorf("output %s: %w", o.Name, err))
			continue
		}
		if _, ok := o.W.(*Syslog); !ok { // Syslog counts when it sends
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
	for _, o := range f.outs {
		if fl, ok := o.W.(interface{ Flush() error }); ok {
			if err := fl.Flush(); err != nil {
				f.m.inc(errs, o.Name)
				all = append(all, fmt.Errorf("output %s: %w", o.Name, err))
			}
		}
	}
	return errors.Join(all...)
}

// Close closes every output that is an io.Closer (not a Stream: stdout is
// the caller's).
func (f *Fanout) Close() error {
	var all []error
	for _, o := range f.outs {
		if c, ok := o.W.(io.Closer); ok {
			if err := c.Close(); err != nil {
				all = append(all, fmt.Errorf("output %s: %w", o.Name, err))
			}
		}
	}
	return errors.Join(all...)
}
