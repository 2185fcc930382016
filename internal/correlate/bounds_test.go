package correlate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestTablesStayWithinTheirCaps(t *testing.T) {
	const capN = 50
	s, m, reg := testStore(t, func(c *Config) { c.MaxProcesses, c.MaxFiles, c.MaxSeen = capN, capN, capN })
	for i := range 10 * capN {
		p := tp{pid: 10000 + i, ppid: 1, comm: "w", exe: fmt.Sprintf("/usr/bin/w%d", i), args: []string{"w"}, cwd: "/tmp"}
		s.Observe(execEv(t, int64(i), 2*i, p))
		s.Observe(openEv(t, int64(i), 2*i+1, p, fmt.Sprintf("/tmp/m%d.ko", i), 0x241, "CREATE", uint64(i+1), "yes"))
	}
	st := s.Stats()
	if st.Processes != capN || st.Files != capN || st.Seen != capN {
		t.Fatalf("stats = %+v, want every table at its cap %d", st, capN)
	}
	evicted := func(table, reason string) float64 {
		return testutil.ToFloat64(m.evictions.WithLabelValues(table, reason))
	}
	if got := evicted(tableProcesses, reasonCapacity); got != 9*capN {
		t.Fatalf("process capacity evictions = %v, want %d", got, 9*capN)
	}
	if got := evicted(tableFiles, reasonCapacity); got != 9*capN {
		t.Fatalf("file capacity evictions = %v, want %d", got, 9*capN)
	}
	// Two values (exe and ko_path) per process were marked.
	if got := evicted(tableSeen, reasonCapacity); got != 2*10*capN-capN {
		t.Fatalf("seen capacity evictions = %v, want %d", got, 2*10*capN-capN)
	}
	// The newest survive.
	last := 10*capN - 1
	if _, ok := s.Process(10000 + last); !ok {
		t.Fatal("the newest process was evicted")
	}
	if _, ok := s.WrittenBy(fmt.Sprintf("/tmp/m%d.ko", last)); !ok {
		t.Fatal("the newest file was evicted")
	}
	if _, ok := s.WrittenBy("/tmp/m0.ko"); ok {
		t.Fatal("the oldest file survived")
	}
	if _, ok := s.WrittenByInode("08:01", 1); ok {
		t.Fatal("the oldest file's inode survived")
	}
	// The entry gauges follow Maintain, not every event.
	s.Maintain(time.UnixMilli(baseSec*1000 + 10*capN))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP auditlkm_correlate_entries Entries held in each correlation table.
# TYPE auditlkm_correlate_entries gauge
auditlkm_correlate_entries{table="files"} 50
auditlkm_correlate_entries{table="processes"} 50
auditlkm_correlate_entries{table="seen"} 50
`), "auditlkm_correlate_entries"); err != nil {
		t.Fatal(err)
	}
}

func TestMaintainExpiresByTTL(t *testing.T) {
	s, _, reg := testStore(t, func(c *Config) {
		c.ProcessTTL, c.FileTTL, c.SeenTTL = time.Minute, time.Hour, 24*time.Hour
	})
	p := tp{pid: 4000, ppid: 1, comm: "cp", exe: "/usr/bin/cp", args: []string{"cp"}, cwd: "/"}
	s.Observe(execEv(t, 0, 1, p))
	s.Observe(openEv(t, 1000, 2, p, "/tmp/a.ko", 0x241, "CREATE", 9, "yes"))
	s.Observe(exitEv(t, 2000, 3, p))
	at := func(d time.Duration) time.Time { return time.UnixMilli(baseSec * 1000).Add(d) }

	s.Maintain(at(2*time.Second + time.Minute - time.Millisecond))
	if st := s.Stats(); st.Processes != 1 || st.Files != 1 || st.Seen != 2 {
		t.Fatalf("before any ttl: %+v", st)
	}
	s.Maintain(at(2*time.Second + time.Minute))
	if st := s.Stats(); st.Processes != 0 || st.Files != 1 {
		t.Fatalf("after the process ttl: %+v", st)
	}
	s.Maintain(at(time.Second + time.Hour))
	if st := s.Stats(); st.Files != 0 || st.Seen != 2 {
		t.Fatalf("after the file ttl: %+v", st)
	}
	s.Maintain(at(time.Second + 24*time.Hour))
	if st := s.Stats(); st.Seen != 0 {
		t.Fatalf("after the seen ttl: %+v", st)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP auditlkm_correlate_evictions_total Correlation entries dropped, by table and reason (capacity: the table was full; ttl: expired; bytes: the table was over its byte budget).
# TYPE auditlkm_correlate_evictions_total counter
auditlkm_correlate_evictions_total{reason="bytes",table="files"} 0
auditlkm_correlate_evictions_total{reason="bytes",table="processes"} 0
auditlkm_correlate_evictions_total{reason="bytes",table="seen"} 0
auditlkm_correlate_evictions_total{reason="capacity",table="files"} 0
auditlkm_correlate_evictions_total{reason="capacity",table="processes"} 0
auditlkm_correlate_evictions_total{reason="capacity",table="seen"} 0
auditlkm_correlate_evictions_total{reason="ttl",table="files"} 1
auditlkm_correlate_evictions_total{reason="ttl",table="processes"} 1
auditlkm_correlate_evictions_total{reason="ttl",table="seen"} 2
`), "auditlkm_correlate_evictions_total"); err != nil {
		t.Fatal(err)
	}
}

// TestProcessTableStaysWithinItsByteBudget: execs with 16 KiB of argv fill
// the process table by bytes long before its entry cap: it stays within
// its budget, evicts exited processes before running ones, counts the
// evictions (reason bytes), and keeps a parent's argv short.
func TestProcessTableStaysWithinItsByteBudget(t *testing.T) {
	const budget = 1 << 20
	s, m, _ := testStore(t, func(c *Config) { c.MaxProcessBytes = budget })
	big := strings.Repeat("a", 4000)
	args := []string{"modprobe", big, big, big, big}
	// A long-lived parent with a long argv, and an exited process.
	parent := tp{pid: 500, ppid: 1, comm: "sh", exe: "/bin/sh", args: args, cwd: "/"}
	s.Observe(execEv(t, 0, 1, parent))
	gone := tp{pid: 600, ppid: 1, comm: "x", exe: "/bin/x", args: []string{"x"}, cwd: "/"}
	s.Observe(execEv(t, 1, 2, gone))
	s.Observe(exitEv(t, 2, 3, gone))
	for i := 0; i < 400; i++ {
		c := tp{pid: 1000 + i, ppid: 500, comm: "modprobe", exe: "/usr/bin/kmod", args: args, cwd: "/"}
		s.Observe(execEv(t, int64(10+i), 10+i, c))
		if s.procs.bytes > budget {
			t.Fatalf("after %d execs the table holds %d bytes, budget %d", i+1, s.procs.bytes, budget)
		}
		if testutil.ToFloat64(m.evictCount[tiProcesses][riBytes]) == 1 {
			_, exited := s.procs.byPID[600]
			_, oldest := s.procs.byPID[1000]
			if exited || !oldest {
				t.Error("the exited process was not the first evicted")
			}
		}
	}
	if n := testutil.ToFloat64(m.evictCount[tiProcesses][riBytes]); n < 300 {
		t.Errorf("evictions{reason=bytes} = %v, want most of the 400 execs", n)
	}
	if p, ok := s.procs.byPID[500]; ok {
		total := 0
		for _, a := range p.p.Args {
			total += len(a)
		}
		if total > maxAncestorArgBytes {
			t.Errorf("the parent keeps %d bytes of argv, want at most %d", total, maxAncestorArgBytes)
		}
	}
	// The accounting matches the entries.
	var sum int64
	for _, e := range s.procs.byID {
		sum += procSize(e)
	}
	if sum != s.procs.bytes {
		t.Errorf("table accounts %d bytes, entries sum to %d", s.procs.bytes, sum)
	}
}

// TestTouchKeepsTheActiveChainRecent: a process acting in a loop is
// touched once while nothing else moves; once another process arrives its
// next event touches its chain again, so the newcomer, not the active
// chain, is the least recently used when the table is full.
func TestTouchKeepsTheActiveChainRecent(t *testing.T) {
	s, _, _ := testStore(t, func(c *Config) { c.MaxProcesses = 3 })
	parent := tp{pid: 100, ppid: 1, comm: "sh", exe: "/usr/bin/sh", args: []string{"sh"}, cwd: "/"}
	child := tp{pid: 101, ppid: 100, comm: "insmod", exe: "/usr/bin/kmod", args: []string{"insmod", "x.ko"}, cwd: "/"}
	other := tp{pid: 200, ppid: 1, comm: "a", exe: "/usr/bin/a", args: []string{"a"}, cwd: "/"}
	last := tp{pid: 201, ppid: 1, comm: "b", exe: "/usr/bin/b", args: []string{"b"}, cwd: "/"}
	s.Observe(execEv(t, 0, 1, parent))
	s.Observe(execEv(t, 1, 2, child))
	for i := range 3 { // a loop: touched once, then skipped
		s.Observe(openEv(t, int64(2+i), 3+i, child, "/tmp/x.ko", 0, "NORMAL", 7, "yes"))
	}
	s.Observe(execEv(t, 10, 10, other))
	s.Observe(openEv(t, 11, 11, child, "/tmp/x.ko", 0, "NORMAL", 7, "yes"))
	s.Observe(execEv(t, 12, 12, last))
	for _, p := range []tp{parent, child, last} {
		if _, ok := s.Process(p.pid); !ok {
			t.Errorf("process %d (%s) was evicted", p.pid, p.comm)
		}
	}
	if _, ok := s.Process(other.pid); ok {
		t.Error("the least recently used process survived")
	}
}
