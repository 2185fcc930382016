package ecs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// plainByte is the byte-at-a-time form of skipPlain's test.
func plainByte(c byte) bool {
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'
}

// TestSkipPlain checks the word-at-a-time test against the byte test for
// every byte value at every position of a word, alone and beside another
// byte that needs escaping (borrows and carries between bytes): skipPlain
// stops at the first such byte.
func TestSkipPlain(t *testing.T) {
	for pos := 0; pos < 8; pos++ {
		for v := 0; v < 256; v++ {
			for _, other := range []byte{'a', 0x00, 0x1f, 0x7f, 0xff, '"', '\\', 0x20, 0x80} {
				b := []byte("abcdefgh")
				b[(pos+3)%8] = other
				b[pos] = byte(v)
				want := len(b)
				for j, c := range b {
					if !plainByte(c) {
						want = j
						break
					}
				}
				if got := skipPlain(string(b), 0); got != want {
					t.Fatalf("%q: stops at %d, want %d", b, got, want)
				}
			}
		}
	}
	if got := skipPlain("abcdefgh1234567", 0); got != 8 {
		t.Fatalf("stops at %d with 7 bytes left, want 8", got)
	}
}

func TestAppendStringBody(t *testing.T) {
	tests := []struct {
		name, in, want string
		lossy          bool
	}{
		{"plain, longer than a word", "/usr/lib/modules/6.1/kernel/x.ko", "/usr/lib/modules/6.1/kernel/x.ko", false},
		{"quote and backslash after a plain word", `abcdefgh"ij\k`, `abcdefgh\"ij\\k`, false},
		{"control bytes at word ends", "abcdefg\nabcdefg\x01", `abcdefg\nabcdefg\u0001`, false},
		{"DEL", "abcdefgh\x7f", `abcdefgh\u007f`, false},
		{"escapes inside words", "ab\"cd\\ef\tgh\"ijklmnop\"", `ab\"cd\\ef\tgh\"ijklmnop\"`, false},
		{"UTF-8 inside a word", "abcdé fghij", "abcdé fghij", false},
		{"invalid UTF-8 after a word", "abcdefgh\xff", `abcdefgh\ufffd`, true},
		{"line separator", "abcdefgh\u2028", `abcdefgh\u2028`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, lossy := appendStringBody(nil, tc.in)
			if string(got) != tc.want || lossy != tc.lossy {
				t.Errorf("got %s (lossy %v), want %s (lossy %v)", got, lossy, tc.want, tc.lossy)
			}
		})
	}
}

// FuzzAppendStringBody checks that every output is a JSON string body that
// decodes to the input when the input is valid UTF-8.
func FuzzAppendStringBody(f *testing.F) {
	for _, s := range []string{"", "abcdefgh\"", strings.Repeat("x", 17) + "\\\x00\xff", "é\u2028\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, lossy := appendStringBody([]byte(`"`), s)
		out = append(out, '"')
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q: invalid JSON %s: %v", s, out, err)
		}
		if lossy == utf8.ValidString(s) {
			t.Fatalf("%q: lossy %v", s, lossy)
		}
		if !lossy && back != s {
			t.Fatalf("%q: decodes to %q", s, back)
		}
	})
}

// FuzzAppendTime checks that appendTime writes what time.AppendFormat
// writes with its layout, quoted, for any instant: the years it formats
// by hand (0-9999), the ones it leaves to AppendFormat, zones other than
// UTC, and milliseconds truncated rather than rounded.
func FuzzAppendTime(f *testing.F) {
	f.Add(int64(1795320001), int64(642_999_999), 0)
	f.Add(int64(0), int64(0), 3600)
	f.Add(int64(-62135596800), int64(0), 0)    // year 1
	f.Add(int64(-62167219200), int64(1e6), -1) // year 0
	f.Add(int64(-62167219201), int64(0), 0)    // year -1
	f.Add(int64(253402300799), int64(999_999_999), 0)
	f.Add(int64(253402300800), int64(0), 0) // year 10000
	f.Fuzz(func(t *testing.T, sec, nsec int64, offset int) {
		tm := time.Unix(sec, nsec%1e9).In(time.FixedZone("x", offset%86400))
		want := `"` + tm.UTC().Format(timeLayout) + `"`
		if got := string(appendTime(nil, tm)); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	})
}
