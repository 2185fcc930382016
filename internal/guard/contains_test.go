package guard

import (
	"bytes"
	"testing"
)

func TestContainsAnchored(t *testing.T) {
	pid := []byte(" pid=4242 ")
	key := []byte(` key="auditlkm-config"`)
	tests := []struct {
		name string
		b    string
		pat  []byte
		k    int
	}{
		{"pid after ppid", "arch=c000003e syscall=82 items=4 ppid=4242 pid=4242 auid=0", pid, 2},
		{"only ppid", "arch=c000003e syscall=82 items=4 ppid=4242 pid=1 auid=0", pid, 2},
		{"pid at the very start and end", " pid=4242 ", pid, 2},
		{"pid cut at the end", "ppid=1 pid=4242", pid, 2},
		{"empty", "", pid, 2},
		{"key last", `comm="mv" exe="/usr/bin/mv" key="auditlkm-config"`, key, 5},
		{"other key", `comm="mv" exe="/usr/bin/mv" key="auditlkm-configx`, key, 5},
		{"key in a comm", `comm=" key="auditlkm-config" exe="/x" key=(null)`, key, 5},
		{"no quote", `key=(null)`, key, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := bytes.Contains([]byte(tc.b), tc.pat)
			if got := containsAnchored([]byte(tc.b), tc.pat, tc.k); got != want {
				t.Errorf("got %v, want %v (bytes.Contains)", got, want)
			}
		})
	}
}

func FuzzContainsAnchored(f *testing.F) {
	f.Add([]byte("ppid=1 pid=4242 x"), []byte(" pid=4242 "), 2)
	f.Add([]byte(`exe="x" key="auditlkm-config"`), []byte(` key="auditlkm-config"`), 5)
	f.Fuzz(func(t *testing.T, b, pat []byte, k int) {
		if len(pat) == 0 {
			return
		}
		if k < 0 {
			k = -k
		}
		k %= len(pat)
		if got, want := containsAnchored(b, pat, k), bytes.Contains(b, pat); got != want {
			t.Fatalf("containsAnchored(%q, %q, %d) = %v, bytes.Contains %v", b, pat, k, got, want)
		}
	})
}
