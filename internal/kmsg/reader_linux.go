package kmsg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Reader reads kernel log records from /dev/kmsg.
type Reader struct {
	cfg Config
	f   *os.File // non-blocking, in the Go runtime's poller
	m   *Metrics
	log *slog.Logger
	buf []byte
	// Counts, readable after Run returns.
	Lines, Overruns, ParseErrors uint64
}

// Open opens the kernel log device for reads through the Go runtime's
// poller.
//
// Why the poller: a reader that waited in poll(2) itself, as this one did
// with a timeout of 250 ms to look at its context, holds the process's
// only Go processor (GOMAXPROCS 1, the daemon's default) through each
// wait, and the runtime's monitor thread must take it back every time:
// each hand-off put that thread into 20 us polling for a millisecond and
// more, the cause of most of its wake-ups (15% of the daemon's CPU at
// 5,000 module loads a second). A read in the poller parks the goroutine
// and holds nothing.
func Open(cfg Config, log *slog.Logger, m *Metrics) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open kmsg: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fd, err := unix.Open(cfg.Path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open kmsg %s: %w", cfg.Path, err)
	}
	if !cfg.Backlog {
		if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
			_ = unix.Close(fd)
			return nil, fmt.Errorf("seek kmsg %s to the end: %w", cfg.Path, err)
		}
	}
	// A non-blocking fd makes a pollable File, if the poller takes it.
	f := os.NewFile(uintptr(fd), cfg.Path)
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open kmsg %s: cannot wait for it in the poller: %w", cfg.Path, err)
	}
	return &Reader{cfg: cfg, f: f, m: m, log: log, buf: make([]byte, MaxRecordBytes)}, nil
}

// Readable reports whether path can be opened for reading (the default of
// --kmsg.enable).
func Readable(path string) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	_ = unix.Close(fd)
	return true
}

// Run reads records until ctx is done, sending each to out, and closes the
// device and out before returning. It returns nil when ctx ends it.
func (r *Reader) Run(ctx context.Context, out chan<- *Line) error {
	defer close(out)
	defer r.f.Close()
	// The end of ctx ends a read waiting in the poller.
	stop := context.AfterFunc(ctx, func() { _ = r.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for ctx.Err() == nil {
		n, err := r.f.Read(r.buf)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue // ctx is done
		case errors.Is(err, unix.EPIPE):
			// The ring buffer overwrote what we had not read yet; the
			// next read returns the oldest record still held.
			r.Overruns++
			r.m.inc(func(m *Metrics) prometheusCounter { return m.overruns })
			r.log.Warn("kernel log records overwritten before they were read")
			continue
		case errors.Is(err, io.EOF):
			// /dev/kmsg never ends; another file would be read again
			// at once, for ever.
			return fmt.Errorf("read kmsg %s: unexpected end of file", r.cfg.Path)
		case err != nil:
			return fmt.Errorf("read kmsg: %w", err)
		}
		l, err := Parse(r.buf[:n])
		if err != nil {
			r.ParseErrors++
			r.m.inc(func(m *Metrics) prometheusCounter { return m.parseErrors })
			r.log.Debug("skip kernel log record", "err", err)
			continue
		}
		r.Lines++
		r.m.inc(func(m *Metrics) prometheusCounter { return m.lines })
		l.Time = WallTime(l.Monotonic)
		select {
		case out <- &l:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// WallTime converts a kernel log timestamp to wall-clock time.
//
// /dev/kmsg stamps each record with the kernel's local_clock(): time since
// boot that, like CLOCK_MONOTONIC and unlike CLOCK_BOOTTIME, does not
// advance while the machine is suspended. The boot instant on the wall
// clock is therefore CLOCK_REALTIME - CLOCK_MONOTONIC, read at each call
// (so it follows NTP steps of the wall clock). /proc/stat's btime and
// CLOCK_REALTIME - CLOCK_BOOTTIME (what dmesg -T uses) would date every
// line logged after a suspend too early by the time spent suspended. What
// remains is the drift between local_clock (the TSC) and the NTP-slewed
// monotonic clock: parts per million of the uptime.
func WallTime(since time.Duration) time.Time {
	var ts unix.Timespec
	now := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return now
	}
	return wallTime(since, now, time.Duration(ts.Nano()))
}

// wallTime is the wall-clock time of the kernel timestamp since, given the
// wall clock now and the monotonic clock mono read at the same instant.
func wallTime(since time.Duration, now time.Time, mono time.Duration) time.Time {
	return now.Add(since - mono)
}
