package test

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/correlate"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// replayStore is the correlation store replay uses: events only, no
// /proc, nothing persisted.
func replayStore(t *testing.T) *correlate.Store {
	t.Helper()
	ccfg := correlate.DefaultConfig()
	ccfg.StateDir, ccfg.ProcRoot, ccfg.ReadModuleFiles = "", "", false // as auditlkm replay
	cm, err := correlate.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	store, err := correlate.New(ccfg, discard(), cm)
	if err != nil {
		t.Fatal(err)
	}
	return store
}
