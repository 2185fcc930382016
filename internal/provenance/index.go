package provenance

import (
	"bytes"
	"errors"
	"hash/maphash"
	"slices"
)

// maxIndexBytes bounds the paths an ownerIndex holds (offsets are 32-bit).
// Debian's largest desktops list about 500,000 paths, 40 MB.
const maxIndexBytes = 1 << 30

var errIndexTooLarge = errors.New("package file lists too large to index")

// ownerIndex maps the paths of dpkg's file lists to the packages that list
// them. It holds no pointers besides the package names: a host's lists
// name 100,000 to 500,000 paths, and as a map of strings to slices of
// strings (17 MB here) they were half the daemon's live heap, which every
// collection scans. Here the paths are one byte slice, the entries and the
// hash table are plain numbers, and the collector skips them.
type ownerIndex struct {
	seed  maphash.Seed
	mask  uint64            // applied to every hash: all ones, fewer bits in tests to make paths collide
	first map[uint64]uint32 // hash of a path -> its first entry + 1
	ents  []ownerEntry
	blob  []byte   // the paths, one after another
	pkgOf []uint32 // the packages of every entry (ownerEntry.own)
	pkgs  []string // package names, in the order their lists were read
}

// ownerEntry is one distinct path.
type ownerEntry struct {
	off, n    uint32 // the path: blob[off : off+n]
	own, nOwn uint32 // its packages: pkgOf[own : own+nOwn], in reading order
	next      uint32 // the next entry whose path has the same hash, + 1
}

// owners returns the packages that list p, in the order their lists were
// read; nil when none does.
func (ix *ownerIndex) owners(p string) []string {
	if ix == nil {
		return nil
	}
	i := find(ix, maphash.String(ix.seed, p)&ix.mask, p)
	if i == 0 {
		return nil
	}
	e := &ix.ents[i-1]
	out := make([]string, e.nOwn)
	for j := range out {
		out[j] = ix.pkgs[ix.pkgOf[e.own+uint32(j)]]
	}
	return out
}

// find returns the entry whose path is p among those hashed to h, + 1; 0
// when none is.
func find[P string | []byte](ix *ownerIndex, h uint64, p P) uint32 {
	for i := ix.first[h]; i != 0; i = ix.ents[i-1].next {
		e := &ix.ents[i-1]
		if string(ix.blob[e.off:e.off+e.n]) == string(p) {
			return i
		}
	}
	return 0
}

// indexBuilder builds an ownerIndex from the lists, read one package after
// another.
type indexBuilder struct {
	ix    ownerIndex
	pairs []ownerPair // (entry, package) in reading order
}

type ownerPair struct{ ent, pkg uint32 }

func newIndexBuilder() *indexBuilder {
	return &indexBuilder{ix: ownerIndex{seed: maphash.MakeSeed(), mask: ^uint64(0), first: make(map[uint64]uint32, 1<<16)}}
}

// pkg starts the list of package name.
func (b *indexBuilder) pkg(name string) {
	b.ix.pkgs = append(b.ix.pkgs, name)
}

// add records that the current package lists p.
func (b *indexBuilder) add(p []byte) error {
	ix := &b.ix
	h := maphash.Bytes(ix.seed, p) & ix.mask
	ent := find(ix, h, p)
	if ent == 0 {
		if len(ix.blob)+len(p) > maxIndexBytes {
			return errIndexTooLarge
		}
		ix.ents = append(ix.ents, ownerEntry{off: uint32(len(ix.blob)), n: uint32(len(p)), next: ix.first[h]})
		ix.blob = append(ix.blob, p...)
		ent = uint32(len(ix.ents))
		ix.first[h] = ent
	}
	b.pairs = append(b.pairs, ownerPair{ent: ent - 1, pkg: uint32(len(ix.pkgs) - 1)})
	return nil
}

// finish lays the packages of each entry out in pkgOf, keeping the order
// they were added in, and returns the index.
func (b *indexBuilder) finish() *ownerIndex {
	ix := &b.ix
	for _, pr := range b.pairs {
		ix.ents[pr.ent].nOwn++
	}
	at := uint32(0)
	for i := range ix.ents {
		ix.ents[i].own = at
		at += ix.ents[i].nOwn
		ix.ents[i].nOwn = 0
	}
	ix.pkgOf = make([]uint32, len(b.pairs))
	for _, pr := range b.pairs {
		e := &ix.ents[pr.ent]
		ix.pkgOf[e.own+e.nOwn] = pr.pkg
		e.nOwn++
	}
	b.pairs = nil
	// Without the spare capacity that appending left.
	ix.blob, ix.ents = bytes.Clone(ix.blob), slices.Clone(ix.ents)
	return ix
}
