package interrupt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// ErrStopped is returned by Reader.Read after Stop.
var ErrStopped = errors.New("input stopped")

// OnSignal returns a context cancelled at the first SIGINT or SIGTERM, its
// cause naming the signal (context.Cause). Later signals are caught and
// ignored while the program shuts down (the daemon must still restore the
// kernel's audit settings). stop releases the signals.
func OnSignal(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-ch:
				cancel(fmt.Errorf("%w: %v", ErrSignal, s))
			}
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(context.Canceled)
		})
	}
}

// ErrSignal is the cause of a context OnSignal cancelled.
var ErrSignal = errors.New("interrupted by signal")

// Do runs f on a goroutine of its own and returns its result, or the
// context's cause as soon as ctx is done (f then runs on, its result
// dropped; a file it returns late is closed when it is an io.Closer).
func Do[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	var abandoned atomic.Bool
	go func() {
		v, err := f()
		if abandoned.Load() {
			if c, ok := any(v).(io.Closer); ok && err == nil {
				_ = c.Close()
			}
		}
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		abandoned.Store(true)
		select { // it may have finished meanwhile
		case r := <-ch:
			return r.v, r.err
		default:
		}
		var zero T
		return zero, context.Cause(ctx)
	}
}

// Reader reads from a source that may block forever (stdin, a FIFO) on a
// goroutine of its own, one read at a time, so that Read returns as soon as
// the context set by SetContext is done (its cause) or Stop was called
// (ErrStopped). What a read brought before that is handed out first. Read
// and SetContext must be called from one goroutine; Stop and Close from
// any.
type Reader struct {
	open func() (io.Reader, error) // when src is not open yet
	own  bool                      // Close closes src

	ctx  context.Context
	stop chan struct{}
	once sync.Once

	mu     sync.Mutex
	src    io.Reader
	closed bool

	busy bool
	res  chan result
	buf  []byte
	left []byte // read but not yet handed out
}

type result struct {
	n   int
	err error
}

// NewReader returns a Reader over r, which it never closes.
func NewReader(r io.Reader) *Reader {
	return &Reader{src: r, ctx: context.Background(), stop: make(chan struct{}), res: make(chan result, 1)}
}

// OpenReader returns a Reader over the file at path, opened (read-only) by
// its first Read, so that waiting for a FIFO's writer can be given up too.
// Close closes the file.
func OpenReader(path string) *Reader {
	r := NewReader(nil)
	r.own = true
	r.open = func() (io.Reader, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	return r
}

// SetContext sets the context of the next reads.
func (r *Reader) SetContext(ctx context.Context) { r.ctx = ctx }

// Stop makes the next (or the pending) Read return ErrStopped once what
// was already read is handed out. It may be called from any goroutine.
func (r *Reader) Stop() { r.once.Do(func() { close(r.stop) }) }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if len(r.left) > 0 {
		n := copy(p, r.left)
		r.left = r.left[n:]
		return n, nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !r.busy {
		select {
		case <-r.stop:
			return 0, ErrStopped
		default:
		}
		if cap(r.buf) < len(p) {
			r.buf = make([]byte, len(p))
		}
		r.buf = r.buf[:len(p)]
		r.busy = true
		go r.readOnce(r.buf)
	}
	select {
	case res := <-r.res:
		return r.deliver(p, res)
	case <-r.ctx.Done():
		return r.giveUp(p, context.Cause(r.ctx))
	case <-r.stop:
		return r.giveUp(p, ErrStopped)
	}
}

// giveUp returns what the pending read brought if it is there already,
// else err.
func (r *Reader) giveUp(p []byte, err error) (int, error) {
	select {
	case res := <-r.res:
		return r.deliver(p, res)
	default:
		return 0, err
	}
}

func (r *Reader) deliver(p []byte, res result) (int, error) {
	r.busy = false
	n := copy(p, r.buf[:res.n])
	r.left = r.buf[n:res.n]
	if len(r.left) > 0 && res.err == nil {
		return n, nil
	}
	return n, res.err
}

// readOnce opens the source if needed and reads once into buf.
func (r *Reader) readOnce(buf []byte) {
	r.mu.Lock()
	src, open, closed := r.src, r.open, r.closed
	r.mu.Unlock()
	if closed {
		r.res <- result{err: os.ErrClosed}
		return
	}
	if src == nil {
		s, err := open()
		if err != nil {
			r.res <- result{err: err}
			return
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			_ = closeIf(s) // opened after Close: nobody reads from it
			r.res <- result{err: os.ErrClosed}
			return
		}
		r.src, r.open, src = s, nil, s
		r.mu.Unlock()
	}
	n, err := src.Read(buf)
	r.res <- result{n: n, err: err}
}

// Close closes the file OpenReader opened (which ends a pending read of a
// FIFO); a source given to NewReader is left open.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.own && r.src != nil {
		return closeIf(r.src)
	}
	return nil
}

func closeIf(v any) error {
	if c, ok := v.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
