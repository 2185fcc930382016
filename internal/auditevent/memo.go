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
	// decodeMemoSlots is the number of SYSCALL and PROCTITLE bodies
	// remembered (direct-mapped by hash; a power of two): a storm repeats
	// a few.
	decodeMemoSlots = 16
	// pathMemoSlots is the number of PATH bodies remembered: an event
	// names several (directories, the file, the binary, its loader).
	pathMemoSlots = 128
	// maxMemoBody: longer bodies are decoded every time.
	maxMemoBody = 2048
)

// decodeMemo remembers the values decoded from recently seen bodies. A
// body is remembered as two parts, pre and post (a SYSCALL body without its
// argument run; a PROCTITLE body whole, post empty). The bodies are record
// texts, which are never modified, so they are kept without a copy.
type decodeMemo[T any] struct {
	seed  maphash.Seed
	slots []memoSlot[T]
}

type memoSlot[T any] struct {
	pre, post []byte
	val       T
}

// slot returns the slot of the body pre+post, or nil when it is not to be
// memoized. The memo has n slots (a power of two), allocated at its first
// use.
func (m *decodeMemo[T]) slot(pre, post []byte, n int) *memoSlot[T] {
	if len(pre)+len(post) == 0 || len(pre)+len(post) > maxMemoBody {
		return nil
	}
	if m.slots == nil {
		m.seed = maphash.MakeSeed()
		m.slots = make([]memoSlot[T], n)
	}
	// One-shot hashes: cheaper than a maphash.Hash fed twice. A collision
	// only costs a miss (get compares both parts).
	h := maphash.Bytes(m.seed, pre)
	if len(post) > 0 {
		h = h*0x9e3779b97f4a7c15 ^ maphash.Bytes(m.seed, post)
	}
	return &m.slots[h&uint64(len(m.slots)-1)]
}

// get returns the value remembered for the body pre+post.
func (s *memoSlot[T]) get(pre, post []byte) (T, bool) {
	if s == nil || s.pre == nil || !bytes.Equal(s.pre, pre) || !bytes.Equal(s.post, post) {
		var zero T
		return zero, false
	}
	return s.val, true
}

func (s *memoSlot[T]) put(pre, post []byte, v T) {
	if s != nil {
		s.pre, s.post, s.val = pre, post, v
	}
}

// proctitleMemo is a PROCTITLE body's decoding: the arguments, when the
// body had a usable proctitle field.
type proctitleMemo struct {
	args []string
	set  bool
}

// A storm's SYSCALL bodies often differ only in the argument registers
// (a1 of finit_module is the address of a string the caller allocates for
// every call), so the SYSCALL memory is keyed by the body without its
// "a0=.. a1=.. a2=.. a3=.." run: a hit takes everything else from the
// remembered decoding and reads the four registers. Only a body in the
// kernel's order, with exactly that run and no other a0..a3 key text, is
// remembered or looked up, so a hit yields what decoding would.

// argsRun splits a SYSCALL body into what comes before its argument run,
// the run's four values and what follows; ok is false unless the run is
// " a0=X a1=X a2=X a3=X " with hexadecimal values and no other text of an
// argument key appears in the body.
func argsRun(body []byte) (pre, post []byte, args [4]uint64, ok bool) {
	pre, post, args, ok = splitArgsRun(body)
	if !ok || !rememberable(pre, post) {
		return nil, nil, args, false
	}
	return pre, post, args, true
}

// rememberable reports whether a SYSCALL body split by splitArgsRun may be
// remembered: no other argument key text, and no quote before the run (a
// run inside an unterminated quoted value is no fields at all).
func rememberable(pre, post []byte) bool {
	return !bytes.ContainsAny(pre, `"'`) && !hasArgKey(pre) && !hasArgKey(post)
}

// splitArgsRun is argsRun without the search for other argument key text
// in pre and post. The SYSCALL memo looks bodies up with it: a body
// remembered passed that search (argsRun), and a hit has the same pre and
// post, so only a body about to be remembered needs it.
func splitArgsRun(body []byte) (pre, post []byte, args [4]uint64, ok bool) {
	start := bytes.Index(body, []byte(" a0="))
	if start < 0 {
		return nil, nil, args, false
	}
	pre = body[:start+1]
	rest := body[start+1:]
	for k := range 4 {
		key := [3]byte{'a', byte('0' + k), '='}
		if !bytes.HasPrefix(rest, key[:]) {
			return nil, nil, args, false
		}
		rest = rest[3:]
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			return nil, nil, args, false
		}
		x, good := atox(rest[:sp], 64)
		if !good {
			return nil, nil, args, false
		}
		args[k] = x
		rest = rest[sp+1:]
	}
	return pre, rest, args, true
}

// hasArgKey reports whether b contains the text "a0=" .. "a3=" anywhere
// (inside a quoted value too: such a body is simply not remembered).
func hasArgKey(b []byte) bool {
	for i := 2; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], '=')
		if j < 0 {
			return false
		}
		i += j
		if b[i-2] == 'a' && b[i-1] >= '0' && b[i-1] <= '3' {
			return true
		}
	}
	return false
}
