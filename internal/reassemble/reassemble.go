package reassemble

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Config bounds the reassembler.
type Config struct {
	// MaxInFlight bounds the events waiting for more records; when full,
	// the oldest is handed on as evicted.
	MaxInFlight int
	// Timeout hands on an event that received no record for this long
	// (stream time: see Clock).
	Timeout time.Duration
	// RecordWindow hands on an event after this many later records arrived
	// without one for it; 0 disables. Replays of auditd logs, which carry
	// no EOE, use it; the live stream has EOE and leaves it 0.
	RecordWindow int
	// MaxRecordsPerEvent bounds one event; further records of the serial
	// start a new event for it (counted as split).
	MaxRecordsPerEvent int
	// MaxNodes bounds the named nodes (the node= prefix of auditd's
	// remote logging) whose serials are tracked, each on its own: gaps,
	// late records and resets per node. Records of further nodes are
	// still reassembled by (node, serial) but not tracked (counted as
	// untracked). 0 tracks the stream without a node name only.
	MaxNodes int
}

// DefaultMaxNodes is the default Config.MaxNodes. Each tracked node costs
// its serial bitmap (8 KiB).
const DefaultMaxNodes = 256

// MaxNodesLimit bounds Config.MaxNodes.
const MaxNodesLimit = 1 << 16

// DefaultConfig suits the live netlink stream.
func DefaultConfig() Config {
	return Config{MaxInFlight: 8192, Timeout: 2 * time.Second, MaxRecordsPerEvent: 4096, MaxNodes: DefaultMaxNodes}
}

// ReplayConfig suits logs written by auditd (no EOE records).
func ReplayConfig() Config {
	c := DefaultConfig()
	c.RecordWindow = 1024
	return c
}

// Validate reports nonsensical bounds.
func (c Config) Validate() error {
	switch {
	case c.MaxInFlight < 1 || c.MaxInFlight > 1<<20:
		return fmt.Errorf("reassembly max in-flight %d: must be 1..%d", c.MaxInFlight, 1<<20)
	case c.Timeout <= 0:
		return fmt.Errorf("reassembly timeout %s: must be positive", c.Timeout)
	case c.RecordWindow < 0:
		return fmt.Errorf("reassembly record window %d: must not be negative", c.RecordWindow)
	case c.MaxRecordsPerEvent < 1:
		return fmt.Errorf("reassembly max records per event %d: must be positive", c.MaxRecordsPerEvent)
	case c.MaxNodes < 0 || c.MaxNodes > MaxNodesLimit:
		return fmt.Errorf("reassembly max nodes %d: must be 0..%d", c.MaxNodes, MaxNodesLimit)
	}
	return nil
}

// Stats are the reassembler's running totals. Every record pushed is
// either in an event handed on, in flight, or counted in Ignored. Gaps,
// Late and Resets sum over every node; ByNode splits them per named node.
type Stats struct {
	Records    uint64                              // records pushed
	Ignored    uint64                              // EOE records (they end an event and are not kept)
	Events     [auditevent.CompleteLate + 1]uint64 // events handed on, by completion
	Gaps       uint64                              // serials never seen (lost before us)
	Late       uint64                              // records for a serial already handed on
	Resets     uint64                              // serial jumps treated as a new stream
	Incomplete uint64                              // events handed on that lack records they announce
	InFlight   int
	// Nodes is how many named nodes are tracked (at most MaxNodes);
	// Untracked counts the records of named nodes past that bound.
	Nodes     int
	Untracked uint64
	// ByNode holds each tracked named node's own counts (nil when the
	// stream had no node names).
	ByNode map[string]NodeStats
}

// NodeStats are one node's serial accounting.
type NodeStats struct {
	Records, Gaps, Late, Resets uint64
}

// resetAfterMs: a serial that goes backwards while record time jumps
// forward by more than this is a new stream, not a late record.
const resetAfterMs = 60_000

// initialRecords is the record capacity a new in-flight event starts
// with; it grows by one in place while the event is the last carved from
// the slab (see grow).
const initialRecords = 1

// maxSlabRecords: an event's record slice grows within the slab (by one in
// place, else doubling into a new carve) up to this capacity, then on the
// heap.
const maxSlabRecords = 16

// recordSlab is how many records one slab allocation holds; events' record
// slices are carved from it. It is small because an event kept long
// (RecentLoads, an aggregation sample) keeps its whole slab, and the
// texts of the slab's other events, alive.
const recordSlab = 64

var errNilOut = errors.New("reassemble: deliver function is nil")

// Reassembler groups records into events. It must be used from one
// goroutine.
type Reassembler struct {
	cfg     Config
	deliver func(*auditevent.Event)
	m       *Metrics
	bytes   int64 // record text in flight (see MaxInFlightBytes)

	// pending holds the events in flight of the stream without a node
	// name, by serial (the common case keeps the fast uint32 map);
	// nodePending those of named nodes, by (node, serial).
	pending     map[uint32]*pending
	nodePending map[eventKey]*pending
	ring        []*pending // arrival order of first record; head at ringHead
	ringHead    int
	clock       int64  // stream time, ms
	tick        uint64 // records pushed
	// last is the event the previous record went to: an event's records
	// arrive together, so most lookups end there without the map. Only
	// an event in flight (not done) is taken from it; such an event is
	// the one its key maps to.
	last *pending

	// local is the stream without a node name (the kernel's, or a log
	// written without name_format); nodes are the named ones, at most
	// MaxNodes, each with serials of its own.
	local     nodeState
	nodes     map[string]*nodeState
	overflown bool // a node past MaxNodes was seen (logged once)
	log       *slog.Logger

	intern auditevent.Interner // shared strings of the events built
	stats  Stats
	free   []*pending
	// slab is where events' record slices are carved from (each with its
	// capacity capped, so an append past it moves the event's records
	// out rather than into its neighbour's). The records go to the
	// events, so a slab is never reused; it lives as long as one of its
	// events does.
	slab []auditevent.Record
	// tail is the event whose records were carved last, from
	// slab[tailStart:]: while nothing was carved after them, they grow
	// in place (an event's records arrive together).
	tail      *pending
	tailStart int
}

// eventKey identifies an event: a serial is unique per node only (two
// hosts' kernels count on their own), so the node name is part of it.
type eventKey struct {
	node   string
	serial uint32
}

// nodeState is one node's stream: the serials seen, the latest record
// time (for resets) and its counts.
type nodeState struct {
	name     string
	gaps     serialTracker
	maxRecMs int64
	stats    NodeStats
	m        nodeMetrics
}

type pending struct {
	key      eventKey
	recs     []auditevent.Record
	lastMs   int64
	lastTick uint64
	late     bool
	done     bool
	bytes    int64 // the records' text, counted in Reassembler.bytes
}

// New returns a Reassembler that hands each event to deliver.
func New(cfg Config, deliver func(*auditevent.Event), m *Metrics) (*Reassembler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deliver == nil {
		return nil, errNilOut
	}
	return &Reassembler{
		cfg: cfg, deliver: deliver, m: m,
		// Not sized for MaxInFlight: the map grows with the events in
		// flight, and a small one stays in the cache (a replay has a few
		// hundred in flight, a map sized for 8192 misses on every lookup).
		pending: make(map[uint32]*pending),
		local:   nodeState{gaps: newSerialTracker()},
		log:     slog.New(slog.DiscardHandler),
	}, nil
}

// SetLogger sets where the reassembler logs (a node past MaxNodes, once).
func (r *Reassembler) SetLogger(l *slog.Logger) {
	if l != nil {
		r.log = l
	}
}

// Stats returns the running totals.
func (r *Reassembler) Stats() Stats {
	s := r.stats
	s.InFlight = r.inFlight()
	s.Nodes = len(r.nodes)
	if len(r.nodes) > 0 {
		s.ByNode = make(map[string]NodeStats, len(r.nodes))
		for name, n := range r.nodes {
			s.ByNode[name] = n.stats
		}
	}
	return s
}

// node returns the stream state of a node name: the local stream for "",
// nil for a named node past MaxNodes.
func (r *Reassembler) node(name string) *nodeState {
	if name == "" {
		return &r.local
	}
	if n := r.nodes[name]; n != nil {
		return n
	}
	if len(r.nodes) >= r.cfg.MaxNodes {
		if !r.overflown {
			r.overflown = true
			r.log.Warn("node limit reached: records of further node names are reassembled but their serials are not tracked (no gaps, late records or resets counted for them)",
				"max_nodes", r.cfg.MaxNodes, "node", name)
		}
		return nil
	}
	if r.nodes == nil {
		r.nodes = make(map[string]*nodeState)
	}
	n := &nodeState{name: name, gaps: newSerialTracker(), m: r.m.forNode(name)}
	r.nodes[name] = n
	r.m.nodeCount(len(r.nodes))
	return n
}

// Advance moves the stream clock to now (ms since the epoch) if it is
// later, and hands on events idle for longer than the timeout. The live
// pipeline calls it with the wall clock on a ticker; replay moves the clock
// with record timestamps.
func (r *Reassembler) Advance(nowMs int64) {
	if nowMs > r.clock {
		r.clock = nowMs
	}
	r.expire()
	timeout := r.cfg.Timeout.Milliseconds()
	if lost := r.local.gaps.expire(r.clock, timeout); lost > 0 {
		r.addGaps(&r.local, lost)
	}
	for _, n := range r.nodes {
		if lost := n.gaps.expire(r.clock, timeout); lost > 0 {
			r.addGaps(n, lost)
		}
	}
}

// Push adds one record. It may hand on one or more events before returning.
func (r *Reassembler) Push(rec auditevent.Record) {
	r.tick++
	r.stats.Records++
	r.m.record()
	ms := rec.UnixMilli()
	ns := r.node(rec.Node)
	var prevMax int64
	if ns != nil {
		ns.stats.Records++
		prevMax = ns.maxRecMs
		if ms > ns.maxRecMs {
			ns.maxRecMs = ms
		}
	} else {
		r.stats.Untracked++
		r.m.untracked()
	}
	if ms > r.clock && (r.cfg.RecordWindow > 0 || r.clock == 0) {
		// Replays follow record time; a live stream's clock comes from
		// Advance, but starts at the first record's time, never at 0.
		r.clock = ms
	}
	t := rec.Type
	// auditd's own DAEMON_* records have their own serials.
	tracked := ns != nil && (t < 1200 || t > 1299)
	key := eventKey{node: rec.Node, serial: rec.Serial}
	p := r.lookup(key)
	if p == nil {
		late := false
		if tracked {
			st, lost := ns.gaps.observe(rec.Serial, r.clock)
			if st == serialLate && prevMax > 0 && ms-prevMax > resetAfterMs {
				// A lower serial with a much later time: the kernel
				// restarted its counter (a reboot inside a replayed log).
				ns.gaps.reset(rec.Serial)
				ns.gaps.mark(rec.Serial, r.clock)
				st = serialReset
			}
			switch st {
			case serialLate:
				late = true
			case serialReset:
				r.stats.Resets++
				ns.stats.Resets++
				r.m.reset()
				ns.m.reset()
			}
			if lost > 0 {
				r.addGaps(ns, lost)
			}
		}
		if t == auparse.AUDIT_EOE {
			// An EOE with nothing before it: its records were handed on
			// already (late) or never came (counted as a gap above).
			r.stats.Ignored++
			if late {
				r.addLate(ns)
			}
			return
		}
		if late {
			r.addLate(ns)
		}
		if standalone(t) && !late {
			r.emit([]auditevent.Record{rec}, auditevent.CompleteStandalone)
			r.housekeep()
			return
		}
		p = r.newPending(key, late)
	}
	if t == auparse.AUDIT_EOE {
		r.stats.Ignored++
		r.complete(p, auditevent.CompleteEOE)
		r.housekeep()
		return
	}
	if len(p.recs) >= r.cfg.MaxRecordsPerEvent {
		r.complete(p, auditevent.CompleteEvicted)
		p = r.newPending(key, true)
	}
	if len(p.recs) == cap(p.recs) && cap(p.recs) < maxSlabRecords && !r.grow(p) {
		// Moved to a new carve: one slot more when p is the last carved
		// (the slab is full; it goes on growing in place in the next),
		// twice as many when other events were carved after it.
		n := 2 * cap(p.recs)
		if r.tail == p {
			n = cap(p.recs) + 1
		}
		p.recs = append(r.carve(n), p.recs...)
		r.tail, r.tailStart = p, len(r.slab)-cap(p.recs)
	}
	p.recs = append(p.recs, rec)
	p.lastMs, p.lastTick = r.clock, r.tick
	r.last = p
	n := int64(len(rec.Text) + recordOverhead)
	p.bytes += n
	r.bytes += n
	// Bounded by bytes too: events that never end (no EOE, forged logs,
	// an argv of hundreds of records) are handed on, oldest first.
	for r.bytes > MaxInFlightBytes && r.ringHead < len(r.ring) {
		r.evictOldest()
	}
	r.housekeep()
}

// MaxInFlightBytes bounds the record text of the events in flight (each
// record counted with recordOverhead): past it the oldest are handed on as
// evicted, whatever MaxInFlight allows.
const MaxInFlightBytes = 64 << 20

// recordOverhead estimates what a record costs besides its text.
const recordOverhead = 128

// Flush hands on every event in flight and settles the gap tracker, as at
// the end of a replay or at shutdown.
func (r *Reassembler) Flush() {
	for r.ringHead < len(r.ring) {
		p := r.ring[r.ringHead]
		r.ring[r.ringHead] = nil
		r.ringHead++
		if !p.done {
			r.complete(p, auditevent.CompleteFlushed)
		}
		r.recycle(p)
	}
	r.ring, r.ringHead = r.ring[:0], 0
	if lost := r.local.gaps.flush(); lost > 0 {
		r.addGaps(&r.local, lost)
	}
	for _, n := range r.nodes {
		if lost := n.gaps.flush(); lost > 0 {
			r.addGaps(n, lost)
		}
	}
}

func (r *Reassembler) newPending(key eventKey, late bool) *pending {
	var p *pending
	if n := len(r.free); n > 0 {
		p = r.free[n-1]
		r.free = r.free[:n-1]
		*p = pending{}
	} else {
		p = &pending{}
	}
	p.key, p.late, p.lastMs, p.lastTick = key, late, r.clock, r.tick
	// The slice goes to the event, so it cannot be reused.
	p.recs = r.carve(initialRecords)
	r.tail, r.tailStart = p, len(r.slab)-initialRecords
	r.insert(key, p)
	r.ring = append(r.ring, p)
	if r.inFlight() > r.cfg.MaxInFlight {
		r.evictOldest()
	}
	return p
}

func (r *Reassembler) inFlight() int { return len(r.pending) + len(r.nodePending) }

func (r *Reassembler) lookup(k eventKey) *pending {
	if l := r.last; l != nil && !l.done && l.key == k {
		return l
	}
	if k.node == "" {
		return r.pending[k.serial]
	}
	return r.nodePending[k]
}

func (r *Reassembler) insert(k eventKey, p *pending) {
	if k.node == "" {
		r.pending[k.serial] = p
		return
	}
	if r.nodePending == nil {
		r.nodePending = make(map[eventKey]*pending)
	}
	r.nodePending[k] = p
}

// remove takes p out of the in-flight map unless a newer event of its key
// replaced it there.
func (r *Reassembler) remove(p *pending) {
	if p.key.node == "" {
		if r.pending[p.key.serial] == p {
			delete(r.pending, p.key.serial)
		}
		return
	}
	if r.nodePending[p.key] == p {
		delete(r.nodePending, p.key)
	}
}

// carve returns an empty record slice of capacity n (at most
// recordSlab) from the slab.
func (r *Reassembler) carve(n int) []auditevent.Record {
	if cap(r.slab)-len(r.slab) < n {
		r.slab = make([]auditevent.Record, 0, recordSlab)
	}
	i := len(r.slab)
	r.slab = r.slab[:i+n]
	return r.slab[i : i : i+n]
}

// grow adds one record to the capacity of p's records in place when they
// are the last carved from the slab and it has room; false when it cannot.
// An event's records arrive together, so most events take exactly the
// slots they fill.
func (r *Reassembler) grow(p *pending) bool {
	n := cap(p.recs)
	if r.tail != p || r.tailStart+n != len(r.slab) || len(r.slab) == cap(r.slab) {
		return false
	}
	r.slab = r.slab[:len(r.slab)+1]
	p.recs = r.slab[r.tailStart : r.tailStart+len(p.recs) : r.tailStart+n+1]
	return true
}

func (r *Reassembler) evictOldest() {
	for r.ringHead < len(r.ring) {
		p := r.ring[r.ringHead]
		if p.done {
			r.popHead()
			continue
		}
		r.complete(p, auditevent.CompleteEvicted)
		r.popHead()
		return
	}
}

func (r *Reassembler) popHead() {
	p := r.ring[r.ringHead]
	r.ring[r.ringHead] = nil
	r.ringHead++
	r.recycle(p)
	// Compact the ring once the dead head dominates it.
	if r.ringHead > 1024 && r.ringHead*2 > len(r.ring) {
		n := copy(r.ring, r.ring[r.ringHead:])
		for i := n; i < len(r.ring); i++ {
			r.ring[i] = nil
		}
		r.ring, r.ringHead = r.ring[:n], 0
	}
}

func (r *Reassembler) recycle(p *pending) {
	if len(r.free) < 1024 {
		p.recs = nil
		r.free = append(r.free, p)
	}
}

// housekeep drops completed heads and applies the record window.
func (r *Reassembler) housekeep() {
	for r.ringHead < len(r.ring) {
		p := r.ring[r.ringHead]
		switch {
		case p.done:
			r.popHead()
		case r.cfg.RecordWindow > 0 && (r.tick-p.lastTick > uint64(r.cfg.RecordWindow) ||
			r.clock-p.lastMs > r.cfg.Timeout.Milliseconds()):
			r.complete(p, auditevent.CompleteIdle)
			r.popHead()
		default:
			return
		}
	}
}

func (r *Reassembler) expire() {
	timeout := r.cfg.Timeout.Milliseconds()
	for r.ringHead < len(r.ring) {
		p := r.ring[r.ringHead]
		switch {
		case p.done:
			r.popHead()
		case r.clock-p.lastMs > timeout:
			r.complete(p, auditevent.CompleteIdle)
			r.popHead()
		default:
			return
		}
	}
}

func (r *Reassembler) complete(p *pending, how auditevent.Completion) {
	p.done = true
	r.remove(p)
	r.bytes -= p.bytes
	p.bytes = 0
	if p.late {
		how = auditevent.CompleteLate
	}
	recs := p.recs
	p.recs = nil
	if len(recs) == 0 {
		return
	}
	r.emit(recs, how)
}

func (r *Reassembler) emit(recs []auditevent.Record, how auditevent.Completion) {
	ev := auditevent.BuildInterned(recs, how, &r.intern)
	r.stats.Events[how]++
	r.m.event(how)
	if reason := Incomplete(ev); reason != "" {
		r.stats.Incomplete++
		r.m.incomplete(reason)
	}
	r.deliver(ev)
}

func (r *Reassembler) addGaps(ns *nodeState, n uint64) {
	r.stats.Gaps += n
	ns.stats.Gaps += n
	r.m.gaps(n)
	ns.m.gaps(n)
}

func (r *Reassembler) addLate(ns *nodeState) {
	r.stats.Late++
	ns.stats.Late++
	r.m.late()
	ns.m.late()
}

// standalone reports record types the kernel or user space sends as a
// whole event on their own: user-space messages (1100-1199, 2100-2999),
// auditd's own (1200-1299), and kernel anomalies outside syscall context.
func standalone(t auparse.AuditMessageType) bool {
	switch {
	case t < 1300:
		return true
	case t == auparse.AUDIT_ANOM_PROMISCUOUS, t == auparse.AUDIT_ANOM_ABEND, t == auparse.AUDIT_KERNEL:
		return true
	case t >= 2100:
		return true
	}
	return false
}

// Incomplete names what an event lacks, or "" when nothing it announces is
// missing: PATH records short of the SYSCALL's items=, EXECVE arguments
// short of argc, or syscall-context records without their SYSCALL.
func Incomplete(ev *auditevent.Event) string {
	switch {
	case ev.HasSyscall && ev.Syscall.Items > len(ev.Paths):
		return "path_missing"
	case ev.HasExecve && ev.ArgvPartial:
		return "execve_partial"
	case !ev.HasSyscall && (ev.HasExecve || ev.HasCwd || len(ev.Paths) > 0 || len(ev.Proctitle) > 0):
		return "syscall_missing"
	}
	return ""
}
