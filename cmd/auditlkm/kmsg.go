package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/auditlkm/auditlkm/internal/kmsg"
	"github.com/auditlkm/auditlkm/internal/rules"
)

// kmsgQueue bounds the kernel log lines between the reader and the
// pipeline; the reader waits when it is full (the kernel ring buffer then
// holds the rest, and an overrun is counted).
const kmsgQueue = 256

// kmsgOptions are run's kernel log flags.
type kmsgOptions struct {
	enable bool
	cfg    kmsg.Config
}

func (o *kmsgOptions) bind(f *pflag.FlagSet) {
	o.cfg = kmsg.DefaultConfig()
	f.BoolVar(&o.enable, "kmsg.enable", kmsg.Readable(o.cfg.Path), "Read the kernel log (/dev/kmsg) for module taint, signature, rejection and bpf_probe_write_user messages. Default true when /dev/kmsg is readable.")
	f.StringVar(&o.cfg.Path, "kmsg.path", o.cfg.Path, "Kernel log device. Default /dev/kmsg.")
	f.BoolVar(&o.cfg.Backlog, "kmsg.backlog", o.cfg.Backlog, "Also match the kernel log records already in the ring buffer at start (taint messages are printed once per boot). Default true.")
}

// start opens the kernel log and reads it in g until ctx ends, returning
// the channel of lines for pipeline.LiveOptions.KernelLog (nil when
// disabled or unavailable: the daemon runs on audit alone then).
func (o *kmsgOptions) start(ctx context.Context, g *errgroup.Group, reg prometheus.Registerer, log *slog.Logger) <-chan *rules.KernelLogLine {
	if !o.enable {
		return nil
	}
	log = log.With("component", "kmsg")
	r, err := kmsg.Open(o.cfg, log, kmsg.NewMetrics(reg))
	if err != nil {
		log.Warn("kernel log not read", "err", err)
		return nil
	}
	ch := make(chan *rules.KernelLogLine, kmsgQueue)
	g.Go(func() error {
		if err := r.Run(ctx, ch); err != nil {
			log.Error("kernel log reader stopped", "err", err) // audit detection goes on
		}
		return nil
	})
	log.Info("reading the kernel log", "path", o.cfg.Path, "backlog", o.cfg.Backlog)
	return ch
}
