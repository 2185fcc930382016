package kmsg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auditlkm/auditlkm/internal/rules"
)

// Reader reads kernel log records from /dev/kmsg.
type Reader struct {
	cfg Config
	fd  int
	m   *Metrics
	log *slog.Logger
	buf []byte
	// Counts, readable after Run returns.
	Lines, Overruns, ParseErrors uint64
}

// Open opens the kernel log device for non-blocking reads.
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
	return &Reader{cfg: cfg, fd: fd, m: m, log: log, buf: make([]byte, MaxRecordBytes)}, nil
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
func (r *Reader) Run(ctx context.Context, out chan<- *rules.KernelLogLine) error {
	defer close(out)
	defer unix.Close(r.fd)
	pfd := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
	wait := int(r.cfg.PollInterval / time.Millisecond)
	for ctx.Err() == nil {
		n, err := unix.Read(r.fd, r.buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			if _, err := unix.Poll(pfd, wait); err != nil && !errors.Is(err, unix.EINTR) {
				return fmt.Errorf("poll kmsg: %w", err)
			}
			continue
		case errors.Is(err, unix.EPIPE):
			// The ring buffer overwrote what we had not read yet; the
			// next read returns the oldest record still held.
			r.Overruns++
			r.m.inc(func(m *Metrics) prometheusCounter { return m.overruns })
			r.log.Warn("kernel log records overwritten before they were read")
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("read kmsg: %w", err)
		case n == 0:
			continue
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

// WallTime converts a kernel log timestamp (time since boot on the
// monotonic clock /dev/kmsg uses) to wall-clock time.
func WallTime(since time.Duration) time.Time {
	var ts unix.Timespec
	now := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return now
	}
	return now.Add(since - time.Duration(ts.Nano()))
}
