package auditdtest

import (
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

func TestStartRunsAuditdAndCleanupLeavesTheKernelAsFound(t *testing.T) {
	snap := kerneltest.Require(t)
	rule := []string{"-a", "always,exit", "-F", "arch=b64", "-S", "kexec_load", "-k", "auditdtest-self"}
	t.Run("auditd holds the pid with its rule", func(t *testing.T) {
		d := Start(t, Options{Rules: [][]string{rule}})
		st, err := snap.Control.Status()
		if err != nil {
			t.Fatal(err)
		}
		if st.PID != uint32(d.PID) || st.Enabled != 1 {
			t.Fatalf("status %+v, auditd pid %d", st, d.PID)
		}
		if l := Auditctl(t, "-l"); !strings.Contains(l, "key=auditdtest-self") {
			t.Fatalf("rule not loaded: %s", l)
		}
		d.WaitLog(t, "DAEMON_START", StartTimeout)
		if !strings.HasPrefix(d.LogPath, d.Dir) {
			t.Fatalf("log %s outside %s", d.LogPath, d.Dir)
		}
	})
	st, err := snap.Control.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != snap.Status.PID || st.Enabled != snap.Status.Enabled {
		t.Fatalf("after cleanup: pid %d enabled %d; before: pid %d enabled %d", st.PID, st.Enabled, snap.Status.PID, snap.Status.Enabled)
	}
	if l := Auditctl(t, "-l"); strings.Contains(l, "auditdtest-self") {
		t.Fatalf("rule left behind: %s", l)
	}
}
