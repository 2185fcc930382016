// Package kerneltest gates tests that use the real kernel audit subsystem
// and leaves the kernel as the test found it.
//
// Require skips a test on a machine without root or kernel audit, and fails
// it instead when AUDITLKM_REQUIRE_KERNEL=1 (CI). It serialises kernel use
// across packages and processes with an flock on LockPath, snapshots the
// audit status and rule list, and restores both in t.Cleanup. All kernel
// access goes through internal/netlink.
package kerneltest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/netlink"
)

const (
	// LockPath is the lock file every user of the shared kernel audit state
	// holds (flock LOCK_EX) for its whole duration.
	LockPath = "/run/lock/auditlkm-kernel.lock"
	// EnvRequire makes Require fail instead of skip when set to "1".
	EnvRequire = "AUDITLKM_REQUIRE_KERNEL"
)

// Snapshot is the kernel audit state Require captured before the test.
type Snapshot struct {
	Status netlink.Status
	// Rules are the loaded rules as AUDIT_LIST_RULES wire bytes.
	Rules [][]byte
	// Control is the control socket Require opened; tests may use it. It is
	// closed in t.Cleanup after the restore.
	Control *netlink.Control
}

// HasRule reports whether the snapshot held a rule with these wire bytes.
func (s *Snapshot) HasRule(wire []byte) bool {
	for _, r := range s.Rules {
		if bytes.Equal(r, wire) {
			return true
		}
	}
	return false
}

// Require returns once the test holds the kernel lock and a snapshot of
// the audit state; t.Cleanup restores that state and releases the lock.
// Without root or a working audit netlink socket the test is skipped, or
// failed when AUDITLKM_REQUIRE_KERNEL=1.
func Require(t testing.TB) *Snapshot {
	t.Helper()
	unavailable := t.Skipf
	if os.Getenv(EnvRequire) == "1" {
		unavailable = t.Fatalf
	}
	if os.Geteuid() != 0 {
		unavailable("kernel audit test needs root (euid %d)", os.Geteuid())
		return nil
	}
	lock, err := netlink.LockFile(LockPath)
	if err != nil {
		unavailable("kernel audit lock: %v", err)
		return nil
	}
	ctl, err := netlink.OpenControl()
	if err != nil {
		_ = lock.Unlock()
		unavailable("kernel audit unavailable: %v", err)
		return nil
	}
	snap := &Snapshot{Control: ctl}
	if snap.Status, err = ctl.Status(); err == nil {
		snap.Rules, err = ctl.Rules()
	}
	if err != nil {
		_ = ctl.Close()
		_ = lock.Unlock()
		t.Fatalf("snapshot kernel audit state: %v", err)
		return nil
	}
	t.Cleanup(func() {
		defer func() {
			if err := lock.Unlock(); err != nil {
				t.Errorf("kerneltest: unlock %s: %v", LockPath, err)
			}
		}()
		defer ctl.Close()
		for _, problem := range snap.restore(ctl) {
			t.Errorf("kerneltest: %s", problem)
		}
	})
	return snap
}

// restore puts the kernel back to the snapshot and returns what it could
// not restore or found wrong.
func (s *Snapshot) restore(ctl *netlink.Control) []string {
	var problems []string
	now, err := ctl.Status()
	if err != nil {
		return []string{fmt.Sprintf("read status after test: %v", err)}
	}
	rules, err := ctl.Rules()
	if err != nil {
		problems = append(problems, fmt.Sprintf("list rules after test: %v", err))
	} else {
		for _, r := range rules {
			if !s.HasRule(r) {
				if err := ctl.DeleteRule(r); err != nil {
					problems = append(problems, fmt.Sprintf("delete rule the test left: %v", err))
				}
			}
		}
		present := &Snapshot{Rules: rules}
		for _, r := range s.Rules {
			if !present.HasRule(r) {
				if err := ctl.AddRule(r); err != nil {
					problems = append(problems, fmt.Sprintf("re-add rule the test deleted: %v", err))
				}
			}
		}
	}

	// The pid last: a daemon the test killed (SIGKILL on failure) still
	// holds it until kauditd fails to send it a record, and the rule
	// changes above queue CONFIG_CHANGE records. Give the kernel a moment
	// when the holder is gone.
	if now.PID != s.Status.PID && now.PID != 0 && !processExists(now.PID) {
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			st, err := ctl.Status()
			if err != nil {
				break
			}
			if st.PID == s.Status.PID || st.PID == 0 {
				now.PID = st.PID
				break
			}
		}
	}
	if now.PID != s.Status.PID && now.PID != 0 {
		problems = append(problems, fmt.Sprintf("audit pid still held by pid %d (held by %d before the test)", now.PID, s.Status.PID))
		// The test leaked a Client of this very process: release the pid
		// so the next test starts clean.
		if now.PID == uint32(os.Getpid()) {
			if err := ctl.ReleasePID(); err != nil {
				problems = append(problems, fmt.Sprintf("release leaked audit pid: %v", err))
			}
		}
	}

	type field struct {
		name     string
		was, is  uint32
		setToWas func() error
	}
	fields := []field{
		{"enabled", s.Status.Enabled, now.Enabled, func() error { return ctl.SetEnabled(s.Status.Enabled) }},
		{"failure", s.Status.Failure, now.Failure, func() error { return ctl.SetFailure(s.Status.Failure) }},
		{"backlog limit", s.Status.BacklogLimit, now.BacklogLimit, func() error { return ctl.SetBacklogLimit(s.Status.BacklogLimit) }},
		{"backlog wait time", s.Status.BacklogWaitTime, now.BacklogWaitTime, func() error { return ctl.SetBacklogWaitTime(int32(s.Status.BacklogWaitTime)) }},
		{"rate limit", s.Status.RateLimit, now.RateLimit, func() error { return ctl.SetRateLimit(s.Status.RateLimit) }},
	}
	for _, f := range fields {
		if f.was == f.is {
			continue
		}
		if now.Immutable() {
			problems = append(problems, fmt.Sprintf("%s is %d, was %d, and the kernel is now immutable", f.name, f.is, f.was))
			continue
		}
		if err := f.setToWas(); err != nil {
			problems = append(problems, fmt.Sprintf("restore %s from %d to %d: %v", f.name, f.is, f.was, err))
		}
	}
	return problems
}

// processExists reports whether pid names a live process (its /proc entry;
// a zombie counts as gone for the audit pid's purpose only once reaped).
func processExists(pid uint32) bool {
	_, err := os.Stat("/proc/" + strconv.FormatUint(uint64(pid), 10))
	return err == nil
}
