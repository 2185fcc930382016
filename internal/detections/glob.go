package detections

// Glob matches s against pattern in the way Elastic's "like" and KQL
// wildcards do: '*' matches any run of bytes, '/' included, and '?' any one
// byte. It never allocates and runs in O(len(s)*stars) time.
func Glob(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			// Before the byte test: a '*' in s is text for the star
			// to cover, not the end of it.
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// anyGlob reports whether s matches one of patterns.
func anyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if Glob(p, s) {
			return true
		}
	}
	return false
}

// globs is a fixed list of Glob patterns, prepared for anyGlob's question
// on hot paths: each pattern's literal head (up to its first wildcard) is
// compared as one string before the rest is globbed. match answers
// exactly as anyGlob does. The zero value matches nothing.
type globs struct {
	pats  []string
	heads []int // len of each pattern's literal head
}

func newGlobs(patterns []string) globs {
	g := globs{pats: patterns, heads: make([]int, len(patterns))}
	for i, p := range patterns {
		h := 0
		for h < len(p) && p[h] != '*' && p[h] != '?' {
			h++
		}
		g.heads[i] = h
	}
	return g
}

// match reports whether s matches one of the patterns (anyGlob).
func (g *globs) match(s string) bool {
	for i, p := range g.pats {
		h := g.heads[i]
		// Most patterns differ from s early ("/etc/..." against
		// "/run/..."): one byte rules them out before comparing heads.
		if len(s) < h || h > 1 && s[1] != p[1] || s[:h] != p[:h] {
			continue
		}
		// Glob consumes a literal head byte for byte: what is left is
		// the rest of the pattern against the rest of s.
		if Glob(p[h:], s[h:]) {
			return true
		}
	}
	return false
}
