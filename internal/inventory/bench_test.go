package inventory

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkViewsRead is one read of the kernel's views (recorded tree).
func BenchmarkViewsRead(b *testing.B) {
	root := filepath.Join("testdata", "debian12-6.1")
	v := Views{ProcRoot: filepath.Join(root, "proc"), SysRoot: filepath.Join(root, "sys")}
	for b.Loop() {
		if _, err := v.Read(time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck compares a snapshot of 200 modules with the inventory.
func BenchmarkCheck(b *testing.B) {
	var names []string
	for i := range 200 {
		names = append(names, "mod"+strconv.Itoa(i))
	}
	list := strings.Join(names, " ")
	tr := NewTracker(2*time.Second, time.Minute)
	tr.Check(snap(0, list, list, 0))
	s := snap(60, list, list, 0)
	for b.Loop() {
		tr.Check(s)
	}
}

// BenchmarkObserveOther is the cost of an event that is not a module load
// or unload (every other event of the stream).
func BenchmarkObserveOther(b *testing.B) {
	c, err := New(testConfig(b.TempDir(), ""), nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ev := buildEventB(b, `type=SYSCALL msg=audit(1700000000.100:70): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55 a2=0 a3=0 items=1 ppid=1 pid=800 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="cat" exe="/usr/bin/cat" key=(null)`)
	for b.Loop() {
		c.Observe(ev, nil, nil)
	}
}
