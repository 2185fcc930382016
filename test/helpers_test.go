package test

import (
	"io"
	"log/slog"
	"os"
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

// copyFile copies src to a new file dst whose mode is exactly perm (an
// OpenFile mode is masked by the umask: it is set again after).
func copyFile(t *testing.T, src, dst string, perm os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, perm); err != nil {
		t.Fatal(err)
	}
}
