package auditevent

import "bytes"

// Field is one key=value pair of a record body. Key and Value alias the
// record's text. Quote is the quote character (double or single) of a
// quoted value, 0 otherwise.
type Field struct {
	Key, Value []byte
	Quote      byte
	// Unterminated is set when a quoted value runs to the end of the text
	// without its closing quote (a truncated record).
	Unterminated bool
}

// MaxFields bounds how many fields one record may yield; the kernel's
// largest records (EXECVE with many short arguments) stay far below it
// because the record itself is bounded by MaxRecordLen.
const MaxFields = MaxRecordLen / 2

// NextField scans the first key=value pair of b and returns it with the
// rest of b. ok is false when no field is left. Tokens without '=' are
// skipped. It never allocates.
func NextField(b []byte) (f Field, rest []byte, ok bool) {
	sc := Scanner{rest: b}
	if !sc.Next() {
		return Field{}, nil, false
	}
	return sc.Field, sc.rest, true
}

// Scanner walks the key=value fields of a record body. It is the loop form
// of NextField, cheaper on hot paths: no field is copied out per step.
//
//	sc := Scanner{}
//	sc.Reset(body)
//	for n := 0; n < MaxFields && sc.Next(); n++ { use sc.Field }
type Scanner struct {
	Field Field
	rest  []byte
}

// Reset starts scanning body.
func (sc *Scanner) Reset(body []byte) { sc.rest = body }

// Next advances to the next field; false when none is left.
func (sc *Scanner) Next() bool {
	b := sc.rest
	for {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
			b = b[1:]
		}
		if len(b) == 0 {
			sc.rest = nil
			return false
		}
		eq := -1
		end := len(b)
		for i := 0; i < len(b); i++ {
			c := b[i]
			if c == '=' {
				eq = i
				break
			}
			if c == ' ' {
				end = i
				break
			}
		}
		if eq <= 0 {
			// A bare token ("auditd start," or "=x"): skip it.
			if eq == 0 {
				end = bytes.IndexByte(b, ' ')
				if end < 0 {
					end = len(b)
				}
			}
			b = b[end:]
			continue
		}
		f := &sc.Field
		f.Key = b[:eq]
		f.Unterminated = false
		v := b[eq+1:]
		if len(v) > 0 && (v[0] == '"' || v[0] == '\'') {
			q := v[0]
			f.Quote = q
			cl := bytes.IndexByte(v[1:], q)
			if cl < 0 {
				f.Value = v[1:]
				f.Unterminated = true
				sc.rest = nil
				return true
			}
			f.Value = v[1 : 1+cl]
			sc.rest = v[cl+2:]
			return true
		}
		f.Quote = 0
		// Unquoted values are short (numbers, hex): a plain loop beats
		// IndexByte's call overhead here.
		sp := 0
		for sp < len(v) && sp < 16 && v[sp] != ' ' {
			sp++
		}
		if sp == 16 {
			if i := bytes.IndexByte(v[sp:], ' '); i >= 0 {
				sp += i
			} else {
				sp = len(v)
			}
		}
		f.Value = v[:sp]
		if sp == len(v) {
			sc.rest = nil
		} else {
			sc.rest = v[sp:]
		}
		return true
	}
}

// Lookup returns the first field named key in body.
func Lookup(body []byte, key string) (Field, bool) {
	for n := 0; n < MaxFields; n++ {
		f, rest, ok := NextField(body)
		if !ok {
			return Field{}, false
		}
		if string(f.Key) == key {
			return f, true
		}
		body = rest
	}
	return Field{}, false
}

// IsHex reports whether v is a non-empty, even-length run of the upper-case
// hex digits the kernel uses for untrusted strings.
func IsHex(v []byte) bool {
	if len(v) == 0 || len(v)%2 != 0 {
		return false
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// DecodeHex decodes upper-case hex. The caller has checked IsHex.
func DecodeHex(v []byte) []byte {
	out := make([]byte, len(v)/2)
	for i := range out {
		out[i] = unhex(v[2*i])<<4 | unhex(v[2*i+1])
	}
	return out
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}

// Untrusted decodes a value the kernel wrote with audit_log_untrustedstring:
// double-quoted means literal, unquoted means hex. "(null)" and "?" mean no
// value. A value that claims to be hex but is not (odd length, lower case)
// is kept verbatim and reported with hexErr so that nothing is lost.
func Untrusted(f Field) (s string, present bool, hexErr bool) {
	if f.Quote != 0 {
		return string(f.Value), true, false
	}
	v := f.Value
	if len(v) == 0 || string(v) == "(null)" || string(v) == "?" || string(v) == "(none)" {
		return "", false, false
	}
	if IsHex(v) {
		return string(DecodeHex(v)), true, false
	}
	return string(v), true, true
}
