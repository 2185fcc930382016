package daemon

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/auditlkm/auditlkm/internal/kmsg"
)

// kmsgQueue bounds the kernel log lines between the reader and the
// processor; the reader waits when it is full (the kernel ring buffer then
// holds the rest, and an overrun is counted).
const kmsgQueue = 256

// startKmsg opens the kernel log and reads it in g until ctx ends,
// returning the channel of lines for the processor loop (nil when
// disabled or unavailable: the daemon runs on audit alone then).
func (d *daemon) startKmsg(ctx context.Context, g *errgroup.Group) <-chan *kmsg.Line {
	log := d.log.With("component", "kmsg")
	if !d.cfg.KmsgOn {
		// Off by flag, or by default because the device could not be
		// opened (kernel.dmesg_restrict=1 without CAP_SYSLOG, a container
		// without the device): say so, the kernel-log detections are dark.
		log.Warn("kernel log not read: the kernel-log detections (taint, signature, rejection lines) are off",
			"path", d.cfg.Kmsg.Path, "hint", "reading it needs CAP_SYSLOG when kernel.dmesg_restrict=1; --kmsg.enable")
		return nil
	}
	m, err := kmsg.NewMetrics(d.deps.Registry)
	if err != nil {
		log.Warn("kernel log not read", "err", err)
		return nil
	}
	r, err := kmsg.Open(d.cfg.Kmsg, log, m)
	if err != nil {
		log.Warn("kernel log not read", "err", err)
		return nil
	}
	ch := make(chan *kmsg.Line, kmsgQueue)
	g.Go(func() error {
		if err := r.Run(ctx, ch); err != nil {
			log.Error("kernel log reader stopped", "err", err) // audit detection goes on
		}
		return nil
	})
	log.Info("reading the kernel log", "path", d.cfg.Kmsg.Path, "backlog", d.cfg.Kmsg.Backlog)
	return ch
}
