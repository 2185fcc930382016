package auditevent

import (
	"hash/maphash"
	"strings"
)

// Interner hands out shared copies of the short strings that repeat from
// event to event (executables, comm, tty, SELinux contexts, cwd, PATH
// devices and name types), so that decoding them costs a map lookup rather
// than an allocation, and tables that keep them share one copy. It also
// shares the splits of PROCTITLE arguments and audit keys, and remembers
// the decodings of recently seen SYSCALL, PROCTITLE and PATH bodies (memo.go),
// so that events built with it share those slices: they are read only.
// It is bounded: when full it starts over. A nil *Interner allocates every
// time. An Interner must be used from one goroutine.
type Interner struct {
	m       map[string]string
	scratch []byte
	// splits caches the split of interned strings (PROCTITLE arguments,
	// audit keys), keyed by separator and text: the same process sends
	// the same title event after event. Bounded like m.
	splits map[splitKey][]string

	// The decodings of recent SYSCALL, PROCTITLE and PATH bodies
	// (memo.go).
	syscalls   decodeMemo[Syscall]
	proctitles decodeMemo[proctitleMemo]
	paths      decodeMemo[Path]

	// pathSlab hands out the events' Paths slices (see pathsFor).
	pathSlab []Path

	// names remembers recent PATH names, direct-mapped by hash (see
	// name): unlike the strings in m, most names are not repeated (a
	// file created, renamed and removed is named once each time), so a
	// miss costs a hash rather than a map insertion and its growth.
	names    [nameSlots]string
	nameSeed maphash.Seed
}

// pathSlab is how many Paths one slab allocation holds: an event's Paths
// are carved from it, one allocation for dozens of events. An event kept
// pins its slab (a few KiB).
const pathSlab = 64

// pathsFor returns an empty Path slice of capacity n, carved from the slab
// when n is small (its capacity is capped: appending past n never touches
// another event's Paths).
func (in *Interner) pathsFor(n int) []Path {
	if in == nil || n > pathSlab/4 {
		return make([]Path, 0, n)
	}
	if cap(in.pathSlab)-len(in.pathSlab) < n {
		in.pathSlab = make([]Path, 0, pathSlab)
	}
	i := len(in.pathSlab)
	in.pathSlab = in.pathSlab[:i+n]
	return in.pathSlab[i : i : i+n]
}

// nameSlots is the number of PATH names an Interner remembers (a power
// of two).
const nameSlots = 256

type splitKey struct {
	sep string
	s   string
}

const (
	// maxInterned bounds the entries of an Interner.
	maxInterned = 8192
	// maxInternLen: longer strings are rarely repeated; they are copied.
	maxInternLen = 256
)

// Bytes returns b as a string, shared with earlier equal strings.
func (in *Interner) Bytes(b []byte) string {
	if in == nil || len(b) > maxInternLen {
		return string(b)
	}
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	if in.m == nil || len(in.m) >= maxInterned {
		in.m = make(map[string]string, 256)
	}
	s := string(b)
	in.m[s] = s
	return s
}

// name returns b as a string, shared with an equal PATH name seen
// recently (the one in its slot).
func (in *Interner) name(b []byte) string {
	if in == nil || len(b) > maxInternLen {
		return string(b)
	}
	if in.nameSeed == (maphash.Seed{}) {
		in.nameSeed = maphash.MakeSeed()
	}
	slot := &in.names[maphash.Bytes(in.nameSeed, b)&(nameSlots-1)]
	if *slot == string(b) {
		return *slot
	}
	s := string(b)
	*slot = s
	return s
}

// str is name when path is set, else Bytes.
func (in *Interner) str(b []byte, path bool) string {
	if path {
		return in.name(b)
	}
	return in.Bytes(b)
}

// hex decodes upper-case hex (checked by IsHex) and interns the result
// (as a PATH name when path is set).
func (in *Interner) hex(v []byte, path bool) string {
	if in == nil || len(v)/2 > maxInternLen {
		return string(DecodeHex(v))
	}
	n := len(v) / 2
	if cap(in.scratch) < n {
		in.scratch = make([]byte, n, maxInternLen)
	}
	out := in.scratch[:n]
	for i := range out {
		out[i] = unhex(v[2*i])<<4 | unhex(v[2*i+1])
	}
	return in.str(out, path)
}

// untrusted is Untrusted with interning; path says f is a PATH name.
func (in *Interner) untrusted(f Field, path bool) (s string, present bool, hexErr bool) {
	if f.Quote != 0 {
		return in.str(f.Value, path), true, false
	}
	v := f.Value
	if len(v) == 0 || string(v) == "(null)" || string(v) == "?" || string(v) == "(none)" {
		return "", false, false
	}
	if IsHex(v) {
		return in.hex(v, path), true, false
	}
	return in.str(v, path), true, true
}

// split is strings.Split(s, sep), shared with earlier equal splits when s
// is short enough to be interned. Callers must not modify the result.
func (in *Interner) split(s, sep string) []string {
	if in == nil || len(s) > maxInternLen {
		return strings.Split(s, sep)
	}
	k := splitKey{sep, s}
	if v, ok := in.splits[k]; ok {
		return v
	}
	if in.splits == nil || len(in.splits) >= maxInterned {
		in.splits = make(map[splitKey][]string, 64)
	}
	v := strings.Split(s, sep)
	in.splits[k] = v[:len(v):len(v)]
	return v
}
