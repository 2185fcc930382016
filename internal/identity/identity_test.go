package identity

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAgentIDStableAcrossRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a, err := AgentID(dir, "m1")
	if err != nil || !valid(a) {
		t.Fatalf("%q %v", a, err)
	}
	b, err := AgentID(dir, "m2")
	if err != nil || b != a {
		t.Fatalf("second start: %q %v, want %q", b, err, a)
	}
	// Another installation (another state dir) on a cloned machine with
	// the same machine-id gets another id.
	c, _ := AgentID(filepath.Join(t.TempDir(), "s"), "m1")
	if c == a {
		t.Fatal("two state dirs share an agent id")
	}
	// A damaged file is replaced.
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := AgentID(dir, "m1")
	if err != nil || d == a || !valid(d) {
		t.Fatalf("after damage: %q %v", d, err)
	}
}

func TestAgentIDDerived(t *testing.T) {
	a, _ := AgentID("", "0123456789abcdef")
	b, _ := AgentID("", "0123456789abcdef\n")
	c, _ := AgentID("", "fedcba9876543210")
	if !valid(a) || a != b || a == c {
		t.Fatalf("%q %q %q", a, b, c)
	}
	if e, _ := AgentID("", ""); e != "" {
		t.Fatalf("no machine-id: %q", e)
	}
}
