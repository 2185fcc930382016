package auditevent

import (
	"runtime"
	"testing"
)

// TestExecveClaimingHugeArgcCostsWhatItCarries: a forged EXECVE record
// claiming argc=65536 with one argument used to allocate (and make every
// consumer walk) 65,536 empty arguments per event; the argv holds what the
// records carry, marked partial, and argc is still reported.
func TestExecveClaimingHugeArgcCostsWhatItCarries(t *testing.T) {
	lines := []string{
		`type=SYSCALL msg=audit(1700000000.000:7): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=1 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="x" exe="/bin/x" key=(null)`,
		`type=EXECVE msg=audit(1700000000.000:7): argc=65536 a0="x"`,
	}
	var recs []Record
	for _, l := range lines {
		r, err := ParseLine([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 20
	var ev *Event
	for i := 0; i < n; i++ {
		ev = Build(recs, CompleteEOE)
	}
	runtime.ReadMemStats(&after)
	if ev.Argc != 65536 || len(ev.Argv) != 1 || ev.Argv[0] != "x" || !ev.ArgvPartial {
		t.Errorf("argc %d argv %d partial %v: want 65536, [x], partial", ev.Argc, len(ev.Argv), ev.ArgvPartial)
	}
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 32<<10 {
		t.Errorf("one event allocates %d bytes, want under 32 KiB", per)
	}
}
