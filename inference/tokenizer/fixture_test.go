package tokenizer

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/internal/fixture"
)

// configFromGGUF converts tokenizer.ggml.* as the model loader is expected to.
func configFromGGUF(t testing.TB, f *gguf.File) Config {
	t.Helper()
	c := Config{BOS: -1, EOS: -1, UNK: -1, PAD: -1, EOT: -1}
	c.Model, _ = f.String("tokenizer.ggml.model")
	c.Pre, _ = f.String("tokenizer.ggml.pre")
	c.Tokens, _ = f.Strings("tokenizer.ggml.tokens")
	c.Scores, _ = f.Float32s("tokenizer.ggml.scores")
	c.Types, _ = f.Int32s("tokenizer.ggml.token_type")
	c.Merges, _ = f.Strings("tokenizer.ggml.merges")
	for key, dst := range map[string]*int32{
		"tokenizer.ggml.bos_token_id":     &c.BOS,
		"tokenizer.ggml.eos_token_id":     &c.EOS,
		"tokenizer.ggml.unknown_token_id": &c.UNK,
		"tokenizer.ggml.padding_token_id": &c.PAD,
		"tokenizer.ggml.eot_token_id":     &c.EOT,
	} {
		if v, ok := f.Uint(key); ok && v < uint64(len(c.Tokens)) {
			*dst = int32(v)
		}
	}
	// llama.cpp's defaults for SentencePiece: BOS added, space prefix.
	c.AddBOS = c.Model == "llama"
	c.AddSpacePrefix = c.Model == "llama"
	if v, ok := f.Bool("tokenizer.ggml.add_bos_token"); ok {
		c.AddBOS = v
	}
	if v, ok := f.Bool("tokenizer.ggml.add_eos_token"); ok {
		c.AddEOS = v
	}
	if v, ok := f.Bool("tokenizer.ggml.add_space_prefix"); ok {
		c.AddSpacePrefix = v
	}
	return c
}

func stories(t testing.TB) *Tokenizer {
	t.Helper()
	path := fixture.Path(t, fixture.Model)
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatalf("gguf.Open(%s): %v", path, err)
	}
	defer f.Close()
	tok, err := New(configFromGGUF(t, f))
	if err != nil {
		t.Fatalf("New(stories260K config): %v", err)
	}
	return tok
}

// expected parses stories260K.expected.txt: prompt ids, generated ids, text.
func expected(t *testing.T) (prompt string, promptIDs, genIDs []int32, text string) {
	t.Helper()
	b, err := os.ReadFile(fixture.Path(t, fixture.Expected))
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := strings.Cut(string(b), "=== OUTPUT ===\n")
	if !ok {
		t.Fatal("stories260K.expected.txt: no === OUTPUT === marker")
	}
	parse := func(s string) []int32 {
		s = strings.Trim(strings.TrimSpace(s), "[]")
		var ids []int32
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatalf("stories260K.expected.txt: bad id %q", f)
			}
			ids = append(ids, int32(v))
		}
		return ids
	}
	lines := strings.Split(head, "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "# Prompt: "):
			prompt = strings.Trim(strings.TrimPrefix(l, "# Prompt: "), `"`)
		case strings.HasPrefix(l, "# Prompt token ids (BOS added): "):
			promptIDs = parse(strings.TrimPrefix(l, "# Prompt token ids (BOS added): "))
		case strings.HasPrefix(l, "# Generated token ids") && i+1 < len(lines):
			genIDs = parse(strings.TrimPrefix(lines[i+1], "# "))
		}
	}
	if prompt == "" || promptIDs == nil || genIDs == nil {
		t.Fatal("stories260K.expected.txt: prompt or ids missing")
	}
	// llama-cli ends its output with a newline of its own, and the file
	// its last line with another: neither is generated text.
	return prompt, promptIDs, genIDs, strings.TrimSuffix(body, "\n\n")
}

func TestStoriesEncode(t *testing.T) {
	tok := stories(t)
	prompt, promptIDs, _, _ := expected(t)
	got := tok.Encode(prompt, true, false)
	if !equalIDs(got, promptIDs) {
		t.Errorf("Encode(%q, true, false) = %v, want %v", prompt, got, promptIDs)
	}
	if tok.BOS() != 1 || tok.EOS() != 2 || tok.VocabSize() != 512 {
		t.Errorf("BOS, EOS, VocabSize = %d, %d, %d, want 1, 2, 512", tok.BOS(), tok.EOS(), tok.VocabSize())
	}
	if !tok.IsEOG(2) || tok.IsEOG(1) {
		t.Errorf("IsEOG(2), IsEOG(1) = %v, %v, want true, false", tok.IsEOG(2), tok.IsEOG(1))
	}
}

func TestStoriesDecode(t *testing.T) {
	tok := stories(t)
	_, promptIDs, genIDs, text := expected(t)
	all := append(append([]int32{}, promptIDs...), genIDs...)
	if got := tok.Decode(all); got != text {
		t.Errorf("Decode(prompt+generated) =\n%q\nwant\n%q", got, text)
	}
	// Streaming, as a server prints it: the same text.
	d := tok.NewDecoder()
	var sb strings.Builder
	for _, id := range all {
		sb.WriteString(d.Add(id))
	}
	sb.WriteString(d.Flush())
	if sb.String() != text {
		t.Errorf("Decoder over prompt+generated =\n%q\nwant\n%q", sb.String(), text)
	}
	// Generated part alone, streamed: the text after the prompt.
	d = tok.NewDecoder()
	sb.Reset()
	for _, id := range genIDs {
		sb.WriteString(d.Add(id))
	}
	if want := strings.TrimPrefix(text, " Once upon a time"); sb.String() != want {
		t.Errorf("Decoder over generated = %q, want %q", sb.String(), want)
	}
}

func TestStoriesRoundTrip(t *testing.T) {
	tok := stories(t)
	for _, s := range roundTripStrings {
		ids := tok.Encode(s, false, false)
		if got := tok.Decode(ids); got != s {
			t.Errorf("Decode(Encode(%q)) = %q (ids %v)", s, got, ids)
		}
	}
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var roundTripStrings = []string{
	"", "a", " ", "  ", "hello world", " leading space", "trailing space ", "two  spaces",
	"Once upon a time", "tabs\tand\nnewlines\r\n", "\n\n\n", "don't you'll we've I'M",
	"numbers 1234567890 and 3.14159", "unicode: héllo wörld ñ ç ø", "日本語のテキスト",
	"emoji 🙂👍🏽👨‍👩‍👧", "mixed 123abc!!!??? ...", "<s> not special </s>", "<|im_start|>user",
	"Ünïcödé\u00a0nbsp\u2003emspace", "русский текст", "한국어", "ελληνικά",
	"\x00\x01 control", "a\u0301 combining",
}

// Merging word by word gives what merging the whole text gives, for the
// fixture's vocabulary, on every round-trip string and on the story text.
func TestStoriesWordsIndependent(t *testing.T) {
	tok := stories(t)
	if !tok.spmWords {
		t.Fatal("stories260K vocabulary: spmWords = false, want true (no token has an inner ▁)")
	}
	_, _, _, text := expected(t)
	for _, s := range append([]string{text, benchText}, roundTripStrings...) {
		var a, b spmSession
		esc := strings.ReplaceAll(" "+s, " ", "▁")
		whole := a.encodeRun(tok, esc, nil)
		words := b.encode(tok, s, true, nil)
		if !equalIDs(whole, words) {
			t.Errorf("%.40q: word by word %v, whole %v", s, words, whole)
		}
	}
	if spmWordsIndependent([]string{"▁▁a", "b▁", "c"}) {
		t.Error(`spmWordsIndependent(["▁▁a", "b▁", "c"]) = true, want false`)
	}
	if !spmWordsIndependent([]string{"▁▁a", "▁", "c"}) {
		t.Error(`spmWordsIndependent(["▁▁a", "▁", "c"]) = false, want true`)
	}
}
