package tokenizer

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// wpmEncode encodes text with WordPiece as llama.cpp's
// llm_tokenizer_wpm_session does: normalise and split into words, then cut
// each word, prefixed with "▁", into the longest tokens from the left.
// A word with any part that is no token becomes one UNK.
func (t *Tokenizer) wpmEncode(text string, out []int32) []int32 {
	for _, word := range wpmWords(text) {
		w := "▁" + word
		start := len(out)
		for i := 0; i < len(w); {
			j := min(len(w), i+t.maxTokenLen)
			for ; j > i; j-- {
				if id, ok := t.toID[w[i:j]]; ok {
					out = append(out, id)
					break
				}
			}
			if j == i { // no token starts here: the word is unknown
				out = out[:start]
				break
			}
			i = j
		}
		if len(out) == start {
			out = append(out, t.unk)
		}
	}
	return out
}

// wpmWords is llama.cpp's WordPiece pre-processing: every code point is
// replaced by the first code point of its NFD decomposition (so accents of
// precomposed letters go: "é" → "e"), whitespace separates words, NUL,
// U+FFFD and control characters are dropped, the rest is lower-cased, and
// punctuation, ASCII symbols and CJK ideographs are words of their own.
func wpmWords(text string) []string {
	var words []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, cur.String())
			cur.Reset()
		}
	}
	for _, r := range text {
		r = nfdFirst(r)
		switch {
		case unicode.IsSpace(r):
			flush()
			continue
		case r == 0 || r == utf8RuneError || unicode.Is(unicode.C, r):
			continue
		}
		lower := unicode.ToLower(r)
		if unicode.IsPunct(r) || (r < 0x7F && unicode.IsSymbol(r)) || isCJK(r) {
			flush()
			words = append(words, string(lower))
			continue
		}
		cur.WriteRune(lower)
	}
	flush()
	return words
}

const utf8RuneError = '\uFFFD'

// nfdFirst is the first code point of r's canonical decomposition, the
// one llama.cpp's unicode_cpts_normalize_nfd keeps.
func nfdFirst(r rune) rune {
	if r < 0xC0 {
		return r
	}
	for _, c := range norm.NFD.String(string(r)) {
		return c
	}
	return r
}

// isCJK reports the CJK ideograph blocks BERT's basic tokenizer splits
// (with the Hugging Face range llama.cpp copies, 0x2B920 not 0x2B820).
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}
