package auditevent

// arenaChunk is the size of one Arena chunk. Records of one event arrive
// close together, so an event in flight pins at most a chunk or two; the
// reassembler's bounds (in-flight events, record window) bound the rest.
const arenaChunk = 16 << 10

// Arena hands out copies of byte slices carved from shared chunks, so a
// stream of records costs one allocation per chunk instead of one per
// record. A chunk stays alive while any record points into it. The zero
// value is ready to use; a nil *Arena copies with a private allocation.
// An Arena must be used from one goroutine.
type Arena struct{ buf []byte }

// Copy returns a copy of b that the caller owns (its capacity is capped,
// so appending to it never touches another record's bytes).
func (a *Arena) Copy(b []byte) []byte {
	if a == nil || len(b) > arenaChunk/4 {
		out := make([]byte, len(b))
		copy(out, b)
		return out
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, arenaChunk)
	}
	n := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[n:len(a.buf):len(a.buf)]
}
