package pipeline

import (
	"cmp"
	"slices"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/detections"
)

// Alert storms: a process that loads modules (or writes configuration) in a
// loop would otherwise raise thousands of identical alerts a second, each
// kilobytes of JSON, and the daemon would spend its time writing them
// instead of reading the kernel. Alerts are therefore aggregated: per
// detection, process (pid and executable; for a load the kernel refused
// for want of privilege, user and executable), file, severity, action and
// reason (see aggKey), the first Burst alerts
// of a Window go out one by one; the rest are counted, and when the window
// ends one summary alert goes out (the first one held back) carrying how
// many alerts it stands for (detections.Alert.Aggregated, auditd.aggregated_count
// in ECS). No event is dropped: every one was evaluated, and the alerts
// written, each summary counted for its aggregated_count, add up exactly.

// DefaultAggregation: ten alerts per second per detection, process and file.
const (
	DefaultAggregateBurst  = 10
	DefaultAggregateWindow = time.Second
	// maxAggregateKeys bounds the aggregation table; when full, every
	// pending summary is written and the table starts over.
	maxAggregateKeys = 4096
)

// aggKey: only alerts identical in everything a reader acts on are
// aggregated. Severity, action and reason are part of it, so a successful
// load after a loop of refused attempts (or another module, another exit
// code) is never folded into their summary.
type aggKey struct {
	node string // the event's host (auditd's node=): hosts never share a summary
	rule string
	pid  int
	// uid stands for the pid (0) when perUser: a load the kernel refused
	// for want of privilege loads nothing, and a user can make them from
	// as many processes as it can fork, each its own alert otherwise
	// (measured: 460 processes a second, 3.8 MB of alerts a second, from
	// an unprivileged user).
	uid      uint32
	perUser  bool
	exe      string
	path     string
	severity detections.Severity
	action   string
	reason   string
}

// aggRecentSlots is how many recently used aggregation keys the processor
// checks before the table: a storm repeats the same few keys (one per
// detection that fires), and comparing keys whose strings are shared is
// cheaper than hashing them.
const aggRecentSlots = 4

type aggRecent struct {
	k aggKey
	s *aggState // nil: the slot is empty
}

type aggState struct {
	start  int64 // window start, event time in ms
	sent   int
	held   int
	sample detections.Alert // the first alert held back in this window
	size   int64            // sampleSize of sample, in Processor.aggBytes
}

func alertMilli(a *detections.Alert) int64 {
	if a.Event != nil {
		return a.Event.UnixMilli()
	}
	return time.Now().UnixMilli()
}

// deliver writes a, or counts it: suppressed by an exclusion, or held back
// by the aggregation.
func (p *Processor) deliver(a *detections.Alert, st detections.State) {
	if a.Suppressed != "" {
		p.countSuppressed(a.Rule.ID, a.Suppressed)
		return
	}
	if a.ExclusionRefused != "" {
		p.countRefused(a.Rule.ID, a.ExclusionRefused)
	}
	if p.aggBurst > 0 {
		k := aggKey{rule: a.Rule.ID, pid: a.Process.PID, exe: a.Process.Exe,
			severity: a.Severity, action: a.Action, reason: a.Reason}
		if a.File != nil {
			k.path = a.File.Path
		}
		if a.Event != nil {
			k.node = a.Event.Node
			if correlate.RefusedLoad(&a.Event.Syscall) {
				k.pid, k.uid, k.perUser = 0, a.Event.Syscall.UID, true
			}
		}
		t := alertMilli(a)
		if p.clock > 0 && t > p.clock {
			// Stamped ahead of the clock (a forged or skewed log): it
			// counts as now, or its window would hold the storm's summary
			// back until the clock caught up (EOF).
			t = p.clock
		}
		s := p.aggLookup(&k)
		switch {
		case s == nil:
			if len(p.agg) >= maxAggregateKeys {
				p.expireAggregates(0, true)
			}
			if p.agg == nil {
				p.agg = map[aggKey]*aggState{}
			}
			s = p.newAggState(t)
			p.agg[k] = s
			p.aggRemember(&k, s)
		case t-s.start >= p.aggWindow || t < s.start:
			// The window ended, or started ahead of this alert (its first
			// alert was stamped in the future): close it.
			p.summarize(s)
			s.start, s.sent = t, 0
		}
		if s.sent >= p.aggBurst {
			if s.held == 0 {
				p.complete(a, st)
				s.sample = *a
				s.size = sampleSize(a)
				p.aggBytes += s.size
			}
			s.held++
			p.aggregated++
			p.m.aggregated(a.Rule.ID)
			if p.aggBytes > maxAggregateBytes {
				// The samples held are too large (long argv, many
				// records): write every pending summary now.
				p.expireAggregates(0, true)
			}
			return
		}
		s.sent++
	}
	p.writeNow(a, st)
}

// aggLookup returns the aggregation state of k, or nil.
func (p *Processor) aggLookup(k *aggKey) *aggState {
	for i := range p.aggRecent {
		if r := &p.aggRecent[i]; r.s != nil && r.k == *k {
			return r.s
		}
	}
	s := p.agg[*k]
	if s != nil {
		p.aggRemember(k, s)
	}
	return s
}

// aggRemember puts k in the recent slots, replacing the oldest.
func (p *Processor) aggRemember(k *aggKey, s *aggState) {
	p.aggRecent[p.aggNext] = aggRecent{k: *k, s: s}
	p.aggNext = (p.aggNext + 1) % aggRecentSlots
}

// complete adds what every written alert carries: the ancestry.
func (p *Processor) complete(a *detections.Alert, st detections.State) {
	if a.Ancestors == nil && a.Process.PID > 0 && st != nil {
		a.Ancestors = st.Ancestry(a.Process.PID, detections.MaxAncestors)
	}
}

// writeNow completes and writes a, which nothing keeps: the sink copies
// what it keeps (Sink), so a's ancestry is built in the processor's
// buffer, reused from alert to alert, and taken off a again after the
// write. Under an alert storm that was a quarter of the bytes the daemon
// allocated (about 1 KiB per alert).
func (p *Processor) writeNow(a *detections.Alert, st detections.State) {
	if a.Ancestors != nil || a.Process.PID <= 0 || st == nil {
		p.write(a)
		return
	}
	p.ancestors = st.AppendAncestry(p.ancestors[:0], a.Process.PID, detections.MaxAncestors)
	if len(p.ancestors) > 0 {
		a.Ancestors = p.ancestors
	}
	p.write(a)
	a.Ancestors = nil
}

func (p *Processor) write(a *detections.Alert) {
	p.alerts[a.Rule.ID]++
	p.m.alert(a.Rule.ID)
	if err := p.sink.WriteAlert(a); err != nil {
		p.writeFailed("write alert", err, "rule", a.Rule.ID)
	}
}

// summarize writes the summary of a window that held alerts back.
func (p *Processor) summarize(s *aggState) {
	if s.held == 0 {
		return
	}
	a := s.sample
	a.Aggregated = s.held
	s.held, s.sample = 0, detections.Alert{}
	p.aggBytes -= s.size
	s.size = 0
	p.write(&a)
}

// maxAggregateBytes bounds the estimated size of the sample alerts the
// aggregation holds (besides maxAggregateKeys): past it every pending
// summary is written at once, as when the table is full.
const maxAggregateBytes = 16 << 20

// sampleSize estimates the memory a held sample alert keeps alive: its
// event's records and the process argv it carries.
func sampleSize(a *detections.Alert) int64 {
	n := 1024
	if a.Event != nil {
		for i := range a.Event.Records {
			n += 128 + len(a.Event.Records[i].Text)
		}
	}
	for _, p := range append([]auditevent.Process{a.Process}, a.Ancestors...) {
		for _, arg := range p.Args {
			n += 16 + len(arg)
		}
	}
	return int64(n)
}

// expireAggregates writes the summaries of windows ended by nowMs (all of
// them with all) and forgets idle keys.
func (p *Processor) expireAggregates(nowMs int64, all bool) {
	if len(p.agg) == 0 {
		return
	}
	p.aggRecent = [aggRecentSlots]aggRecent{} // they may go: forget them
	// Collected, then written in event order: a map's order would make
	// the same input give its summaries in a different order each run.
	// Only windows that held alerts back have a summary to write, and
	// only they are sorted: a replay of the heavy corpus fills the table
	// twelve times a pass, mostly with keys of one or two alerts
	// (sorting and deleting every key took 14 of 1070 ms of the pass).
	due := p.aggDue[:0]
	for k, s := range p.agg {
		if !all && nowMs-s.start < p.aggWindow {
			continue
		}
		if s.held > 0 {
			due = append(due, s)
		} else {
			p.releaseAggState(s)
		}
		if !all {
			delete(p.agg, k)
		}
	}
	if all {
		clear(p.agg)
	}
	slices.SortFunc(due, func(a, b *aggState) int {
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return compareSamples(&a.sample, &b.sample)
	})
	for i, s := range due {
		p.summarize(s)
		p.releaseAggState(s)
		due[i] = nil
	}
	p.aggDue = due[:0]
}

// newAggState returns a state for a new key whose window starts at t,
// reusing one an expiry released: a replay of the heavy corpus makes
// 50,000 keys a pass (an aggState holds a whole sample Alert: 18 MB).
func (p *Processor) newAggState(t int64) *aggState {
	n := len(p.aggFree)
	if n == 0 {
		return &aggState{start: t}
	}
	s := p.aggFree[n-1]
	p.aggFree[n-1] = nil
	p.aggFree = p.aggFree[:n-1]
	s.start = t
	return s
}

// releaseAggState keeps s, no longer in the table nor in the recent
// slots, for newAggState. It holds no alert any more: summarize cleared
// the sample. The free list is as bounded as the table: every state in it
// was in the table, and the table takes from it first.
func (p *Processor) releaseAggState(s *aggState) {
	*s = aggState{}
	p.aggFree = append(p.aggFree, s)
}

// compareSamples orders summaries of windows that started in the same
// millisecond: by their sample's event serial, node, then detection.
func compareSamples(a, b *detections.Alert) int {
	var as, bs uint32
	var an, bn string
	if a.Event != nil {
		as, an = a.Event.Serial, a.Event.Node
	}
	if b.Event != nil {
		bs, bn = b.Event.Serial, b.Event.Node
	}
	if c := cmp.Compare(as, bs); c != 0 {
		return c
	}
	if c := cmp.Compare(an, bn); c != 0 {
		return c
	}
	var ar, br string
	if a.Rule != nil {
		ar = a.Rule.ID
	}
	if b.Rule != nil {
		br = b.Rule.ID
	}
	return cmp.Compare(ar, br)
}
