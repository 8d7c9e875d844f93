package tokenizer

import "strings"

// symbol is a run of the input text, linked to its neighbours; n == 0 once it
// has been merged into its left neighbour.
type symbol struct {
	prev, next int32
	start, n   int32
}

// bigram is a candidate merge of two adjacent symbols.
type bigram struct {
	left, right int32
	score       float32 // SentencePiece: higher first
	rank        int32   // BPE: lower first
	size        int32   // bytes of the merged text when the candidate was made
}

// spmSession holds scratch space for one SentencePiece encoding.
type spmSession struct {
	merger
}

// spmBefore orders the queue: highest score first, then leftmost.
func spmBefore(a, b bigram) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

func (s *spmSession) tryAdd(t *Tokenizer, text string, left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	l := s.syms[left]
	size := l.n + s.syms[right].n
	id, ok := t.toID[text[l.start:l.start+size]]
	if !ok {
		return
	}
	s.heap.push(spmBefore, bigram{left: left, right: right, score: t.scores[id], size: size})
}

// encode appends the tokens of raw (one fragment without special tokens) to out.
func (s *spmSession) encode(t *Tokenizer, raw string, spacePrefix bool, out []int32) []int32 {
	text := raw
	if spacePrefix {
		text = " " + raw
	}
	text = strings.ReplaceAll(text, " ", "▁")
	if !t.spmWords {
		return s.encodeRun(t, text, out)
	}
	// No token holds a "▁" after another character, so none spans the start
	// of a word: words merge independently, each with a small queue, and
	// the result is the same as merging the whole text at once.
	const sp = "▁"
	start := 0
	for i := 1; i < len(text); i++ {
		if strings.HasPrefix(text[i:], sp) && !strings.HasSuffix(text[:i], sp) {
			out = s.encodeRun(t, text[start:i], out)
			start = i
		}
	}
	return s.encodeRun(t, text[start:], out)
}

// spmWordsIndependent reports whether no token has "▁" after a character
// other than "▁": then no merge crosses the start of a word.
func spmWordsIndependent(tokens []string) bool {
	const sp = "▁"
	for _, tok := range tokens {
		rest := strings.TrimLeft(tok, sp)
		if strings.Contains(rest, sp) {
			return false
		}
	}
	return true
}

// encodeRun merges text (escaped) as one sequence.
func (s *spmSession) encodeRun(t *Tokenizer, text string, out []int32) []int32 {
	if text == "" {
		return out
	}
	s.merge(text, spmBefore, func(l, r int32) { s.tryAdd(t, text, l, r) })
	for i := int32(0); i != -1; i = s.syms[i].next {
		sym := s.syms[i]
		piece := text[sym.start : sym.start+sym.n]
		if id, ok := t.toID[piece]; ok {
			out = append(out, id)
			continue
		}
		// Merged symbols are always tokens; this is a character the
		// vocabulary lacks: fall back to its bytes.
		for j := 0; j < len(piece); j++ {
			if id := t.byteTok[piece[j]]; id >= 0 {
				out = append(out, id)
			} else if t.unk >= 0 {
				out = append(out, t.unk)
			}
		}
	}
	return out
}

// utf8LenFromLead returns the length of the UTF-8 sequence a lead byte
// announces, 1 for continuation and invalid bytes (llama.cpp's
// unicode_len_utf8).
func utf8LenFromLead(b byte) int {
	switch b >> 4 {
	case 0xC, 0xD:
		return 2
	case 0xE:
		return 3
	case 0xF:
		return 4
	}
	return 1
}
