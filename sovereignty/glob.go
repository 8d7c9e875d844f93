package sovereignty

import (
	"fmt"
	"strings"
)

// glob is a compiled repo pattern: "*" matches any run of characters,
// including "/", and "?" one character. Common shapes get a fast path so
// matching on the block-serving path stays a few comparisons.
type glob struct {
	kind    globKind
	lit     string // exact, prefix or suffix text; for general patterns the literal prefix
	pattern string
}

type globKind uint8

const (
	globAll globKind = iota
	globExact
	globPrefix
	globSuffix
	globGeneral
)

const (
	maxGlobLen   = 256
	maxGlobStars = 8
)

func compileGlob(p string) (glob, error) {
	if p == "" {
		return glob{}, fmt.Errorf("empty pattern")
	}
	if len(p) > maxGlobLen {
		return glob{}, fmt.Errorf("pattern longer than %d", maxGlobLen)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-/*?", c) >= 0) {
			return glob{}, fmt.Errorf("character %q not allowed (use letters, digits, . _ - / and the wildcards * ?)", c)
		}
	}
	g := glob{pattern: p, kind: globGeneral}
	stars := strings.Count(p, "*")
	if stars > maxGlobStars {
		// Bounds the matching cost on the block-serving path.
		return glob{}, fmt.Errorf("more than %d wildcards *", maxGlobStars)
	}
	switch {
	case strings.Trim(p, "*") == "":
		g.kind = globAll
	case strings.IndexByte(p, '?') >= 0:
		g.lit = p[:strings.IndexAny(p, "*?")]
	case stars == 0:
		g.kind, g.lit = globExact, p
	case stars == 1 && p[len(p)-1] == '*':
		g.kind, g.lit = globPrefix, p[:len(p)-1]
	case stars == 1 && p[0] == '*':
		g.kind, g.lit = globSuffix, p[1:]
	default:
		g.lit = p[:strings.IndexByte(p, '*')]
	}
	return g, nil
}

func (g *glob) match(s string) bool {
	switch g.kind {
	case globAll:
		return true
	case globExact:
		return s == g.lit
	case globPrefix:
		return strings.HasPrefix(s, g.lit)
	case globSuffix:
		return strings.HasSuffix(s, g.lit)
	}
	// The literal prefix rules out most non-matching rules cheaply.
	return strings.HasPrefix(s, g.lit) && wildMatch(g.pattern[len(g.lit):], s[len(g.lit):])
}

// wildMatch is the linear backtracking wildcard match: on a mismatch it
// resumes after the last star, so it runs in O(len(p)*len(s)) worst case
// with no allocation.
func wildMatch(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
