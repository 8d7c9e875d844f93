package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func noSpecials(c Config) Config {
	c.BOS, c.EOS, c.UNK, c.PAD, c.EOT = -1, -1, -1, -1, -1
	return c
}

// bpeVocab: ids 0-255 are the byte runes of bytes 0-255, then merges' results
// and special tokens.
func bpeVocab(t testing.TB, pre string) *Tokenizer {
	t.Helper()
	c := noSpecials(Config{Model: "gpt2", Pre: pre})
	br := byteToRune()
	for b := range 256 {
		c.Tokens = append(c.Tokens, br[b])
		c.Types = append(c.Types, TypeNormal)
	}
	for _, s := range []string{"he", "ll", "llo", "hello", "Ġw", "or", "Ġwor", "ld", "Ġworld"} { // 256-264
		c.Tokens = append(c.Tokens, s)
		c.Types = append(c.Types, TypeNormal)
	}
	for _, s := range []struct {
		text string
		typ  int32
	}{{"<|endoftext|>", TypeControl}, {"<|im_start|>", TypeControl}, {"<|im_end|>", TypeControl}, {"<tool>", TypeUserDefined}} { // 265-268
		c.Tokens = append(c.Tokens, s.text)
		c.Types = append(c.Types, s.typ)
	}
	c.Merges = []string{"h e", "l l", "ll o", "he llo", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"}
	c.BOS, c.EOS = 265, 265
	tok, err := New(c)
	if err != nil {
		t.Fatalf("New(bpe vocabulary): %v", err)
	}
	return tok
}

func TestBPEEncode(t *testing.T) {
	tok := bpeVocab(t, "gpt2")
	tests := []struct {
		text         string
		parseSpecial bool
		want         []int32
	}{
		{"hello world", false, []int32{259, 264}},
		{"hellohello", false, []int32{259, 259}},
		{"lll", false, []int32{257, 'l'}}, // equal ranks: leftmost pair first
		{"hel", false, []int32{256, 'l'}}, // "he" then nothing merges with "l"
		{"é", false, []int32{0xC3, 0xA9}}, // bytes of U+00E9
		{" world world", false, []int32{264, 264}},
		{"x\ny", false, []int32{'x', '\n', 'y'}},
		{"<|im_start|>hello<|im_end|>", true, []int32{266, 259, 267}},
		{"a<tool>b", false, []int32{'a', 268, 'b'}}, // user-defined: always split out
		{"<|endoftext|>", true, []int32{265}},
		{"", true, nil},
	}
	for _, tc := range tests {
		got := tok.Encode(tc.text, false, tc.parseSpecial)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q, false, %v) = %v, want %v", tc.text, tc.parseSpecial, got, tc.want)
		}
	}
	// Without parseSpecial, control-token texts are plain text.
	got := tok.Encode("<|im_start|>", false, false)
	if slices.Contains(got, 266) {
		t.Errorf("Encode(%q, false, false) = %v, must not contain the control token 266", "<|im_start|>", got)
	}
	if s := tok.Decode(got); s != "<|im_start|>" {
		t.Errorf("Decode(Encode(%q)) = %q", "<|im_start|>", s)
	}
}

func TestBPEDecode(t *testing.T) {
	tok := bpeVocab(t, "llama3")
	tests := []struct {
		ids  []int32
		want string
	}{
		{[]int32{259, 264}, "hello world"},
		{[]int32{266, 259, 267}, "hello"}, // control tokens render as nothing
		{[]int32{'a', 268, 'b'}, "a<tool>b"},
		{[]int32{0xC3, 0xA9}, "é"},
		{[]int32{-1, 9999, 'a'}, "a"},
	}
	for _, tc := range tests {
		if got := tok.Decode(tc.ids); got != tc.want {
			t.Errorf("Decode(%v) = %q, want %q", tc.ids, got, tc.want)
		}
	}
	if p := tok.Piece(266); p != "<|im_start|>" {
		t.Errorf("Piece(266) = %q, want <|im_start|>", p)
	}
	if p := tok.Piece(' '); p != " " {
		t.Errorf("Piece(32) = %q, want a space", p)
	}
	if !tok.IsEOG(265) || !tok.IsEOG(267) || tok.IsEOG(266) || tok.IsEOG(-1) || tok.IsEOG(1<<20) {
		t.Errorf("IsEOG(265, 267, 266, -1, 1<<20) = %v %v %v %v %v, want true true false false false",
			tok.IsEOG(265), tok.IsEOG(267), tok.IsEOG(266), tok.IsEOG(-1), tok.IsEOG(1<<20))
	}
}

func TestBPERoundTrip(t *testing.T) {
	for _, pre := range PreTokenizers() {
		tok := bpeVocab(t, pre)
		for _, s := range roundTripStrings {
			ids := tok.Encode(s, false, false)
			if got := tok.Decode(ids); got != s {
				t.Errorf("pre %s: Decode(Encode(%q)) = %q (ids %v)", pre, s, got, ids)
			}
		}
	}
}

func TestBPEAddSpecial(t *testing.T) {
	c := noSpecials(Config{Model: "gpt2", Tokens: []string{"a", "<s>", "</s>"}, Types: []int32{1, 3, 3}, AddBOS: true, AddEOS: true})
	c.BOS, c.EOS = 1, 2
	tok, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Encode("a", true, false), []int32{1, 0, 2}; !slices.Equal(got, want) {
		t.Errorf("Encode(a, true, false) = %v, want %v", got, want)
	}
	if got, want := tok.Encode("a", false, false), []int32{0}; !slices.Equal(got, want) {
		t.Errorf("Encode(a, false, false) = %v, want %v", got, want)
	}
}

// spmVocab: unk, <s>, </s>, 256 byte tokens (3-258), then scored pieces.
func spmVocab(t testing.TB, bytes bool) *Tokenizer {
	t.Helper()
	c := noSpecials(Config{Model: "llama", AddBOS: true, AddSpacePrefix: true})
	c.UNK, c.BOS, c.EOS = 0, 1, 2
	add := func(s string, score float32, typ int32) {
		c.Tokens = append(c.Tokens, s)
		c.Scores = append(c.Scores, score)
		c.Types = append(c.Types, typ)
	}
	add("<unk>", 0, TypeUnknown)
	add("<s>", 0, TypeControl)
	add("</s>", 0, TypeControl)
	for b := range 256 {
		if bytes {
			add(fmt.Sprintf("<0x%02X>", b), 0, TypeByte)
		} else {
			add(fmt.Sprintf("<unused%d>", b), 0, TypeUnused)
		}
	}
	for _, p := range []struct {
		s     string
		score float32
	}{{"▁", -5}, {"a", -5}, {"b", -5}, {"c", -5}, {"ab", -1}, {"bc", -0.5}, {"▁a", -2}, {"▁ab", -0.2}, {"aa", -1}} { // 259-267
		add(p.s, p.score, TypeNormal)
	}
	tok, err := New(c)
	if err != nil {
		t.Fatalf("New(spm vocabulary): %v", err)
	}
	return tok
}

func TestSPMEncode(t *testing.T) {
	tok := spmVocab(t, true)
	const byte0 = 3
	tests := []struct {
		text                     string
		addSpecial, parseSpecial bool
		want                     []int32
	}{
		{"abc", false, false, []int32{265, 264}},      // "bc" (-0.5) before "ab" (-1), then "▁a"
		{"ab", false, false, []int32{266}},            // "ab", then "▁ab"
		{"aaa", false, false, []int32{259, 267, 260}}, // equal scores: leftmost "aa" first
		{"ab", true, false, []int32{1, 266}},
		{"a b", false, false, []int32{265, 259, 261}},
		{"é", false, false, []int32{259, byte0 + 0xC3, byte0 + 0xA9}},
		{"", true, false, []int32{1}},
		{"", false, false, nil},
		{"<s>ab", false, true, []int32{1, 266}}, // a space prefix after a special token
		{"ab</s>ab", false, true, []int32{266, 2, 266}},
	}
	for _, tc := range tests {
		got := tok.Encode(tc.text, tc.addSpecial, tc.parseSpecial)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q, %v, %v) = %v, want %v", tc.text, tc.addSpecial, tc.parseSpecial, got, tc.want)
		}
	}
	// Without parseSpecial "<s>" is text, spelt with byte tokens.
	if got := tok.Encode("<s>", false, false); slices.Contains(got, 1) || tok.Decode(got) != "<s>" {
		t.Errorf("Encode(<s>, false, false) = %v (decoded %q), want byte tokens spelling <s>", got, tok.Decode(got))
	}
	// No byte tokens: unknown characters become UNK.
	nob := spmVocab(t, false)
	if got, want := nob.Encode("aé", false, false), []int32{265, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("without byte tokens Encode(aé) = %v, want %v", got, want)
	}
}

func TestSPMDecode(t *testing.T) {
	tok := spmVocab(t, true)
	tests := []struct {
		ids  []int32
		want string
	}{
		{[]int32{265, 264}, "abc"},              // leading space of the first token dropped
		{[]int32{1, 265, 264}, " abc"},          // after BOS it stays, as llama.cpp prints it
		{[]int32{259, 3 + 0xC3, 3 + 0xA9}, "é"}, // "▁" stripped, bytes joined
		{[]int32{0, 2, 260}, "a"},               // unknown and control render as nothing
	}
	for _, tc := range tests {
		if got := tok.Decode(tc.ids); got != tc.want {
			t.Errorf("Decode(%v) = %q, want %q", tc.ids, got, tc.want)
		}
	}
	for _, s := range roundTripStrings {
		if got := tok.Decode(tok.Encode(s, false, false)); got != s {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
	}
}

func TestDecoder(t *testing.T) {
	tok := spmVocab(t, true)
	const byte0 = 3
	d := tok.NewDecoder()
	steps := []struct {
		id   int32
		want string
	}{
		{265, " a"}, // no stripping in a stream
		{byte0 + 0xE2, ""},
		{byte0 + 0x96, ""},
		{byte0 + 0x81, "▁"},
		{byte0 + 0xF0, ""},
		{byte0 + 0x9F, ""},
		{byte0 + 0x99, ""},
		{byte0 + 0x82, "🙂"},
		{byte0 + 0xFF, "\xff"}, // never valid: passed through
		{byte0 + 0xC3, ""},
		{260, "\xc3a"}, // a broken sequence is passed on once it cannot complete
		{byte0 + 0xE2, ""},
	}
	for i, s := range steps {
		if got := d.Add(s.id); got != s.want {
			t.Errorf("step %d: Add(%d) = %q, want %q", i, s.id, got, s.want)
		}
	}
	if got := d.Flush(); got != "\xe2" {
		t.Errorf("Flush() = %q, want the held-back byte", got)
	}
	if got := d.Flush(); got != "" {
		t.Errorf("second Flush() = %q, want empty", got)
	}
}

func TestCompletePrefix(t *testing.T) {
	for _, s := range []string{"", "a", "é", "€", "🙂", "a\xe2\x82", "\xf0\x9f", "\x80", "\xed\xa0\x80", "ab\xc3"} {
		b := []byte(s)
		n := completePrefix(b)
		rest := b[n:]
		if len(rest) > 3 || (len(rest) > 0 && (utf8.FullRune(rest) || !utf8.RuneStart(rest[0]))) {
			t.Errorf("completePrefix(%q) = %d, holds back %q", s, n, rest)
		}
		if utf8.ValidString(s) && n != len(b) {
			t.Errorf("completePrefix(%q) = %d, want %d for complete text", s, n, len(b))
		}
	}
}

func TestValidate(t *testing.T) {
	base := func() Config {
		return noSpecials(Config{Model: "llama", Tokens: []string{"<unk>", "<s>", "a"}})
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"model", func(c *Config) { c.Model = "t5" }, "Model"},
		{"bert without specials", func(c *Config) { c.Model = "bert" }, "SEP"},
		{"no tokens", func(c *Config) { c.Tokens = nil }, "Tokens"},
		{"scores", func(c *Config) { c.Scores = []float32{1} }, "Scores"},
		{"types", func(c *Config) { c.Types = []int32{1, 1} }, "Types"},
		{"bos range", func(c *Config) { c.BOS = 3 }, "BOS"},
		{"eos negative", func(c *Config) { c.EOS = -2 }, "EOS"},
		{"add bos without bos", func(c *Config) { c.AddBOS = true }, "AddBOS"},
		{"add eos without eos", func(c *Config) { c.AddEOS = true }, "AddEOS"},
		{"bad merge", func(c *Config) { c.Model = "gpt2"; c.Merges = []string{"ab"} }, "Merges[0]"},
		{"bad pre", func(c *Config) { c.Model = "gpt2"; c.Pre = "???" }, "Pre"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			_, err := New(c)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("New = %v, want error naming %q", err, tc.want)
			}
		})
	}
}

func TestSplitMerge(t *testing.T) {
	for _, tc := range []struct{ in, l, r string }{{"a b", "a", "b"}, {"  b", " ", "b"}, {"Ġ Ġ", "Ġ", "Ġ"}} {
		l, r, ok := splitMerge(tc.in)
		if !ok || l != tc.l || r != tc.r {
			t.Errorf("splitMerge(%q) = %q, %q, %v, want %q, %q", tc.in, l, r, ok, tc.l, tc.r)
		}
	}
}

func TestEmptyTokenText(t *testing.T) {
	tok, err := New(noSpecials(Config{Model: "gpt2", Tokens: []string{"a", "", "b"}, Types: []int32{1, 3, 1}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Token(1); got != "[EMPTY_1]" {
		t.Errorf("Token(1) = %q, want [EMPTY_1] (llama.cpp's name for an empty text)", got)
	}
	if got, want := tok.Encode("ab", false, true), []int32{0, 2}; !slices.Equal(got, want) {
		t.Errorf("Encode(ab) = %v, want %v", got, want)
	}
}

// A token with an inner "▁" merges across words: the whole text is merged at
// once.
func TestSPMTokenAcrossWords(t *testing.T) {
	c := noSpecials(Config{Model: "llama", AddSpacePrefix: true,
		Tokens: []string{"<unk>", "▁", "a", "b", "a▁", "a▁b"},
		Scores: []float32{0, -5, -5, -5, -1, -0.5},
		Types:  []int32{2, 1, 1, 1, 1, 1}})
	c.UNK = 0
	tok, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if tok.spmWords {
		t.Fatal("spmWords = true for a vocabulary with a▁b")
	}
	if got, want := tok.Encode("a b", false, false), []int32{1, 5}; !slices.Equal(got, want) {
		t.Errorf("Encode(a b) = %v, want %v", got, want)
	}
}

// A Tokenizer is shared by every request of a model: concurrent use gives the
// same ids (run with -race to check for data races).
func TestConcurrentEncode(t *testing.T) {
	tok := bpeVocab(t, "llama3")
	want := make([][]int32, len(roundTripStrings))
	for i, s := range roundTripStrings {
		want[i] = tok.Encode(s, true, true)
	}
	errs := make(chan string, 8)
	for g := range 8 {
		go func() {
			for i := range roundTripStrings {
				j := (i + g) % len(roundTripStrings)
				if got := tok.Encode(roundTripStrings[j], true, true); !slices.Equal(got, want[j]) {
					errs <- fmt.Sprintf("goroutine %d: Encode(%q) = %v, want %v", g, roundTripStrings[j], got, want[j])
					return
				}
			}
			errs <- ""
		}()
	}
	for range 8 {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
