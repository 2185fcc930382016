package correlate

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Kinds of values in the first-seen history.
const (
	// SeenModule: a module name from KERN_MODULE on init_module/finit_module.
	SeenModule = "module"
	// SeenKoPath: the path of a module file that was written.
	SeenKoPath = "ko_path"
	// SeenKmodArgs: a kmod tool's command line, see kmodArgs.
	SeenKmodArgs = "kmod_args"
	// SeenExe: an executable that was successfully executed.
	SeenExe = "exe"
)

var seenKinds = [...]string{"", SeenModule, SeenKoPath, SeenKmodArgs, SeenExe}

func seenKind(k string) uint8 {
	for i := 1; i < len(seenKinds); i++ {
		if seenKinds[i] == k {
			return uint8(i)
		}
	}
	return 0
}

// maxSeenValue bounds a stored value: a longer one is kept as a prefix and
// the SHA-256 of the whole, so distinct long values stay distinct.
const maxSeenValue = 1024

func seenValue(v string) string {
	if len(v) <= maxSeenValue {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return v[:maxSeenValue-72] + "...sha256:" + hex.EncodeToString(sum[:])
}

// Seen is the history of one value.
type Seen struct {
	First, Last time.Time
	Count       uint64
}

type seenKey struct {
	kind  uint8
	value string
}

type seenEntry struct {
	key   seenKey
	s     Seen
	first eventRef // the event that first marked it; zero when loaded
	lru   *list.Element
}

type seenTable struct {
	m     map[seenKey]*seenEntry
	lru   list.List // front: least recently seen
	bytes int64     // sum of seenSize of the entries
}

func (t *seenTable) init() {
	t.m = make(map[seenKey]*seenEntry)
	t.lru.Init()
	t.bytes = 0
}

// MarkSeen records a sighting of value of kind at time at. Unknown kinds
// and empty values are ignored. Observe marks module names, written module
// paths, executables and kmod command lines itself.
func (s *Store) MarkSeen(kind, value string, at time.Time) {
	k := seenKind(kind)
	if k == 0 || value == "" {
		return
	}
	s.markSeen(seenKey{k, seenValue(value)}, Seen{First: at, Last: at, Count: 1}, s.cur)
}

func (s *Store) markSeen(key seenKey, v Seen, ref eventRef) {
	t := &s.seen
	if e := t.m[key]; e != nil {
		if v.Last.After(e.s.Last) {
			e.s.Last = v.Last
		}
		if v.First.Before(e.s.First) {
			e.s.First = v.First
		}
		if e.s.Count+v.Count >= e.s.Count {
			e.s.Count += v.Count
		}
		t.lru.MoveToBack(e.lru)
		return
	}
	for len(t.m) >= s.cfg.MaxSeen {
		s.dropSeen(t.lru.Front().Value.(*seenEntry), riCapacity)
	}
	key.value = strings.Clone(key.value) // never pin the record text
	for len(t.m) > 0 && t.bytes+seenSize(key) > s.cfg.MaxSeenBytes {
		s.dropSeen(t.lru.Front().Value.(*seenEntry), riBytes)
	}
	e := &seenEntry{key: key, s: v, first: ref}
	e.lru = t.lru.PushBack(e)
	t.m[key] = e
	t.bytes += seenSize(key)
	if ref != (eventRef{}) && ref == s.cur && len(s.fresh) < maxFreshPerEvent {
		s.fresh = append(s.fresh, SeenValue{Kind: seenKinds[key.kind], Value: key.value})
	}
}

// maxFreshPerEvent bounds Facts.FirstSeen.
const maxFreshPerEvent = 8

// seenOverhead estimates what a first-seen entry costs besides its value.
const seenOverhead = 256

func seenSize(k seenKey) int64 { return int64(seenOverhead + len(k.value)) }

func (s *Store) dropSeen(e *seenEntry, reason int) {
	s.seen.bytes -= seenSize(e.key)
	delete(s.seen.m, e.key)
	s.seen.lru.Remove(e.lru)
	s.m.evicted(tiSeen, reason)
}

func (s *Store) expireSeen(nowMs int64) {
	ttl := s.cfg.SeenTTL.Milliseconds()
	for el := s.seen.lru.Front(); el != nil; el = s.seen.lru.Front() {
		e := el.Value.(*seenEntry)
		if e.s.Last.UnixMilli()+ttl > nowMs {
			break
		}
		s.dropSeen(e, riTTL)
	}
}

// SeenBefore reports whether value of kind was seen on this host before
// the event being observed (a value first marked by that very event was
// not seen before).
func (s *Store) SeenBefore(kind, value string) bool {
	e := s.seen.m[seenKey{seenKind(kind), seenValue(value)}]
	return e != nil && (e.first == eventRef{} || e.first != s.cur)
}

// SeenHistory returns the history of value of kind.
func (s *Store) SeenHistory(kind, value string) (Seen, bool) {
	if e := s.seen.m[seenKey{seenKind(kind), seenValue(value)}]; e != nil {
		return e.s, true
	}
	return Seen{}, false
}

// learning reports whether the store is still in its learning period, as
// of the event being observed (Facts.Learning):
// LearningPeriod after the first start ever on this host. First-seen
// alerts are not raised while learning.
//
// A store with neither StateDir nor ProcRoot replays recorded events: it
// has no first start to speak of, so it learns for LearningPeriod of event
// time after the first event it observed. A replay of a week of logs thus
// learns from its first day and reports what is new after it; a replay
// shorter than the period reports nothing (set LearningPeriod to zero to
// report every value's first appearance in the replay).
func (s *Store) learning() bool {
	if s.cfg.LearningPeriod <= 0 {
		return false
	}
	if s.cfg.StateDir == "" && !s.live() {
		return s.firstEvent == 0 || s.cur.milli < s.firstEvent+s.cfg.LearningPeriod.Milliseconds()
	}
	return s.now().Before(s.firstStart.Add(s.cfg.LearningPeriod))
}

// FirstStart returns the time auditlkm first started on this host, as
// persisted in the state (the time of New when there is no state).
func (s *Store) FirstStart() time.Time { return s.firstStart }

// kmodTools are the names kmod answers to (all symlinks to /usr/bin/kmod).
var kmodTools = map[string]bool{"kmod": true, "insmod": true, "modprobe": true, "rmmod": true}

// kmodArgs renders a kmod tool's command line for the history: the tool's
// name, then its arguments, separated by NUL bytes; "" for other programs.
func kmodArgs(p *auditevent.Process) string {
	name := p.Name()
	if !kmodTools[name] {
		if !strings.HasSuffix(p.Exe, "/kmod") {
			return ""
		}
		name = "kmod"
	}
	if len(p.Args) <= 1 {
		return name
	}
	return name + "\x00" + strings.Join(p.Args[1:], "\x00")
}
