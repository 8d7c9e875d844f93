package tokenizer

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// wpmVocab is a small WordPiece vocabulary in the converter's layout:
// word starts "▁"-prefixed, continuations bare, [PAD] [UNK] [CLS] [SEP]
// control tokens.
func wpmVocab(t testing.TB) *Tokenizer {
	t.Helper()
	tokens := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "▁hello", "▁world", "▁un", "aff", "able", "▁play", "ing",
		"▁,", "▁!", "▁.", "▁$", "▁cafe", "▁中", "▁naive", "▁x", "x", "▁1", "1"}
	for c := 'a'; c <= 'z'; c++ {
		tokens = append(tokens, "▁"+string(c), string(c))
	}
	types := make([]int32, len(tokens))
	for i := range types {
		types[i] = TypeNormal
		if i < 4 {
			types[i] = TypeControl
		}
	}
	tok, err := New(Config{Model: "bert", Tokens: tokens, Types: types, BOS: 2, EOS: -1, UNK: 1, PAD: 0, EOT: -1, SEP: 3, AddBOS: true})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func wpmTexts(tok *Tokenizer, ids []int32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = tok.Token(id)
	}
	return out
}

func TestWordPiece(t *testing.T) {
	tok := wpmVocab(t)
	tests := []struct {
		name, in string
		want     []string
	}{
		{"words", "hello world", []string{"▁hello", "▁world"}},
		{"lower case", "HeLLo WORLD", []string{"▁hello", "▁world"}},
		{"longest match first", "unaffable playing", []string{"▁un", "aff", "able", "▁play", "ing"}},
		{"punctuation split", "hello,world!", []string{"▁hello", "▁,", "▁world", "▁!"}},
		{"ascii symbol split", "$1", []string{"▁$", "▁1"}},
		// llama.cpp keeps the first code point of each character's NFD:
		// precomposed accents go, combining marks stay (and miss).
		{"accents", "Café naïve", []string{"▁cafe", "▁naive"}},
		{"combining mark", "cafe\u0301", []string{"[UNK]"}},
		{"cjk split", "中中", []string{"▁中", "▁中"}},
		{"unknown word", "hello wörld€ hello", []string{"▁hello", "[UNK]", "▁hello"}},
		{"control dropped, not split", "hel\x00lo\u200bworld", []string{"▁hello", "w", "o", "r", "l", "d"}},
		{"whitespace", " \t hello\n\u3000world ", []string{"▁hello", "▁world"}},
		{"special parsed", "hello[SEP]world", []string{"▁hello", "[SEP]", "▁world"}},
		{"empty", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids := tok.Encode(tc.in, true, true)
			want := append(append([]string{"[CLS]"}, tc.want...), "[SEP]")
			if got := wpmTexts(tok, ids); !slices.Equal(got, want) {
				t.Errorf("Encode(%q) = %q, want %q", tc.in, got, want)
			}
		})
	}
	if got := wpmTexts(tok, tok.Encode("hello", false, false)); !slices.Equal(got, []string{"▁hello"}) {
		t.Errorf("without specials: %q", got)
	}
	if got := tok.Decode(tok.Encode("Hello, playing world!", true, true)); got != " hello , playing world !" { // [CLS] first keeps the space, as with a BOS
		t.Errorf("Decode = %q", got)
	}
}

// FuzzWordPiece: any input encodes to in-range ids between [CLS] and
// [SEP]; text of ASCII letters, digits 1, spaces and listed punctuation
// never gives [UNK] (every letter is a token both ways); and the ids are
// those of the words encoded one by one.
func FuzzWordPiece(f *testing.F) {
	for _, s := range []string{"hello world", "Unaffable, PLAYING!", "Café 中 €", "\xff\xfe", "a\u0301b", "[CLS][SEP]", ""} {
		f.Add(s)
	}
	tok := wpmVocab(f)
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s, true, false)
		if len(ids) < 2 || ids[0] != 2 || ids[len(ids)-1] != 3 {
			t.Fatalf("Encode(%q) = %v: want [CLS] … [SEP]", s, ids)
		}
		check(t, tok, ids)
		simple := utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '1' || r == ' ' || r == ',' || r == '!' || r == '.')
		}) < 0
		if simple && slices.Contains(ids, 1) {
			t.Fatalf("Encode(%q) = %q has [UNK]", s, wpmTexts(tok, ids))
		}
		var words []int32
		for _, w := range strings.Fields(s) {
			words = append(words, tok.Encode(w, false, false)...)
		}
		if simple && !slices.Equal(ids[1:len(ids)-1], words) {
			t.Fatalf("Encode(%q) = %v, word by word %v", s, ids, words)
		}
	})
}
