package kerneltest

import (
	"testing"

	"github.com/elastic/go-libaudit/v2/rule"
	"github.com/elastic/go-libaudit/v2/rule/flags"
)

func testRule(t *testing.T, text string) []byte {
	t.Helper()
	r, err := flags.Parse(text)
	if err != nil {
		t.Fatalf("parse rule %q: %v", text, err)
	}
	wire, err := rule.Build(r)
	if err != nil {
		t.Fatalf("build rule %q: %v", text, err)
	}
	return wire
}

func TestRestorePutsBackStatusAndRules(t *testing.T) {
	snap := Require(t)
	ctl := snap.Control
	t.Logf("kernel audit status before the test: %+v, %d rules", snap.Status, len(snap.Rules))

	wire := testRule(t, "-a always,exit -F arch=b64 -S finit_module -k auditlkm-kerneltest")
	if err := ctl.AddRule(wire); err != nil {
		t.Fatalf("add rule: %v", err)
	}
	if err := ctl.SetBacklogLimit(snap.Status.BacklogLimit + 17); err != nil {
		t.Fatalf("set backlog limit: %v", err)
	}
	if err := ctl.SetRateLimit(snap.Status.RateLimit + 5); err != nil {
		t.Fatalf("set rate limit: %v", err)
	}

	if problems := snap.restore(ctl); len(problems) != 0 {
		t.Fatalf("restore reported problems: %v", problems)
	}

	st, err := ctl.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.BacklogLimit != snap.Status.BacklogLimit || st.RateLimit != snap.Status.RateLimit {
		t.Errorf("after restore backlog limit %d rate limit %d, want %d %d",
			st.BacklogLimit, st.RateLimit, snap.Status.BacklogLimit, snap.Status.RateLimit)
	}
	rules, err := ctl.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != len(snap.Rules) {
		t.Errorf("after restore %d rules, want %d", len(rules), len(snap.Rules))
	}
	for _, r := range rules {
		if !snap.HasRule(r) {
			t.Errorf("rule added by the test survived restore")
		}
	}
}

func TestRestoreReportsNothingWhenUntouched(t *testing.T) {
	snap := Require(t)
	if problems := snap.restore(snap.Control); len(problems) != 0 {
		t.Fatalf("restore of an untouched kernel reported %v", problems)
	}
}
