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
// compared as one string before the rest is globbed, and only the patterns
// whose head agrees with the string's second byte are tried ("/etc/..."
// against "/run/..."). match answers exactly as anyGlob does. The zero
// value matches nothing.
type globs struct {
	pats  []string
	heads []int // len of each pattern's literal head
	// bySecond[c] lists the patterns a string whose second byte is c
	// may match: those whose head has c there and those whose head is
	// shorter than two bytes. short lists the latter, the only ones a
	// string shorter than two bytes may match. Trying every pattern took
	// 31 of 1070 ms of a heavy-corpus replay pass: a PATH record is
	// matched against changePaths' 33 patterns, and its path seldom
	// starts like any of them.
	bySecond *[256][]int
	short    []int
}

func newGlobs(patterns []string) globs {
	g := globs{pats: patterns, heads: make([]int, len(patterns)), bySecond: new([256][]int)}
	for i, p := range patterns {
		h := 0
		for h < len(p) && p[h] != '*' && p[h] != '?' {
			h++
		}
		g.heads[i] = h
		if h < 2 {
			g.short = append(g.short, i)
			for c := range g.bySecond {
				g.bySecond[c] = append(g.bySecond[c], i)
			}
		} else {
			g.bySecond[p[1]] = append(g.bySecond[p[1]], i)
		}
	}
	return g
}

// match reports whether s matches one of the patterns (anyGlob).
func (g *globs) match(s string) bool {
	cand := g.short
	if len(s) >= 2 && g.bySecond != nil {
		cand = g.bySecond[s[1]]
	}
	for _, i := range cand {
		p, h := g.pats[i], g.heads[i]
		if len(s) < h || s[:h] != p[:h] {
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
