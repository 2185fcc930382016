package auditrules

import (
	"errors"
	"strings"
)

// maxArgs bounds the number of words on one line. The kernel accepts at
// most 64 fields per rule, so 512 words is far more than any valid rule.
const maxArgs = 512

var (
	errUnterminatedQuote = errors.New("unterminated quote")
	errTooManyWords      = errors.New("too many words on one line")
)

// splitWords splits a rule line into words the way a shell would for the
// subset auditctl users write: blanks separate words, '…' is literal, and
// "…" is literal except that \" and \\ stand for " and \. Quotes may appear
// inside a word (-F path="/a b" is one word "path=/a b").
func splitWords(line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f':
			if in {
				if len(words) >= maxArgs {
					return nil, errTooManyWords
				}
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'':
			in = true
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errUnterminatedQuote
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
		case c == '"':
			in = true
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) && (line[j+1] == '"' || line[j+1] == '\\') {
					j++
				}
				cur.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, errUnterminatedQuote
			}
			i = j
		default:
			in = true
			cur.WriteByte(c)
		}
	}
	if in {
		if len(words) >= maxArgs {
			return nil, errTooManyWords
		}
		words = append(words, cur.String())
	}
	return words, nil
}
