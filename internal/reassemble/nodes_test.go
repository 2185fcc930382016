package reassemble

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// onNode prefixes a record line with node=NAME, as auditd writes it with
// name_format set (and as a collector receives it from audisp-remote).
func onNode(node, line string) string { return "node=" + node + " " + line }

// loadRecs are the records of one finit_module call by pid on a node,
// without EOE (auditd's logs have none).
func loadRecs(node string, sec int, serial uint32, pid int) []string {
	sc := fmt.Sprintf(`arch=c000003e syscall=313 success=no exit=-38 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=%d auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="insmod" exe="/usr/bin/kmod" key=(null)`, pid)
	return []string{onNode(node, rec("SYSCALL", sec, serial, sc)), onNode(node, rec("PROCTITLE", sec, serial, "proctitle=696E736D6F64"))}
}

// nodeSummary is summary with the node of each event.
func nodeSummary(evs []*auditevent.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s/%d:%d:%s ", e.Node, e.Serial, len(e.Records), e.Completion)
	}
	return strings.TrimSpace(b.String())
}

func TestNodesKeepSerialsApart(t *testing.T) {
	eoe := func(node string, sec int, serial uint32) string { return onNode(node, rec("EOE", sec, serial, "")) }
	tests := []struct {
		name   string
		cfg    Config
		lines  []string
		want   string
		gaps   uint64
		late   uint64
		byNode map[string]NodeStats
	}{
		{
			name: "two hosts' events with the same serial stay two events",
			cfg:  DefaultConfig(),
			lines: []string{onNode("a", syscallRec(10, 5, 0)), onNode("b", syscallRec(10, 5, 0)),
				onNode("b", rec("CWD", 10, 5, `cwd="/"`)), onNode("a", rec("CWD", 10, 5, `cwd="/"`)),
				eoe("a", 10, 5), eoe("b", 10, 5)},
			want:   "a/5:2:eoe b/5:2:eoe",
			byNode: map[string]NodeStats{"a": {Records: 3}, "b": {Records: 3}},
		},
		{
			name: "the local stream and a named node do not mix either",
			cfg:  DefaultConfig(),
			lines: []string{syscallRec(10, 5, 0), onNode("a", syscallRec(10, 5, 0)), rec("EOE", 10, 5, ""),
				eoe("a", 10, 5)},
			want:   "/5:1:eoe a/5:1:eoe",
			byNode: map[string]NodeStats{"a": {Records: 2}},
		},
		{
			name: "a gap is counted on the node that has it",
			cfg:  DefaultConfig(),
			lines: []string{onNode("a", syscallRec(10, 5, 0)), eoe("a", 10, 5), onNode("b", syscallRec(10, 6, 0)), eoe("b", 10, 6),
				onNode("a", syscallRec(10, 7, 0)), eoe("a", 10, 7), onNode("b", syscallRec(10, 7, 0)), eoe("b", 10, 7)},
			want:   "a/5:1:eoe b/6:1:eoe a/7:1:eoe b/7:1:eoe",
			gaps:   1,
			byNode: map[string]NodeStats{"a": {Records: 4, Gaps: 1}, "b": {Records: 4}},
		},
		{
			name: "a late record is late on its own node only",
			cfg:  DefaultConfig(),
			lines: []string{onNode("a", syscallRec(10, 5, 1)), eoe("a", 10, 5), onNode("b", syscallRec(10, 5, 1)),
				onNode("a", rec("PATH", 10, 5, `item=0 name="/x" nametype=CREATE`)), eoe("b", 10, 5)},
			want:   "a/5:1:eoe b/5:1:eoe a/5:1:late",
			late:   1,
			byNode: map[string]NodeStats{"a": {Records: 3, Late: 1}, "b": {Records: 2}},
		},
		{
			name: "one node's reboot is its own reset; the other goes on",
			cfg:  ReplayConfig(),
			lines: []string{onNode("a", syscallRec(10, 90000000, 0)), onNode("b", syscallRec(10, 500, 0)),
				onNode("a", syscallRec(200, 3, 0)), onNode("b", syscallRec(200, 501, 0))},
			want:   "a/90000000:1:idle b/500:1:idle a/3:1:flushed b/501:1:flushed",
			byNode: map[string]NodeStats{"a": {Records: 2, Resets: 1}, "b": {Records: 2}},
		},
		{
			name: "nodes past the limit are reassembled apart but not tracked",
			cfg:  func() Config { c := DefaultConfig(); c.MaxNodes = 1; return c }(),
			lines: []string{onNode("a", syscallRec(10, 5, 0)), onNode("b", syscallRec(10, 5, 0)), onNode("c", syscallRec(10, 5, 0)),
				eoe("c", 10, 5), eoe("b", 10, 5), eoe("a", 10, 5), onNode("b", syscallRec(10, 9, 0)), eoe("b", 10, 9)},
			want:   "c/5:1:eoe b/5:1:eoe a/5:1:eoe b/9:1:eoe",
			byNode: map[string]NodeStats{"a": {Records: 2}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, r := collect(t, tc.cfg, tc.lines)
			if got := nodeSummary(evs); got != tc.want {
				t.Errorf("events = %q, want %q", got, tc.want)
			}
			st := r.Stats()
			if st.Gaps != tc.gaps || st.Late != tc.late {
				t.Errorf("gaps=%d late=%d, want gaps=%d late=%d", st.Gaps, st.Late, tc.gaps, tc.late)
			}
			if fmt.Sprint(st.ByNode) != fmt.Sprint(tc.byNode) {
				t.Errorf("by node = %v, want %v", st.ByNode, tc.byNode)
			}
			var kept uint64
			for _, e := range evs {
				kept += uint64(len(e.Records))
			}
			if kept+st.Ignored != st.Records {
				t.Errorf("records: %d kept + %d ignored != %d pushed", kept, st.Ignored, st.Records)
			}
		})
	}
}

// TestTwoHostsInterleavedLoads is the case: two hosts each load
// 1000 modules, their serials overlap one for one and their records are
// interleaved as a collector receives them, in auditd's log format (no
// EOE). Every load must be one event of its own host: 2000 events, none
// late, none incomplete, and no gap.
func TestTwoHostsInterleavedLoads(t *testing.T) {
	var lines []string
	const n = 1000
	for i := 0; i < n; i++ {
		serial := uint32(7000 + i)
		a := loadRecs("hostA", 1000+i/100, serial, 4000+i)
		b := loadRecs("hostB", 1000+i/100, serial, 9000+i)
		// SYSCALL of A, SYSCALL of B, PROCTITLE of B, PROCTITLE of A.
		lines = append(lines, a[0], b[0], b[1], a[1])
	}
	reg := prometheus.NewRegistry()
	var evs []*auditevent.Event
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(ReplayConfig(), func(e *auditevent.Event) { evs = append(evs, e) }, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		rec, err := auditevent.ParseLine([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		r.Push(rec)
	}
	r.Flush()
	if len(evs) != 2*n {
		t.Fatalf("%d events, want %d", len(evs), 2*n)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		want := 4000 + int(e.Serial-7000)
		if e.Node == "hostB" {
			want = 9000 + int(e.Serial-7000)
		}
		if e.Node != "hostA" && e.Node != "hostB" || e.Syscall.PID != want || len(e.Records) != 2 ||
			e.Completion == auditevent.CompleteLate || Incomplete(e) != "" {
			t.Fatalf("event %s/%d: pid %d (want %d), %d records, %s, incomplete %q",
				e.Node, e.Serial, e.Syscall.PID, want, len(e.Records), e.Completion, Incomplete(e))
		}
		k := fmt.Sprintf("%s/%d", e.Node, e.Serial)
		if seen[k] {
			t.Fatalf("event %s twice", k)
		}
		seen[k] = true
	}
	st := r.Stats()
	if st.Late != 0 || st.Incomplete != 0 || st.Gaps != 0 || st.Resets != 0 || st.Nodes != 2 {
		t.Errorf("late=%d incomplete=%d gaps=%d resets=%d nodes=%d, want 0 0 0 0 2", st.Late, st.Incomplete, st.Gaps, st.Resets, st.Nodes)
	}
	if got := testutil.ToFloat64(r.m.nodes); got != 2 {
		t.Errorf("auditlkm_reassembly_nodes = %v, want 2", got)
	}
}

// TestForgedNodeNamesAreBounded: a sender that forges a new node name on
// every record costs at most MaxNodes trackers and per-node series; the
// rest is counted as untracked and still reassembled.
func TestForgedNodeNamesAreBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxNodes = 8
	reg := prometheus.NewRegistry()
	var events int
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg, func(*auditevent.Event) { events++ }, m)
	if err != nil {
		t.Fatal(err)
	}
	const forged = 5000
	for i := 0; i < forged; i++ {
		// Names with bytes a label must not carry raw.
		name := fmt.Sprintf("h\xff%d", i)
		for _, l := range []string{onNode(name, syscallRec(10, 5, 0)), onNode(name, rec("EOE", 10, 5, ""))} {
			rec, err := auditevent.ParseLine([]byte(l))
			if err != nil {
				t.Fatal(err)
			}
			r.Push(rec)
		}
	}
	r.Flush()
	st := r.Stats()
	if events != forged || st.Nodes != cfg.MaxNodes || st.Untracked != 2*(forged-uint64(cfg.MaxNodes)) {
		t.Errorf("events=%d nodes=%d untracked=%d, want %d %d %d", events, st.Nodes, st.Untracked, forged, cfg.MaxNodes, 2*(forged-cfg.MaxNodes))
	}
	if n := testutil.CollectAndCount(r.m.nodeGaps); n != cfg.MaxNodes {
		t.Errorf("%d per-node gap series, want %d", n, cfg.MaxNodes)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("gather: %v", err)
	}
	if got := testutil.ToFloat64(r.m.untrackedC); got != float64(st.Untracked) {
		t.Errorf("untracked_records_total = %v, want %d", got, st.Untracked)
	}
}

func TestNodeLabel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hostA", "hostA"},
		{"h\xffx", "h\uFFFDx"},
		{strings.Repeat("n", 300), strings.Repeat("n", MaxNodeLabelBytes)},
	} {
		if got := NodeLabel(tc.in); got != tc.want {
			t.Errorf("NodeLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
