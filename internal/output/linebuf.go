package output

import (
	"bytes"
	"io"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// lineBuf queues whole lines for a Stream or a File and accounts for them
// line by line: a line is written once write(2) took all of it, lost when
// a failed or short write left it out. A short write never leaves half a
// line behind on purpose: a File cuts the partial line off again
// (ftruncate), and when that is impossible (stdout, a pipe) the next write
// starts with a newline so the fragment stays a line of its own.
type lineBuf struct {
	buf   []byte
	lines int  // complete lines in buf
	torn  bool // the destination ends mid-line: write a newline first

	name    string
	m       *Metrics
	written atomic.Uint64
	lost    atomic.Uint64
}

// bind names the buffer in metrics (called by NewFanout).
func (b *lineBuf) bind(name string, m *Metrics) { b.name, b.m = name, m }

// Lost returns how many lines were lost so far.
func (b *lineBuf) Lost() uint64 { return b.lost.Load() }

// Written returns how many lines were written so far.
func (b *lineBuf) Written() uint64 { return b.written.Load() }

func (b *lineBuf) add(line []byte) {
	b.buf = append(append(b.buf, line...), '\n')
	b.lines++
}

// flush writes the queued lines to w with one write call. f, when set, is
// the regular file w writes to: a partial line is cut off it again.
func (b *lineBuf) flush(w io.Writer, f *os.File) error {
	if len(b.buf) == 0 {
		return nil
	}
	lines := b.lines
	defer b.reset()
	if b.torn {
		if _, err := w.Write([]byte{'\n'}); err != nil {
			b.count(0, lines)
			return err
		}
		b.torn = false
	}
	n, err := w.Write(b.buf)
	if err == nil && n != len(b.buf) {
		err = io.ErrShortWrite
	}
	if err == nil {
		b.count(lines, 0)
		return nil
	}
	n = min(max(n, 0), len(b.buf))
	done := b.buf[:n]
	whole := bytes.Count(done, []byte{'\n'})
	if partial := n - (bytes.LastIndexByte(done, '\n') + 1); partial > 0 && !cutTail(f, int64(partial)) {
		b.torn = true
	}
	b.count(whole, lines-whole)
	return err
}

func (b *lineBuf) count(written, lost int) {
	if written > 0 {
		b.written.Add(uint64(written))
		b.m.add(writtenV, b.name, written)
	}
	if lost > 0 {
		b.lost.Add(uint64(lost))
		b.m.add(lostV, b.name, lost)
		b.m.inc(errs, b.name)
	}
}

func (b *lineBuf) reset() {
	b.buf, b.lines = b.buf[:0], 0
	if cap(b.buf) > keepBufBytes {
		b.buf = nil
	}
}

// cutTail removes the last n bytes of the regular file f (the partial line
// a short write appended). It reports false when it could not.
func cutTail(f *os.File, n int64) bool {
	if f == nil {
		return false
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() < n {
		return false
	}
	return f.Truncate(st.Size()-n) == nil
}

// tornTail reports whether the regular file at path ends without a
// newline: a line cut by a crash or a full disk (ours or another
// writer's). It reads the last byte through its own descriptor.
func tornTail(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
		return false
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], st.Size()-1); err != nil {
		return false
	}
	return last[0] != '\n'
}
