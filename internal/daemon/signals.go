package daemon

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// handleSignals reopens the outputs on SIGUSR1 (logrotate) and reloads the
// configuration on SIGHUP, until ctx is done.
func (d *daemon) handleSignals(ctx context.Context) error {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sig)
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-sig:
			switch s {
			case syscall.SIGUSR1:
				if err := d.outs.Reopen(); err != nil {
					d.log.Error("reopen outputs", "err", err)
				} else {
					d.log.Info("outputs reopened")
				}
			case syscall.SIGHUP:
				d.reload()
			}
		}
	}
}

// reloadTimeout bounds how long a reload waits for the processor.
const reloadTimeout = 5 * time.Second

// reload applies a new configuration: the detection catalog is swapped
// between two records on the processor's goroutine, watches are loaded or
// removed through the guard. The netlink socket is never touched, so no
// event in flight is lost. A configuration that does not load leaves the
// running one as it is.
func (d *daemon) reload() {
	fail := func(err error) { d.log.Error("configuration not reloaded; the running one stays", "err", err) }
	r, err := d.deps.Reload()
	if err != nil {
		fail(err)
		return
	}
	select {
	case d.reloads <- r.Catalog:
	case <-time.After(reloadTimeout):
		fail(fmt.Errorf("the pipeline did not take the new detections within %s", reloadTimeout))
		return
	}
	d.watches.Store(r.Watches)
	if gd := d.ks.guard; gd != nil {
		if res, err := gd.Check("reload"); err != nil {
			d.log.Error("apply watches after reload", "err", err)
		} else {
			d.log.Info("audit rules checked after reload", "result", fmt.Sprintf("%+v", res))
		}
	}
	d.log.Info("configuration reloaded", "file", r.Path, "detections", len(r.Catalog.Definitions()))
}
