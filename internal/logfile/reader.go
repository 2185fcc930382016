package logfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/interrupt"
)

// StdinPath is the input name that means the stdin reader given to Open.
const StdinPath = "-"

// stdinName is how stdin is named in errors, OnSkip and Progress.
const stdinName = "<stdin>"

// Bounds of Config.
const (
	// DefaultBufferBytes is the default read buffer: large enough that a
	// refill (and a batch flush) happens once per ~1000 typical lines.
	DefaultBufferBytes = 256 << 10
	// MinBufferBytes and MaxBufferBytes bound Config.BufferBytes.
	MinBufferBytes = 16
	MaxBufferBytes = 64 << 20
	// MaxLineBytesLimit bounds Config.MaxLineBytes.
	MaxLineBytesLimit = 16 << 20
	// MaxInputs bounds the number of inputs after rotated sets are expanded.
	MaxInputs = 1 << 16
)

// flushEvery bounds how many lines may be counted locally before the
// counters are published, so that Progress lags by a bounded amount.
const flushEvery = 4096

// gzipMagic starts every gzip member (RFC 1952).
var gzipMagic = [2]byte{0x1f, 0x8b}

// Errors returned by Open and Next.
var (
	// ErrNoInputs: Open was given no paths.
	ErrNoInputs = errors.New("no inputs")
	// ErrNoStdin: "-" was given but the stdin reader is nil, or "-" was
	// given more than once.
	ErrNoStdin = errors.New("stdin not available")
	// ErrClosed: Next was called after Close.
	ErrClosed = errors.New("reader closed")
	// ErrTooManyInputs: more than MaxInputs files after expansion.
	ErrTooManyInputs = errors.New("too many inputs")
)

// Config configures a Reader.
type Config struct {
	// MaxLineBytes is the longest line accepted, without its line ending.
	// Longer lines are discarded up to the next newline (never buffered
	// whole) and counted as ReasonTooLong. Default auditevent.MaxRecordLen;
	// auditevent.ParseLine rejects records longer than that anyway.
	MaxLineBytes int
	// BufferBytes is the size of the read buffer. It is raised to
	// MaxLineBytes+2 if smaller. Default DefaultBufferBytes.
	BufferBytes int
	// NoExpand reads every path exactly as given instead of expanding
	// directories and rotated sets with ExpandRotated.
	NoExpand bool
	// OnSkip, if set, is called from Next for every skipped (non-blank)
	// line with the input's name ("<stdin>" for stdin), the 1-based line
	// number within that input and the reason, which wraps one of the
	// auditevent sentinel errors (see ReasonOf). It must not call the
	// Reader.
	OnSkip func(path string, line int, err error)
	// OnDamaged, if set, is called from Next for every input file that
	// could not be opened or read to the end (a truncated gzip archive):
	// the lines read before the error were handed out, the rest of the
	// file is skipped and reading goes on with the next input (Damaged
	// lists them). Errors of stdin end the reading instead.
	OnDamaged func(path string, err error)
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{
		MaxLineBytes: auditevent.MaxRecordLen,
		BufferBytes:  DefaultBufferBytes,
	}
}

// Validate reports a configuration error.
func (c Config) Validate() error {
	if c.MaxLineBytes < 1 || c.MaxLineBytes > MaxLineBytesLimit {
		return fmt.Errorf("validate logfile config: max line bytes %d not in [1, %d]", c.MaxLineBytes, MaxLineBytesLimit)
	}
	if c.BufferBytes < MinBufferBytes || c.BufferBytes > MaxBufferBytes {
		return fmt.Errorf("validate logfile config: buffer bytes %d not in [%d, %d]", c.BufferBytes, MinBufferBytes, MaxBufferBytes)
	}
	return nil
}

// bufferSize is the effective read buffer size: a line of MaxLineBytes
// plus "\r\n" always fits, so bufio.ErrBufferFull means "too long".
func (c Config) bufferSize() int {
	return max(c.BufferBytes, c.MaxLineBytes+2)
}

// input is one file (or stdin) to read.
type input struct {
	path    string // as opened; StdinPath for stdin
	name    string // as reported
	regular bool   // a regular file: reads never block for long
}

// Reader yields records from a sequence of inputs, in order. Next and Close
// must be called from one goroutine; Progress is safe for concurrent use.
type Reader struct {
	// arena holds the text of the records handed out (see auditevent.Arena).
	arena   auditevent.Arena
	cfg     Config
	inputs  []input
	stdin   io.Reader
	metrics *Metrics
	total   int64

	next int // index of the next input to open

	// Current input. cur is src for plain text, zbr for gzip.
	file  *os.File
	async *interrupt.Reader // the current input when it may block (stdin, a FIFO)
	stop  chan struct{}     // closed by Stop
	// stopOnce and curAsync are shared with Stop's goroutine.
	stopOnce sync.Once
	curAsync atomic.Pointer[interrupt.Reader]
	name     string
	lineNo   int
	src      *bufio.Reader // over the counted raw input
	zr       *gzip.Reader  // reused across gzip inputs
	zbr      *bufio.Reader // over zr; allocated at the first gzip input
	cur      *bufio.Reader
	eof      bool // cur returned io.EOF with a final unterminated line
	raw      countingReader

	damaged   []error // inputs skipped: could not be opened or read to the end
	local     counts  // not yet published
	sinceSync int
	err       error // sticky: a read error, ErrClosed
	shared    sharedCounts
}

// countingReader counts the bytes read from the underlying input.
type countingReader struct {
	r       io.Reader
	shared  *sharedCounts
	pending int64 // bytes not yet added to the metrics
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.shared.bytesRead.Add(int64(n))
		c.pending += int64(n)
	}
	return n, err
}

// Open prepares a Reader over paths, read in order. StdinPath ("-") means
// stdin (at most once). Unless cfg.NoExpand is set, each other path is
// expanded by ExpandRotated (a directory becomes its audit.log set, a file
// its rotated set) and a file listed twice is read once. Files are stat'ed
// now (a missing file is an error here) but opened one after another by
// Next. Gzip input is recognised by its magic bytes, not by its name. m may
// be nil. The caller must Close the Reader; Close never closes stdin.
func Open(cfg Config, paths []string, stdin io.Reader, m *Metrics) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("open logfile reader: %w", ErrNoInputs)
	}
	r := &Reader{cfg: cfg, stdin: stdin, metrics: m, stop: make(chan struct{})}
	seen := make(map[string]bool)
	haveStdin := false
	for _, p := range paths {
		if p == StdinPath {
			if stdin == nil || haveStdin {
				return nil, fmt.Errorf("open logfile reader: %w", ErrNoStdin)
			}
			haveStdin = true
			r.inputs = append(r.inputs, input{path: StdinPath, name: stdinName})
			continue
		}
		files := []string{p}
		if !cfg.NoExpand {
			var err error
			if files, err = ExpandRotated(p); err != nil {
				return nil, fmt.Errorf("open logfile reader: %w", err)
			}
		}
		for _, f := range files {
			key := filepath.Clean(f)
			if seen[key] {
				continue
			}
			seen[key] = true
			fi, err := os.Stat(f)
			if err != nil {
				return nil, fmt.Errorf("open logfile reader: %w", err)
			}
			if fi.IsDir() {
				return nil, fmt.Errorf("open logfile reader: %s is a directory", f)
			}
			if fi.Mode().IsRegular() {
				r.total += fi.Size()
			}
			if len(r.inputs) == MaxInputs {
				return nil, fmt.Errorf("open logfile reader: %w (more than %d)", ErrTooManyInputs, MaxInputs)
			}
			r.inputs = append(r.inputs, input{path: f, name: f, regular: fi.Mode().IsRegular()})
		}
	}
	r.raw.shared = &r.shared
	return r, nil
}

// Inputs returns the names of the inputs in reading order, after expansion.
func (r *Reader) Inputs() []string {
	out := make([]string, len(r.inputs))
	for i, in := range r.inputs {
		out[i] = in.name
	}
	return out
}

// Position returns the input name and 1-based line number of the last line
// read (the line of the record Next just returned). Like Next, it must be
// called from the reading goroutine.
func (r *Reader) Position() (name string, line int) { return r.name, r.lineNo }

// Progress returns a snapshot of the counters. It is safe to call from any
// goroutine while another one calls Next.
func (r *Reader) Progress() Progress {
	s := &r.shared
	p := Progress{
		BytesRead:  s.bytesRead.Load(),
		BytesTotal: r.total,
		File:       int(s.file.Load()),
		Files:      len(r.inputs),
		Lines:      s.lines.Load(),
		Records:    s.records.Load(),
		Blank:      s.blank.Load(),
		Skipped: Skipped{
			NoHeader:    s.skipped[ReasonNoHeader-1].Load(),
			NoType:      s.skipped[ReasonNoType-1].Load(),
			UnknownType: s.skipped[ReasonUnknownType-1].Load(),
			TooLong:     s.skipped[ReasonTooLong-1].Load(),
			Other:       s.skipped[ReasonOther-1].Load(),
		},
	}
	if p.File > 0 {
		p.Path = r.inputs[p.File-1].name
	}
	p.Damaged = int(s.damaged.Load())
	return p
}

// Next returns the next record of the inputs. It returns io.EOF after the
// last input, the context's error once ctx is done (checked before every
// line) and a wrapped I/O error, naming the path, if an input cannot be
// opened or read; after an I/O error every call returns it again. Lines
// that do not parse are counted and reported to Config.OnSkip, never
// returned as errors. A Next blocked in a read of stdin returns only when
// that read does.
func (r *Reader) Next(ctx context.Context) (auditevent.Record, error) {
	for {
		if r.err != nil {
			return auditevent.Record{}, r.err
		}
		if err := ctx.Err(); err != nil {
			r.flush()
			return auditevent.Record{}, err
		}
		if r.cur == nil {
			if err := r.openNext(ctx); err != nil {
				r.flush()
				if errors.Is(err, io.EOF) {
					return auditevent.Record{}, err
				}
				if r.skipInput(ctx, err) {
					continue
				}
				r.err = err
				return auditevent.Record{}, err
			}
		}
		if r.eof {
			r.closeCurrent()
			continue
		}
		if r.cur.Buffered() == 0 || r.sinceSync >= flushEvery {
			// The next read may block (stdin): publish first.
			r.flush()
		}
		if r.async != nil {
			r.async.SetContext(ctx)
		}
		line, err := r.cur.ReadSlice('\n')
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			if err := r.skipLong(ctx, len(line)); err != nil {
				return auditevent.Record{}, err
			}
			continue
		case errors.Is(err, io.EOF):
			if len(line) == 0 {
				r.closeCurrent()
				continue
			}
			r.eof = true // a final line without newline
		case errors.Is(err, interrupt.ErrStopped):
			// Stop: the lines read whole were handed out; a partial
			// last line is not a record.
			r.closeCurrent()
			r.next = len(r.inputs)
			return auditevent.Record{}, io.EOF
		default:
			err = fmt.Errorf("read %s: %w", r.name, err)
			r.closeCurrent()
			r.flush()
			if r.skipInput(ctx, err) {
				continue
			}
			r.err = err
			return auditevent.Record{}, r.err
		}
		r.lineNo++
		r.local.lines++
		r.sinceSync++
		if isBlank(line) {
			r.local.blank++
			continue
		}
		body := trimEOL(line)
		if len(body) > r.cfg.MaxLineBytes {
			r.skip(tooLongError(len(body), r.cfg.MaxLineBytes, r.cfg.OnSkip != nil))
			continue
		}
		rec, err := auditevent.ParseLineArena(body, &r.arena)
		if err != nil {
			r.skip(err)
			continue
		}
		r.local.records++
		return rec, nil
	}
}

// maxBatch bounds the records NextBatch appends in one call.
const maxBatch = 256

// NextBatch appends to dst the next record, waiting for it as Next does,
// then the records whose lines are already buffered (complete lines only,
// at most maxBatch in all), so that a batch never waits for input that has
// not arrived (except after a buffered line that does not parse, which
// Next skips on its way to the following one). It returns the extended slice and the error Next would
// return when no record could be appended: an error met after the first
// record is returned by the next call (Next's errors repeat).
func (r *Reader) NextBatch(ctx context.Context, dst []auditevent.Record) ([]auditevent.Record, error) {
	rec, err := r.Next(ctx)
	if err != nil {
		return dst, err
	}
	dst = append(dst, rec)
	for n := 1; n < maxBatch && r.lineBuffered(); n++ {
		rec, err := r.Next(ctx)
		if err != nil {
			break
		}
		dst = append(dst, rec)
	}
	return dst, nil
}

// lineBuffered reports whether the current input holds a complete line
// that can be read without a read call, or is a regular file, whose reads
// do not wait for input to arrive (and whose lines need not be scanned
// twice to know).
func (r *Reader) lineBuffered() bool {
	if r.cur == nil || r.eof {
		return false
	}
	if r.file != nil {
		return true
	}
	n := r.cur.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.cur.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

// errTooLong is the allocation-free too-long error used when nobody reads
// the message.
var errTooLong = fmt.Errorf("line longer than the limit: %w", auditevent.ErrTooLong)

func tooLongError(n, limit int, detailed bool) error {
	if !detailed {
		return errTooLong
	}
	return fmt.Errorf("line of %d bytes longer than %d: %w", n, limit, auditevent.ErrTooLong)
}

// skip counts a skipped line and reports it.
func (r *Reader) skip(err error) {
	r.local.skipped[ReasonOf(err)-1]++
	if r.cfg.OnSkip != nil {
		r.cfg.OnSkip(r.name, r.lineNo, err)
	}
}

// skipLong discards the rest of a line that filled the whole buffer (n
// bytes so far) and counts it as one too-long line. Each step consumes a
// full buffer, so the loop ends with the input; ctx is checked per step.
func (r *Reader) skipLong(ctx context.Context, n int) error {
	for {
		if err := ctx.Err(); err != nil {
			r.flush()
			return err
		}
		r.flush() // the refill below may block
		chunk, err := r.cur.ReadSlice('\n')
		n += len(chunk)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		r.lineNo++
		r.local.lines++
		r.sinceSync++
		r.skip(tooLongError(n-(len(chunk)-len(trimEOL(chunk))), r.cfg.MaxLineBytes, r.cfg.OnSkip != nil))
		switch {
		case err == nil:
			return nil
		case errors.Is(err, io.EOF):
			r.eof = true
			return nil
		default:
			err = fmt.Errorf("read %s: %w", r.name, err)
			r.closeCurrent()
			r.flush()
			if r.skipInput(ctx, err) {
				return nil
			}
			r.err = err
			return r.err
		}
	}
}

// skipInput decides what an error opening or reading the current input
// means: for a file (a damaged member of a rotated set: a truncated gzip
// archive, an unreadable file) it is recorded (Damaged, Config.OnDamaged)
// and reading goes on with the next input; it reports false for stdin, a
// cancelled context and Stop, which end the reading.
func (r *Reader) skipInput(ctx context.Context, err error) bool {
	if r.name == stdinName || ctx.Err() != nil || errors.Is(err, interrupt.ErrStopped) {
		return false
	}
	r.damaged = append(r.damaged, err)
	r.shared.damaged.Add(1)
	if r.cfg.OnDamaged != nil {
		r.cfg.OnDamaged(r.name, err)
	}
	return true
}

// Damaged returns the errors of the inputs that could not be read to the
// end (each names its file), in reading order.
func (r *Reader) Damaged() []error { return r.damaged }

// openNext opens the next input and sniffs it for gzip. It returns io.EOF
// when no input is left.
func (r *Reader) openNext(ctx context.Context) error {
	if r.next >= len(r.inputs) {
		return io.EOF
	}
	in := r.inputs[r.next]
	r.next++
	r.shared.file.Store(int64(r.next))
	r.name, r.lineNo, r.eof = in.name, 0, false
	var src io.Reader
	switch {
	case in.path == StdinPath && mayBlock(r.stdin):
		r.async = interrupt.NewReader(r.stdin)
		src = r.async
	case in.path == StdinPath:
		src = r.stdin
	case !in.regular:
		// A FIFO or a device: opening it may wait for a writer, reading
		// it for data; both give way to ctx and Stop.
		r.async = interrupt.OpenReader(in.path)
		src = r.async
	default:
		f, err := os.Open(in.path)
		if err != nil {
			return fmt.Errorf("open %s: %w", in.path, err)
		}
		r.file, src = f, f
	}
	if r.async != nil {
		r.async.SetContext(ctx) // the gzip sniffing below reads
		r.curAsync.Store(r.async)
		select {
		case <-r.stop:
			r.async.Stop()
		default:
		}
	}
	r.raw.r = src
	if r.src == nil {
		r.src = bufio.NewReaderSize(&r.raw, r.cfg.bufferSize())
	} else {
		r.src.Reset(&r.raw)
	}
	r.cur = r.src
	magic, err := r.src.Peek(len(gzipMagic))
	if err != nil && err != io.EOF {
		r.closeCurrent()
		return fmt.Errorf("read %s: %w", in.name, err)
	}
	if len(magic) == len(gzipMagic) && magic[0] == gzipMagic[0] && magic[1] == gzipMagic[1] {
		if r.zr == nil {
			r.zr = new(gzip.Reader)
		}
		if err := r.zr.Reset(r.src); err != nil {
			r.closeCurrent()
			return fmt.Errorf("read gzip %s: %w", in.name, err)
		}
		if r.zbr == nil {
			r.zbr = bufio.NewReaderSize(r.zr, r.cfg.bufferSize())
		} else {
			r.zbr.Reset(r.zr)
		}
		r.cur = r.zbr
	}
	return nil
}

// closeCurrent closes the current input (not stdin) and publishes its
// counts.
func (r *Reader) closeCurrent() {
	if r.file != nil {
		_ = r.file.Close() // read-only: nothing to lose
		r.file = nil
	}
	if r.async != nil {
		_ = r.async.Close() // closes a FIFO it opened, never stdin
		r.curAsync.Store(nil)
		r.async = nil
	}
	r.cur = nil
	r.eof = false
	r.raw.r = nil
	r.flush()
}

// flush publishes the local counts to Progress and the metrics.
func (r *Reader) flush() {
	r.shared.add(&r.local)
	r.metrics.add(&r.local, r.raw.pending)
	r.local = counts{}
	r.raw.pending = 0
	r.sinceSync = 0
}

// Stop makes Next return io.EOF once it has handed out the records already
// read whole, even while it waits for stdin or a FIFO (a partial last line
// is dropped; regular files are read to the end). It may be called from
// any goroutine, once or more (daemon.PluginConfig.Stop).
func (r *Reader) Stop() error {
	r.stopOnce.Do(func() { close(r.stop) })
	if a := r.curAsync.Load(); a != nil {
		a.Stop()
	}
	return nil
}

// mayBlock reports whether reads of r may wait indefinitely: an *os.File
// that is not a regular file (a terminal, a pipe, a socket).
func mayBlock(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err != nil || !st.Mode().IsRegular()
}

// Close closes the current file and publishes the counters. It does not
// close stdin. Next returns ErrClosed afterwards. Close is idempotent.
func (r *Reader) Close() error {
	if errors.Is(r.err, ErrClosed) {
		return nil
	}
	r.closeCurrent()
	r.err = ErrClosed
	r.next = len(r.inputs)
	return nil
}

// isBlank reports whether line holds only spaces, tabs and its line ending.
func isBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// trimEOL removes a trailing "\n" or "\r\n".
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}
