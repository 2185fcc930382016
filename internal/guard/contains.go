package guard

import "bytes"

// containsAnchored is bytes.Contains(b, pat), found by jumping between
// occurrences of pat[k] (a byte rare in b) instead of pat's first byte.
func containsAnchored(b, pat []byte, k int) bool {
	for i := k; i <= len(b)-len(pat)+k; {
		j := bytes.IndexByte(b[i:len(b)-len(pat)+k+1], pat[k])
		if j < 0 {
			return false
		}
		i += j
		if bytes.Equal(b[i-k:i-k+len(pat)], pat) {
			return true
		}
		i++
	}
	return false
}
