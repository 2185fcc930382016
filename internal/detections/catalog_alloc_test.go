package detections

import (
	"testing"

	"github.com/auditlkm/auditlkm/internal/correlate"
)

// TestCatalogNoAllocationOnNonMatchingEvents: the hot path stays
// allocation-free for events no detection wants (an exec of ls, a read of
// /etc/passwd, a write in /tmp), across the whole catalog.
func TestCatalogNoAllocationOnNonMatchingEvents(t *testing.T) {
	cat, err := NewCatalog(Config{Root: "/"})
	if err != nil {
		t.Fatal(err)
	}
	evs := []struct {
		name  string
		lines []string
	}{
		{"exec of ls", execve(10, 9, 0, "ls", "/usr/bin/ls", "/root", "ls", "-l")},
		{"read of /etc/passwd", []string{
			`type=SYSCALL msg=audit(1700000000.100:5): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55 a2=0 a3=0 items=1 ppid=1 pid=20 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="cat" exe="/usr/bin/cat" key=(null)`,
			`type=PATH msg=audit(1700000000.100:5): item=0 name="/etc/passwd" inode=5 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL`}},
		{"a file created in /tmp", create("/usr/bin/bash", "bash", "/tmp", "/tmp/x.txt")},
	}
	var st State = fakeState{}
	for _, e := range evs {
		ev := event(t, e.lines...)
		for _, r := range cat.Events {
			if r.Definition().ID == "lkm-first-seen" || r.Definition().ID == "lkm-dropped-then-loaded" ||
				r.Definition().ID == "lkm-config-then-load" || r.Definition().ID == "audit-system-tamper" {
				continue // correlation and tamper rules, tested with them
			}
			var x Evaluator
			one := []Detection{r}
			if n := testing.AllocsPerRun(100, func() { x.Evaluate(one, ev, correlate.Facts{}, st) }); n != 0 {
				t.Errorf("%s: %s allocates %.0f times", e.name, r.Definition().ID, n)
			}
		}
	}
}

func BenchmarkCatalogNonMatching(b *testing.B) {
	cat, err := NewCatalog(Config{})
	if err != nil {
		b.Fatal(err)
	}
	ev := event(&testing.T{}, execve(10, 9, 0, "ls", "/usr/bin/ls", "/root", "ls", "-l")...)
	var st State = fakeState{}
	var x Evaluator
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x.Evaluate(cat.Events, ev, correlate.Facts{}, st)
	}
}
