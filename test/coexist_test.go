package test

import (
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditdtest"
	"github.com/auditlkm/auditlkm/internal/auditrules"
	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// TestCoexistsWithAuditd is the coexistence scenario: Debian's
// auditd holds the audit pid with rules of its own (one of them identical
// to one of ours but for the key, as upstream's 23-ignore-filesystems
// ships it); "auditlkm run" comes up in multicast, loads only its own
// rules, and after it exits auditd still holds the pid and every auditd
// rule is still there, and none of ours is.
func TestCoexistsWithAuditd(t *testing.T) {
	snap := kerneltest.Require(t)
	ad := auditdtest.Start(t, auditdtest.Options{Rules: [][]string{
		{"-a", "always,exit", "-F", "arch=b64", "-S", "kexec_load", "-k", "auditd-coexist"},
		{"-a", "never,filesystem", "-F", "fstype=tracefs"},
	}})
	auditd, err := snap.Control.Rules()
	if err != nil {
		t.Fatal(err)
	}
	want := embedded(t)

	d := startDaemon(t)
	if !strings.Contains(d.stderr.String(), "mode=multicast") {
		t.Fatalf("daemon did not say it runs in multicast:\n%s", d.stderr)
	}
	diff := kernelDiff(t, snap.Control, want)
	if len(diff.Missing) != 0 || len(diff.Ours) != loadable(want) {
		t.Fatalf("beside auditd: %d missing, %d ours of %d", len(diff.Missing), len(diff.Ours), loadable(want))
	}
	if len(diff.Others) != len(auditd) {
		t.Fatalf("auditd's rules changed while auditlkm loaded: %d others, auditd had %d", len(diff.Others), len(auditd))
	}
	d.stop(t)

	if !ad.Running() {
		t.Fatalf("auditd died: %s", ad.Stderr())
	}
	st, err := snap.Control.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != uint32(ad.PID) {
		t.Fatalf("audit pid %d after auditlkm exited, auditd is %d", st.PID, ad.PID)
	}
	after, err := snap.Control.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if !sameList(auditd, after) {
		var s []string
		for _, w := range after {
			c, _ := auditrules.ToCommandLine(w)
			s = append(s, c)
		}
		t.Fatalf("kernel rules after auditlkm exited differ from auditd's:\n%s", strings.Join(s, "\n"))
	}
}
