package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// byteToRune builds GPT-2's table: printable Latin-1 bytes stand for
// themselves, the other bytes for U+0100 upwards in byte order.
func byteToRune() [256]string {
	var t [256]string
	n := 0
	for b := range 256 {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			r = rune(256 + n)
			n++
		}
		t[b] = string(r)
	}
	return t
}

func runeToByte() map[rune]byte {
	t := byteToRune()
	m := make(map[rune]byte, 256)
	for b, s := range t {
		r, _ := utf8.DecodeRuneInString(s)
		m[r] = byte(b)
	}
	return m
}

// decodeByteLevel maps a byte-level token text back to its bytes; runes
// outside the table (possible in hand-made vocabularies) stay as they are.
func decodeByteLevel(s string, m map[rune]byte) string {
	var sb strings.Builder
	for _, r := range s {
		if b, ok := m[r]; ok {
			sb.WriteByte(b)
		} else {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// bpeSession holds scratch space for one byte-level BPE encoding.
type bpeSession struct {
	words  []string
	mapped strings.Builder
	merger
}

// bpeBefore orders the queue: lowest rank first, then leftmost.
func bpeBefore(a, b bigram) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.left < b.left
}

func (s *bpeSession) tryAdd(t *Tokenizer, word string, left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	l, r := s.syms[left], s.syms[right]
	rank, ok := t.ranks[[2]string{word[l.start : l.start+l.n], word[r.start : r.start+r.n]}]
	if !ok {
		return
	}
	s.heap.push(bpeBefore, bigram{left: left, right: right, rank: rank, size: l.n + r.n})
}

// encode appends the tokens of text (one fragment without special tokens).
func (s *bpeSession) encode(t *Tokenizer, text string, out []int32) []int32 {
	s.words = splitWords(t.pre, text, s.words[:0])
	for _, w := range s.words {
		s.mapped.Reset()
		for i := 0; i < len(w); i++ {
			s.mapped.WriteString(t.byteRune[w[i]])
		}
		word := s.mapped.String()
		if t.ignoreMerge {
			if id, ok := t.toID[word]; ok {
				out = append(out, id)
				continue
			}
		}
		out = s.encodeWord(t, word, out)
	}
	return out
}

func (s *bpeSession) encodeWord(t *Tokenizer, word string, out []int32) []int32 {
	s.merge(word, bpeBefore, func(l, r int32) { s.tryAdd(t, word, l, r) })
	for _, sym := range s.syms {
		if sym.n == 0 {
			continue
		}
		piece := word[sym.start : sym.start+sym.n]
		if id, ok := t.toID[piece]; ok {
			out = append(out, id)
			continue
		}
		// Not a token: try its bytes one by one, as llama.cpp does; a
		// vocabulary without the byte runes loses them.
		for j := 0; j < len(piece); j++ {
			if id, ok := t.toID[piece[j:j+1]]; ok {
				out = append(out, id)
			}
		}
	}
	return out
}
