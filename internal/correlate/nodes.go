package correlate

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Per-node stores (see Nodes).
const (
	// DefaultMaxNodes bounds the named nodes that get a store of their own.
	DefaultMaxNodes = 256
	// MaxNodesLimit bounds NewNodes' maxNodes.
	MaxNodesLimit = 1 << 16
	// Smallest caps of a node store, whatever NodeConfig divides.
	minNodeProcesses = 128
	minNodeFiles     = 64
	minNodeSeen      = 1024
	minNodeBytes     = 1 << 16 // the least byte budget Validate accepts
)

// NodeConfig is the configuration of the store of one named node, derived
// from the local store's cfg for at most maxNodes nodes: no state dir and
// no /proc (the node is another machine: its pids and files are not
// this one's), and each table cap divided by maxNodes (at least a small
// floor), so that all node stores together hold about as much as the
// local one.
func NodeConfig(cfg Config, maxNodes int) Config {
	c := cfg
	// Another host's events: nothing on this machine is theirs to read.
	c.StateDir, c.ProcRoot, c.ReadModuleFiles = "", "", false
	if maxNodes > 1 {
		c.MaxProcesses = max(cfg.MaxProcesses/maxNodes, min(cfg.MaxProcesses, minNodeProcesses))
		c.MaxFiles = max(cfg.MaxFiles/maxNodes, min(cfg.MaxFiles, minNodeFiles))
		c.MaxSeen = max(cfg.MaxSeen/maxNodes, min(cfg.MaxSeen, minNodeSeen))
		// The byte budgets too: all node stores together stay about
		// within the local store's budgets (with the default 256 nodes).
		c.MaxProcessBytes = max(cfg.MaxProcessBytes/int64(maxNodes), min(cfg.MaxProcessBytes, minNodeBytes))
		c.MaxFileBytes = max(cfg.MaxFileBytes/int64(maxNodes), min(cfg.MaxFileBytes, minNodeBytes))
		c.MaxSeenBytes = max(cfg.MaxSeenBytes/int64(maxNodes), min(cfg.MaxSeenBytes, minNodeBytes))
	}
	return c
}

// Nodes is the correlation state of a stream that may hold several hosts'
// events: records with auditd's node= prefix (name_format, a collector
// receiving from audisp-remote). Events without a node name go to the
// local store; each named node gets a store of its own (process table,
// module file and configuration writes, first-seen history, learning
// period), created at its first event with NodeConfig, so that a pid, a
// file or a module name on one host is never taken for another's. At most
// maxNodes named nodes get a store; events of further names (forged ones,
// say) are evaluated without correlation state (no ancestry, no links, no
// first-seen) and counted.
//
// Node stores live in memory only: they are not saved in the state dir,
// and a node's learning period starts again from its first event after a
// restart.
//
// Nodes implements the pipeline's Store and the detections' State view:
// after Observe, the view answers for the event's node. Like Store, it must be used from one goroutine.
type Nodes struct {
	local   *Store
	nodeCfg Config
	max     int
	log     *slog.Logger
	nodes   map[string]*Store
	cur     *Store // the store of the event being evaluated; nil past the bound
	warned  bool

	gauge    prometheus.Gauge
	overflow prometheus.Counter
	overN    uint64
}

// NewNodes wraps local (the store of events without a node name). reg may
// be nil (no metrics).
func NewNodes(local *Store, nodeCfg Config, maxNodes int, log *slog.Logger, reg prometheus.Registerer) (*Nodes, error) {
	if local == nil || log == nil {
		return nil, errors.New("create node stores: local store or logger is nil")
	}
	if maxNodes < 0 || maxNodes > MaxNodesLimit {
		return nil, fmt.Errorf("create node stores: max nodes %d not in [0, %d]", maxNodes, MaxNodesLimit)
	}
	if err := nodeCfg.Validate(); err != nil {
		return nil, fmt.Errorf("create node stores: %w", err)
	}
	if nodeCfg.StateDir != "" || nodeCfg.ProcRoot != "" {
		return nil, fmt.Errorf("create node stores: %w: a node store has no state dir and no proc root", ErrInvalidConfig)
	}
	n := &Nodes{
		local: local, nodeCfg: nodeCfg, max: maxNodes, log: log, cur: local,
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "auditlkm", Subsystem: "correlate", Name: "nodes",
			Help: "Named nodes (node= of auditd's remote logging) with a correlation store of their own."}),
		overflow: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "auditlkm", Subsystem: "correlate", Name: "node_overflow_events_total",
			Help: "Events of named nodes past the node limit, evaluated without correlation state."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{n.gauge, n.overflow} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register node store metrics: %w", err)
			}
		}
	}
	return n, nil
}

// Close releases what the stores hold open (Store.Close).
func (n *Nodes) Close() {
	n.local.Close()
	for _, st := range n.nodes {
		st.Close()
	}
}

// Local returns the store of events without a node name.
func (n *Nodes) Local() *Store { return n.local }

// Node returns the store of a named node, nil when it has none ("" is the
// local store).
func (n *Nodes) Node(name string) *Store {
	if name == "" {
		return n.local
	}
	return n.nodes[name]
}

// Len returns how many named nodes have a store.
func (n *Nodes) Len() int { return len(n.nodes) }

// Overflow returns how many events of named nodes past the bound were
// evaluated without correlation state.
func (n *Nodes) Overflow() uint64 { return n.overN }

// store returns the store of node name, creating it within the bound.
func (n *Nodes) store(name string) *Store {
	if name == "" {
		return n.local
	}
	if s := n.nodes[name]; s != nil {
		return s
	}
	if len(n.nodes) >= n.max {
		n.overN++
		n.overflow.Inc()
		if !n.warned {
			n.warned = true
			n.log.Warn("node limit reached: events of further node names are evaluated without correlation state",
				"max_nodes", n.max, "node", name)
		}
		return nil
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		n.log.Error("node store metrics", "node", name, "err", err)
		return nil
	}
	s, err := New(n.nodeCfg, n.log.With("node", name), m)
	if err != nil {
		n.log.Error("create node store", "node", name, "err", err)
		return nil
	}
	if n.nodes == nil {
		n.nodes = make(map[string]*Store)
	}
	n.nodes[name] = s
	n.gauge.Set(float64(len(n.nodes)))
	return s
}

// Observe updates the store of ev's node, returns what it learned about
// ev, and makes the State view (Process, Parent, Ancestry) answer for
// that node until the next Observe. An event past the node bound has no
// facts and counts as learning (nothing is first seen without a history).
func (n *Nodes) Observe(ev *auditevent.Event) Facts {
	name := ""
	if ev != nil {
		name = ev.Node
	}
	n.cur = n.store(name)
	if n.cur == nil {
		return Facts{Learning: true}
	}
	return n.cur.Observe(ev)
}

// Process is the current node's Store.Process.
func (n *Nodes) Process(pid int) (auditevent.Process, bool) {
	if n.cur == nil {
		return auditevent.Process{}, false
	}
	return n.cur.Process(pid)
}

// Parent is the current node's Store.Parent.
func (n *Nodes) Parent(pid int) (auditevent.Process, bool) {
	if n.cur == nil {
		return auditevent.Process{}, false
	}
	return n.cur.Parent(pid)
}

// Ancestry is the current node's Store.Ancestry.
func (n *Nodes) Ancestry(pid int, max int) []auditevent.Process {
	if n.cur == nil {
		return nil
	}
	return n.cur.Ancestry(pid, max)
}

// AppendAncestry is the current node's Store.AppendAncestry.
func (n *Nodes) AppendAncestry(dst []auditevent.Process, pid int, max int) []auditevent.Process {
	if n.cur == nil {
		return dst
	}
	return n.cur.AppendAncestry(dst, pid, max)
}

// ReadConfigs runs Store.ReadConfigs on every store.
func (n *Nodes) ReadConfigs() {
	n.local.ReadConfigs()
	for _, s := range n.nodes {
		s.ReadConfigs()
	}
}

// Maintain runs Store.Maintain on every store.
func (n *Nodes) Maintain(now time.Time) {
	n.local.Maintain(now)
	for _, s := range n.nodes {
		s.Maintain(now)
	}
}
