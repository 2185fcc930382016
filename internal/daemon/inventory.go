package daemon

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/inventory"
	"github.com/auditlkm/auditlkm/internal/pipeline"
)

// inventoryQueue bounds the cross-view findings between the module
// inventory and the processor loop; the inventory waits when it is full.
const inventoryQueue = 64

// startInventory builds the module inventory (internal/inventory), hooks
// it on p's events (loads and unloads, with the correlation store's view
// of them) and runs it in g until ctx ends. It returns the channel of its
// findings for the processor loop and the function that saves it after
// the loop's last event; both are no-ops when the inventory is off.
func (d *daemon) startInventory(ctx context.Context, g *errgroup.Group, p *pipeline.Processor) (<-chan *detections.CrossViewFinding, func()) {
	if !d.cfg.InventoryOn {
		return nil, func() {}
	}
	log := d.log.With("component", "inventory")
	m, err := inventory.NewMetrics(d.deps.Registry)
	if err != nil {
		log.Warn("module inventory not kept", "err", err)
		return nil, func() {}
	}
	cfg := d.cfg.Inventory
	cfg.StateDir = d.cfg.Correlate.StateDir
	ch := make(chan *detections.CrossViewFinding, inventoryQueue)
	emit := func(ctx context.Context, f *detections.CrossViewFinding) {
		select {
		case ch <- f:
		case <-ctx.Done():
		}
	}
	c, err := inventory.New(cfg, log, m, emit)
	if err != nil {
		log.Warn("module inventory not kept", "err", err)
		return nil, func() {}
	}
	p.OnEvent(c.Observe)
	g.Go(func() error { return c.Run(ctx) })
	return ch, func() {
		// The loads of the drain after the inventory stopped.
		if err := c.Save(); err != nil {
			log.Error("save inventory", "err", err)
		}
	}
}
