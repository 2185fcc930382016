package output

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/auditlkm/auditlkm/internal/detections"
)

// Sentinel errors.
var (
	// ErrClosed: the writer was closed.
	ErrClosed = errors.New("output closed")
	// ErrDropped: the line was dropped (queue full, or undeliverable).
	ErrDropped = errors.New("line dropped")
	// ErrInvalidConfig: a configuration was refused.
	ErrInvalidConfig = errors.New("invalid output configuration")
)

// Severity is a syslog severity, 0 (emergency) to 7 (debug).
type Severity int

// The severities alerts are mapped to.
const (
	SevCritical Severity = 2
	SevError    Severity = 3
	SevWarning  Severity = 4
	SevNotice   Severity = 5
	SevInfo     Severity = 6
)

// AlertSeverity maps an alert's severity to syslog's: critical → crit,
// high → err, medium → warning, low → notice, unknown → info.
func AlertSeverity(a *detections.Alert) Severity {
	s := a.Severity
	if s <= 0 && a.Rule != nil {
		s = a.Rule.Severity
	}
	switch s {
	case detections.Critical:
		return SevCritical
	case detections.High:
		return SevError
	case detections.Medium:
		return SevWarning
	case detections.Low:
		return SevNotice
	}
	return SevInfo
}

// Message is one line to deliver.
type Message struct {
	// Line is one JSON document without its newline. It is valid only
	// during the Write call: a Writer that keeps it copies it.
	Line     []byte
	Time     time.Time // when the line was produced (syslog TIMESTAMP)
	Severity Severity
	MsgID    string // syslog MSGID: "alert" or "event"
}

// Writer is one destination of lines.
type Writer interface {
	Write(m Message) error
}

// Stream writes lines to an io.Writer (stdout). Lines are buffered and
// written, whole, by Flush (the pipeline flushes whenever its input goes
// idle) or as soon as flushBytes are pending. It is safe for concurrent
// use. It never closes w.
type Stream struct {
	mu sync.Mutex
	w  io.Writer
	lineBuf
}

// NewStream returns a Stream over w.
func NewStream(w io.Writer) (*Stream, error) {
	if w == nil {
		return nil, fmt.Errorf("new stream output: %w: nil writer", ErrInvalidConfig)
	}
	return &Stream{w: w}, nil
}

// Write queues m.Line and a newline.
func (s *Stream) Write(m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(m.Line)
	if len(s.buf) >= flushBytes {
		return s.flush(s.w, nil)
	}
	return nil
}

// Flush writes the queued lines with one Write call. Lines a failed or
// short write left out are counted as lost (Lost).
func (s *Stream) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flush(s.w, nil)
}

// flushBytes: pending lines past this size are written at once.
const flushBytes = 64 << 10

// keepBufBytes: a line buffer larger than this is not kept for the next
// line.
const keepBufBytes = 256 << 10

// File appends lines to a file. It is safe for concurrent use.
type File struct {
	path string
	perm os.FileMode

	mu       sync.Mutex
	f        *os.File
	closed   bool
	repaired bool // the file ended mid-line when opened
	lineBuf
}

// DefaultFileMode is the mode of a file OpenFile creates.
const DefaultFileMode = 0o640

// OpenFile opens (creating with perm, appending) the file at path. The
// caller must Close it.
func OpenFile(path string, perm os.FileMode) (*File, error) {
	if path == "" {
		return nil, fmt.Errorf("open output file: %w: empty path", ErrInvalidConfig)
	}
	f, err := openAppend(path, perm)
	if err != nil {
		return nil, err
	}
	out := &File{path: path, perm: perm, f: f}
	out.repairTail()
	return out, nil
}

// repairTail ends a torn last line of the file (a crash or a full disk
// cut a line, ours or another writer's) with a newline, so that the next
// alert starts a line of its own; the fragment stays, as one invalid line.
// If the newline cannot be written now it is written before the next line.
// Called with f.f freshly opened, before any line is queued.
func (f *File) repairTail() {
	if !tornTail(f.path) {
		return
	}
	f.repaired = true
	if _, err := f.f.Write([]byte{'\n'}); err != nil {
		f.torn = true
	}
}

// RepairedTail reports whether the file ended mid-line when it was last
// opened (and was given a newline).
func (f *File) RepairedTail() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.repaired
}

func openAppend(path string, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, perm)
	if err != nil {
		return nil, fmt.Errorf("open output file: %w", err)
	}
	return f, nil
}

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// Write queues m.Line and a newline; Flush (or flushBytes pending) writes
// them with one write(2). With O_APPEND whole lines are never interleaved
// with another writer's. When a write fails part way (a full disk) the
// lines it took whole stay, the partial line is cut off again (ftruncate)
// and the rest are counted as lost (Lost).
func (f *File) Write(m Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		f.count(0, 1)
		return fmt.Errorf("write %s: %w", f.path, ErrClosed)
	}
	f.add(m.Line)
	if len(f.buf) >= flushBytes {
		return f.flushLocked()
	}
	return nil
}

// Flush writes the queued lines.
func (f *File) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	return f.flushLocked()
}

func (f *File) flushLocked() error {
	if err := f.flush(f.f, f.f); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Reopen opens the path again and swaps the new file in; lines written
// before the swap are in the old file (renamed by logrotate), lines after
// in the new one. If the path cannot be opened the old file stays in use
// and the error is returned.
func (f *File) Reopen() error {
	nf, err := openAppend(f.path, f.perm)
	if err != nil {
		return err
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = nf.Close()
		return fmt.Errorf("reopen %s: %w", f.path, ErrClosed)
	}
	// Lines queued before the signal belong to the rotated file.
	ferr := f.flushLocked()
	old := f.f
	f.f = nf
	f.torn = false
	f.repairTail()
	f.mu.Unlock()
	if err := old.Close(); err != nil {
		return errors.Join(ferr, fmt.Errorf("close rotated %s: %w", f.path, err))
	}
	return ferr
}

// Close closes the file; later writes fail with ErrClosed.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	ferr := f.flushLocked()
	if err := f.f.Close(); err != nil {
		return errors.Join(ferr, fmt.Errorf("close %s: %w", f.path, err))
	}
	return ferr
}
