package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/auditrules"
	"github.com/auditlkm/auditlkm/internal/guard"
	"github.com/auditlkm/auditlkm/internal/netlink"
)

// session is the daemon's hold on the kernel: the netlink client, the
// audit rules it loaded and the guard that keeps them. Close hands the
// kernel back, once.
type session struct {
	client *netlink.Client
	guard  *guard.Guard // nil when no rules are loaded
	added  [][]byte     // rules loaded at start, when there is no guard
	log    *slog.Logger

	once     sync.Once
	closeErr error
}

// openSession opens the netlink client and, with cfg.LoadRules, loads what
// the kernel lacks of want and starts guarding it.
func openSession(cfg Config, want guard.WantFunc, reg prometheus.Registerer, log *slog.Logger) (*session, error) {
	nm, err := netlink.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	client, err := netlink.Open(cfg.Audit, log.With("component", "netlink"), nm)
	if err != nil {
		return nil, err
	}
	s := &session{client: client, log: log}
	log.Info("reading the kernel audit stream", "mode", client.Mode())
	if err := reg.Register(client.Collector()); err != nil {
		return nil, errors.Join(fmt.Errorf("register netlink collector: %w", err), s.Close())
	}
	if !cfg.LoadRules || s.immutable() {
		return s, nil
	}
	if s.added, err = loadWantedRules(client.Control(), want, log); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	gm, err := guard.NewMetrics(reg)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	gcfg := cfg.Guard
	gcfg.RestoreEnabled = client.Mode() == netlink.ModeUnicast
	g, err := guard.New(gcfg, client.Control(), want, s.added, log.With("component", "guard"), gm)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.guard, s.added = g, nil // the guard owns our rules now
	// CONFIG_CHANGE records trigger a rule check, seen by the reader even
	// when the queue to the detections overflows.
	client.AddHook(g.ObserveBatch)
	return s, nil
}

// immutable reports a locked kernel (auditctl -e 2), which refuses every
// rule change: it says so, and the daemon keeps reading rather than fail.
func (s *session) immutable() bool {
	st, err := s.client.Control().Status()
	if err != nil || !st.Immutable() {
		return false
	}
	s.log.Warn("not loading audit rules", "err", auditrules.CheckImmutable(st.Enabled))
	return true
}

// Close hands the kernel back: our rules out (the guard disarmed first, so
// that our own unload is not repaired), the pid released, the settings
// restored. It runs once, from the loop's shutdown or from Run's end.
func (s *session) Close() error {
	s.once.Do(func() {
		var errs []error
		if s.guard != nil {
			errs = append(errs, s.guard.Unload())
		}
		if len(s.added) > 0 {
			if err := auditrules.Unload(s.client.Control(), s.added); err != nil {
				errs = append(errs, fmt.Errorf("unload audit rules: %w", err))
			} else {
				s.log.Info("removed the audit rules auditlkm loaded", "rules", len(s.added))
			}
		}
		errs = append(errs, s.client.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// loadWantedRules loads what the kernel lacks of the wanted rules (the
// embedded audit.rules.d plus the configuration's watches), returning
// exactly what was added.
func loadWantedRules(l auditrules.Loader, want guard.WantFunc, log *slog.Logger) ([][]byte, error) {
	parsed, err := want()
	if err != nil {
		return nil, err
	}
	res, err := auditrules.Load(l, parsed)
	if err != nil {
		return nil, err
	}
	for _, r := range res.Skipped {
		log.Debug("audit rule line not loaded", "file", r.File, "line", r.Line, "text", r.Text)
	}
	log.Info("loaded audit rules", "added", len(res.Added), "skipped", len(res.Skipped), "wanted", len(parsed))
	return res.Added, nil
}
