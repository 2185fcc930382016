package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// chainSink is a Sink that notes each alert's ancestry (executables,
// parent first) and aggregated count as they are at the call.
type chainSink struct{ got []string }

func (c *chainSink) WriteAlert(a *detections.Alert) error {
	exes := make([]string, len(a.Ancestors))
	for i := range a.Ancestors {
		exes[i] = a.Ancestors[i].Exe
	}
	c.got = append(c.got, fmt.Sprintf("pid %d agg %d: %s", a.Process.PID, a.Aggregated, strings.Join(exes, " < ")))
	return nil
}

// execOf is one execve event of pid (child of ppid) running exe.
func execOf(serial, pid, ppid, ms int, exe string) []string {
	stamp := fmt.Sprintf("%d.%03d:%d", 1763790000+ms/1000, ms%1000, serial)
	return []string{
		fmt.Sprintf(`type=SYSCALL msg=audit(%s): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=0 ppid=%d pid=%d auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="x" exe="%s" key="auditlkm-exec"`, stamp, ppid, pid, exe),
		fmt.Sprintf(`type=EOE msg=audit(%s): `, stamp),
	}
}

// finitOf is a refused finit_module event of pid, child of ppid, running
// the executable execOf gave it in the tree of the test below.
func finitOf(serial, pid, ppid, ms int) []string {
	exe := map[int]string{100: "/usr/bin/bash", 200: "/usr/bin/sudo", 300: "/usr/bin/make"}[pid]
	l := finit(serial, pid, ms)
	l[0] = strings.Replace(l[0], " ppid=1 ", fmt.Sprintf(" ppid=%d ", ppid), 1)
	l[0] = strings.Replace(l[0], `exe="/usr/local/bin/loadgen"`, fmt.Sprintf("exe=%q", exe), 1)
	return l
}

// TestEachAlertCarriesItsOwnAncestry: the ancestry of an alert written at
// once is built in a buffer the processor reuses, so an alert must never
// show another's chain, nor an aggregation summary (whose sample is held
// while later alerts reuse the buffer) the chain of an alert written since.
func TestEachAlertCarriesItsOwnAncestry(t *testing.T) {
	tree := append(append(execOf(1, 100, 1, 0, "/usr/bin/bash"), execOf(2, 200, 100, 1, "/usr/bin/sudo")...),
		execOf(3, 300, 200, 2, "/usr/bin/make")...)
	tests := []struct {
		name   string
		events [][]string
		want   []string
	}{
		{
			"alternating processes with chains of different lengths",
			[][]string{finitOf(10, 300, 200, 10), finitOf(11, 200, 100, 11), finitOf(12, 100, 1, 12), finitOf(13, 300, 200, 13)},
			[]string{
				"pid 300 agg 0: /usr/bin/sudo < /usr/bin/bash",
				"pid 200 agg 0: /usr/bin/bash",
				"pid 100 agg 0: ",
				"pid 300 agg 0: /usr/bin/sudo < /usr/bin/bash",
			},
		},
		{
			"a summary held while shorter chains are written keeps its own",
			func() [][]string {
				var ev [][]string
				for i := range 12 { // burst 10, then 2 held
					ev = append(ev, finitOf(10+i, 300, 200, 10+i))
				}
				return append(ev, finitOf(30, 200, 100, 30), finitOf(31, 100, 1, 31))
			}(),
			append(slices.Repeat([]string{"pid 300 agg 0: /usr/bin/sudo < /usr/bin/bash"}, 10),
				"pid 200 agg 0: /usr/bin/bash",
				"pid 100 agg 0: ",
				"pid 300 agg 2: /usr/bin/sudo < /usr/bin/bash"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]string(nil), tree...)
			for _, e := range tc.events {
				in = append(in, e...)
			}
			p, sink := storeProcessor(t)
			if err := Replay(context.Background(), &lines{l: in}, p); err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(sink.got, "\n"), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("alerts:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// storeProcessor returns a processor running only the module-load
// detection over a correlation store, and the sink of its alerts.
func storeProcessor(t *testing.T) (*Processor, *chainSink) {
	t.Helper()
	cat, err := detections.NewCatalog(detections.Config{Disabled: otherRules(t, detections.ModuleLoadID)})
	if err != nil {
		t.Fatal(err)
	}
	store := memoryStore(t, false)
	sink := &chainSink{}
	p, err := NewProcessor(reassemble.ReplayConfig(), cat, store, sink, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, sink
}

// TestAppendAncestryReusesItsBuffer: the store appends an ancestry to the
// caller's buffer without allocating once it is large enough.
func TestAppendAncestryReusesItsBuffer(t *testing.T) {
	p, _ := storeProcessor(t)
	in := append(append(execOf(1, 100, 1, 0, "/usr/bin/bash"), execOf(2, 200, 100, 1, "/usr/bin/sudo")...),
		execOf(3, 300, 200, 2, "/usr/bin/make")...)
	if err := Replay(context.Background(), &lines{l: in}, p); err != nil {
		t.Fatal(err)
	}
	buf := make([]auditevent.Process, 0, 8)
	if allocs := testing.AllocsPerRun(100, func() { buf = p.store.AppendAncestry(buf[:0], 300, detections.MaxAncestors) }); allocs != 0 {
		t.Errorf("AppendAncestry allocates %.0f times per call into a large enough buffer", allocs)
	}
	if len(buf) != 2 || buf[0].Exe != "/usr/bin/sudo" || buf[1].Exe != "/usr/bin/bash" {
		t.Errorf("AppendAncestry(300) = %+v", buf)
	}
}
