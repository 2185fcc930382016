package correlate

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// onNode sets the node of every record of e, as the parser does for a
// node= prefix.
func onNode(node string, e *auditevent.Event) *auditevent.Event {
	e.Node = node
	for i := range e.Records {
		e.Records[i].Node = node
	}
	return e
}

func testNodes(t *testing.T, maxNodes int) (*Nodes, *prometheus.Registry) {
	t.Helper()
	local, _, _ := testStore(t, nil)
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.StateDir, cfg.ProcRoot = "", ""
	n, err := NewNodes(local, NodeConfig(cfg, maxNodes), maxNodes, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	return n, reg
}

// TestNodesKeepHostsApart: the same pid, file and module on two hosts are
// two hosts' facts. hostA's cp drops /tmp/rk.ko; hostB's insmod (same
// pid as hostA's) loads a /tmp/rk.ko of its own: only hostA's load links
// the drop, each load sees its own host's process, and each host's
// first-seen history is its own.
func TestNodesKeepHostsApart(t *testing.T) {
	n, reg := testNodes(t, 4)
	cp := tp{pid: 2000, ppid: 100, comm: "cp", exe: "/usr/bin/cp", args: []string{"cp", "/src/rk.ko", "/tmp/rk.ko"}, cwd: "/src"}
	insA := tp{pid: 2001, ppid: 100, comm: "insmod", exe: "/usr/bin/kmod", args: []string{"insmod", "/tmp/rk.ko"}, cwd: "/"}
	insB := with(insA, func(p *tp) { p.exe, p.args = "/tmp/kmod", []string{"insmod", "/tmp/rk.ko", "b=1"} })
	const oWRCRT = 0x241
	steps := []*auditevent.Event{
		onNode("hostA", openEv(t, 0, 1, cp, "/tmp/rk.ko", oWRCRT, "CREATE", 4242, "yes")),
		onNode("hostA", execEv(t, 100, 2, insA)),
		onNode("hostB", execEv(t, 100, 2, insB)),
	}
	for _, e := range steps {
		n.Observe(e)
	}
	type loaded struct {
		exe    string
		drop   bool
		module bool // the module name was marked first seen by this load
	}
	check := func(node string, p tp, want loaded) {
		t.Helper()
		f := n.Observe(onNode(node, finitEv(t, 101, 3, p, "rk")))
		ml, ok := loadOf(f)
		if !ok {
			t.Fatalf("%s: no module load", node)
		}
		if (ml.Drop != nil) != want.drop {
			t.Errorf("%s: drop linked = %v, want %v", node, ml.Drop != nil, want.drop)
		}
		pr, ok := n.Process(p.pid)
		if !ok || pr.Exe != want.exe {
			t.Errorf("%s: process %d = %q (%v), want %q", node, p.pid, pr.Exe, ok, want.exe)
		}
		fresh := false
		for _, v := range f.FirstSeen {
			fresh = fresh || v.Kind == SeenModule && v.Value == "rk"
		}
		if fresh != want.module {
			t.Errorf("%s: module first seen now = %v, want %v", node, fresh, want.module)
		}
	}
	check("hostB", insB, loaded{exe: "/tmp/kmod", module: true})
	check("hostA", insA, loaded{exe: "/usr/bin/kmod", drop: true, module: true})
	check("hostA", insA, loaded{exe: "/usr/bin/kmod", drop: true})
	// The local store saw none of it.
	n.Observe(finitEv(t, 102, 4, insA, "rk"))
	if _, ok := n.Process(cp.pid); ok {
		t.Error("the local store knows hostA's cp")
	}
	if n.Len() != 2 || n.Node("hostA") == nil || n.Node("hostB") == nil || n.Node("") != n.Local() {
		t.Errorf("nodes = %d", n.Len())
	}
	if got := testutil.ToFloat64(n.gauge); got != 2 {
		t.Errorf("auditlkm_correlate_nodes = %v, want 2", got)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

// TestNodesBound: past maxNodes, events are evaluated without state and
// counted; the stores already made keep working.
func TestNodesBound(t *testing.T) {
	n, _ := testNodes(t, 2)
	p := tp{pid: 10, ppid: 1, comm: "insmod", exe: "/usr/bin/kmod", args: []string{"insmod", "/x.ko"}, cwd: "/"}
	for i, node := range []string{"a", "b", "c", "d", "a"} {
		f := n.Observe(onNode(node, execEv(t, int64(i), i+1, p)))
		_, ok := n.Process(10)
		if want := node == "a" || node == "b"; ok != want {
			t.Errorf("node %s: process known = %v, want %v", node, ok, want)
		}
		if node == "c" && (!f.Learning || f.FirstSeen != nil || n.Ancestry(10, 8) != nil) {
			t.Errorf("node %s past the bound has state", node)
		}
	}
	if n.Len() != 2 || n.Overflow() != 2 || testutil.ToFloat64(n.overflow) != 2 {
		t.Errorf("nodes=%d overflow=%d", n.Len(), n.Overflow())
	}
	n.Maintain(time.Unix(baseSec+3600*48, 0))
}

func TestNodeConfig(t *testing.T) {
	cfg := DefaultConfig()
	c := NodeConfig(cfg, 256)
	if c.StateDir != "" || c.ProcRoot != "" || c.MaxProcesses != 256 || c.MaxFiles != 64 || c.MaxSeen != 1024 {
		t.Errorf("NodeConfig = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if c := NodeConfig(cfg, 4); c.MaxProcesses != cfg.MaxProcesses/4 {
		t.Errorf("MaxProcesses = %d", c.MaxProcesses)
	}
	small := cfg
	small.MaxProcesses = 10
	if c := NodeConfig(small, 256); c.MaxProcesses != 10 {
		t.Errorf("a cap below the floor stays: %d", c.MaxProcesses)
	}
	if _, err := NewNodes(nil, c, 1, slog.Default(), nil); err == nil {
		t.Error("NewNodes accepted a nil local store")
	}
	local, _, _ := testStore(t, nil)
	if _, err := NewNodes(local, cfg, 1, slog.Default(), nil); err == nil {
		t.Error("NewNodes accepted node stores reading /proc")
	}
}
