package ecs

import (
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds the nesting of JSON objects the encoder writes. The
// deepest path it emits is threat.technique.subtechnique.*, plus one level
// for array elements of objects.
const maxDepth = 8

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; see appendStringBody.
func appendString(dst []byte, s string) (out []byte, lossy bool) {
	dst = append(dst, '"')
	dst, lossy = appendStringBody(dst, s)
	return append(dst, '"'), lossy
}

// appendStringBody appends s escaped for use inside a JSON string, without
// the quotes. Control characters, quotes, backslashes, DEL and
// U+2028/U+2029 are escaped; each byte that is not part of valid UTF-8 is
// replaced by U+FFFD. lossy reports whether any byte was replaced, i.e.
// whether the output no longer determines s. Escaping works byte by byte
// (or rune by rune), so appending the pieces of a string joined by an
// ASCII separator gives the same bytes as appending the joined string.
func appendStringBody(dst []byte, s string) (out []byte, lossy bool) {
	start := 0
	for i := 0; i < len(s); {
		// Eight plain ASCII bytes at a time: most of a record's text needs
		// no escaping.
		i = skipPlain(s, i)
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			lossy = true
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...), lossy
}

// skipPlain returns the index of the first byte at or after i that
// appendStringBody may not copy as it is (below 0x20, at or above 0x7f, '"'
// or '\\'), looking at eight bytes at a time as one word; it stops at the
// last whole word, where fewer than eight bytes are left. A word that holds
// such a byte is skipped up to that byte, not stepped through byte by byte:
// records quote a field every 20 bytes or so (comm="...", name="..."), and
// this took appendStringBody from 67 to 42 ms of a 1.07 s replay pass of
// the heavy corpus.
func skipPlain(s string, i int) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8] // one bounds check, one 8-byte load
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		// The high bit of a byte is set by x+0x01 for 0x7f..0xff, by
		// x-0x20 borrowing below 0x20, and for '"' and '\\' by x^c
		// being zero. A borrow or carry only runs upwards from a flagged
		// byte, so the lowest flag is exact; flags above it may not be.
		ctl := (x - lo*0x20) & ^x
		del := x + lo*0x01
		q := x ^ (lo * '"')
		bs := x ^ (lo * '\\')
		if m := (ctl | del | x | (q-lo)&^q | (bs-lo)&^bs) & hi; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	return i
}

// appendHex appends the lower-case hex encoding of s.
func appendHex(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = append(dst, hexDigits[s[i]>>4], hexDigits[s[i]&0xf])
	}
	return dst
}

// note is a field the encoder had to alter: replaced bytes (lossy) or a
// value cut at a bound (truncated). raw is the value as given, after any
// truncation.
type note struct {
	name string // dotted field name, array indexes as path segments
	raw  string
}

// writer builds one JSON document. Objects are opened lazily: an object
// into which nothing was written is removed again on close, so optional
// groups need no "has anything" checks.
type writer struct {
	b     []byte
	depth int
	key   [maxDepth + 1]string // path segment per level ("" at the root)
	idx   [maxDepth + 1]int    // array index of the level's object, -1 if none
	start [maxDepth + 1]int    // offset of the level's key, for undoing
	n     [maxDepth + 1]int    // fields written at the level

	lossy     []note
	truncated []string
}

func (w *writer) reset(dst []byte) {
	w.b = append(dst, '{')
	w.depth = 0
	w.n[0] = 0
	w.key[0] = ""
	w.idx[0] = -1
	w.lossy = w.lossy[:0]
	w.truncated = w.truncated[:0]
}

func (w *writer) finish() []byte {
	w.b = append(w.b, '}')
	return w.b
}

// field writes the separator and the key. Keys are package constants:
// plain ASCII that needs no escaping.
func (w *writer) field(key string) {
	if w.n[w.depth] > 0 {
		w.b = append(w.b, ',')
	}
	w.n[w.depth]++
	w.b = append(w.b, '"')
	w.b = append(w.b, key...)
	w.b = append(w.b, '"', ':')
}

// open starts the object key at the current level.
func (w *writer) open(key string) {
	if w.depth == maxDepth {
		panic("ecs: object nesting exceeds maxDepth") // a bug in this package, not input
	}
	at := len(w.b)
	w.field(key)
	w.b = append(w.b, '{')
	w.depth++
	w.key[w.depth], w.idx[w.depth], w.start[w.depth], w.n[w.depth] = key, -1, at, 0
}

// openElem starts the i-th object element of an array that the caller
// opened with '['. Its dotted name is the array's name plus i.
// objects writes key as an array of n objects, each filled by elem, cut at
// MaxArrayLen (the cut is listed in auditd.truncated_fields).
func (w *writer) objects(key string, n int, elem func(i int)) {
	w.field(key)
	w.b = append(w.b, '[')
	for i := 0; i < n; i++ {
		if i == MaxArrayLen {
			w.truncated = append(w.truncated, w.dotted(key, -1))
			break
		}
		w.openElem(key, i)
		elem(i)
		w.closeElem()
	}
	w.b = append(w.b, ']')
}

func (w *writer) openElem(key string, i int) {
	if i > 0 {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, '{')
	w.depth++
	w.key[w.depth], w.idx[w.depth], w.start[w.depth], w.n[w.depth] = key, i, -1, 0
}

func (w *writer) closeElem() {
	w.b = append(w.b, '}')
	w.depth--
}

// close ends the current object, or removes it if it stayed empty.
func (w *writer) close() {
	d := w.depth
	w.depth--
	if w.n[d] == 0 {
		w.b = w.b[:w.start[d]]
		w.n[w.depth]--
		return
	}
	w.b = append(w.b, '}')
}

// dotted returns the full dotted name of leaf (with array index i >= 0)
// under the current object. It allocates, and is only called for notes.
func (w *writer) dotted(leaf string, i int) string {
	var b []byte
	for d := 1; d <= w.depth; d++ {
		b = append(b, w.key[d]...)
		b = append(b, '.')
		if w.idx[d] >= 0 {
			b = strconv.AppendInt(b, int64(w.idx[d]), 10)
			b = append(b, '.')
		}
	}
	b = append(b, leaf...)
	if i >= 0 {
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return string(b)
}

// value appends s as a string value, cut at max bytes (0: no bound), and
// notes replaced bytes or a cut under the leaf's dotted name.
func (w *writer) value(leaf string, i int, s string, max int) {
	if max > 0 && len(s) > max {
		s = s[:max]
		w.truncated = append(w.truncated, w.dotted(leaf, i))
	}
	var lossy bool
	w.b, lossy = appendString(w.b, s)
	if lossy {
		w.lossy = append(w.lossy, note{name: w.dotted(leaf, i), raw: s})
	}
}

// str writes a string field; empty strings are omitted.
func (w *writer) str(key, s string) {
	if s == "" {
		return
	}
	w.field(key)
	w.value(key, -1, s, MaxStringBytes)
}

// strs writes an array of strings, bounded by MaxArrayLen; an empty or nil
// slice is omitted.
func (w *writer) strs(key string, ss []string) {
	if len(ss) == 0 {
		return
	}
	w.field(key)
	w.b = append(w.b, '[')
	for i, s := range ss {
		if i == MaxArrayLen {
			w.truncated = append(w.truncated, w.dotted(key, -1))
			break
		}
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.value(key, i, s, MaxStringBytes)
	}
	w.b = append(w.b, ']')
}

func (w *writer) int(key string, v int64) {
	w.field(key)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *writer) bool(key string, v bool) {
	w.field(key)
	w.b = strconv.AppendBool(w.b, v)
}

// uintStr writes v as a decimal string (ECS ids are keywords).
func (w *writer) uintStr(key string, v uint64) {
	w.field(key)
	w.b = append(w.b, '"')
	w.b = strconv.AppendUint(w.b, v, 10)
	w.b = append(w.b, '"')
}

func (w *writer) uint(key string, v uint64) {
	w.field(key)
	w.b = strconv.AppendUint(w.b, v, 10)
}
