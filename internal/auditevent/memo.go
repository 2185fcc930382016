package auditevent

import (
	"bytes"
	"hash/maphash"
)

// A process that calls one syscall in a loop (a module-load storm) sends
// the same SYSCALL and PROCTITLE bodies again and again; only the header
// (time and serial) changes. The Interner therefore remembers the
// decoding of recently seen bodies, so a repeated body costs a hash and a
// comparison instead of a decode. Only decodings that raised no warning
// are remembered, and a SYSCALL decoding only when it started from an
// empty Syscall, so a hit yields exactly what decoding would.

const (
	// decodeMemoSlots is the number of bodies remembered per record type
	// (direct-mapped by hash; a power of two).
	decodeMemoSlots = 16
	// maxMemoBody: longer bodies are decoded every time.
	maxMemoBody = 2048
)

// decodeMemo remembers the values decoded from recently seen bodies. The
// bodies are record texts, which are never modified, so they are kept
// without a copy.
type decodeMemo[T any] struct {
	seed  maphash.Seed
	slots [decodeMemoSlots]memoSlot[T]
}

type memoSlot[T any] struct {
	body []byte
	val  T
}

// slot returns the slot of body, or nil when body is not to be memoized.
func (m *decodeMemo[T]) slot(body []byte) *memoSlot[T] {
	if len(body) == 0 || len(body) > maxMemoBody {
		return nil
	}
	if m.seed == (maphash.Seed{}) {
		m.seed = maphash.MakeSeed()
	}
	return &m.slots[maphash.Bytes(m.seed, body)&(decodeMemoSlots-1)]
}

// get returns the value remembered for body.
func (s *memoSlot[T]) get(body []byte) (T, bool) {
	if s == nil || s.body == nil || !bytes.Equal(s.body, body) {
		var zero T
		return zero, false
	}
	return s.val, true
}

func (s *memoSlot[T]) put(body []byte, v T) {
	if s != nil {
		s.body, s.val = body, v
	}
}

// proctitleMemo is a PROCTITLE body's decoding: the arguments, when the
// body had a usable proctitle field.
type proctitleMemo struct {
	args []string
	set  bool
}
