package tokenizer

import (
	"crypto/sha256"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEncode: Encode never panics, every id is in range, and decoding gives
// the text back (byte-level BPE for any input with byte tokens for all 256
// bytes; SentencePiece with byte fallback for valid UTF-8). The streaming
// Decoder agrees with Decode.
func FuzzEncode(f *testing.F) {
	for _, s := range roundTripStrings {
		f.Add(s, true)
	}
	f.Add("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", true)
	f.Add("\xff\xfe invalid \xc3", false)
	bpe := map[string]*Tokenizer{}
	for _, pre := range PreTokenizers() {
		bpe[pre] = bpeVocab(f, pre)
	}
	// Excerpts of real vocabularies: every byte rune is there, so any text
	// round-trips, through real merges (and Llama 3's whole-word lookup).
	for _, name := range []string{"llama3", "gpt2"} {
		bpe["real-"+name], _ = realBPE(f, name)
	}
	spm := spmVocab(f, true)
	f.Fuzz(func(t *testing.T, s string, parseSpecial bool) {
		for pre, tok := range bpe {
			ids := tok.Encode(s, true, parseSpecial)
			check(t, tok, ids)
			// Every byte has a token, so byte-level BPE loses nothing, not
			// even invalid UTF-8; only special-token texts may vanish.
			if !parseSpecial || !strings.Contains(s, "<|") {
				if got := tok.Decode(ids); got != s {
					t.Fatalf("pre %s: Decode(Encode(%q)) = %q", pre, s, got)
				}
			}
			streamEqualsDecode(t, tok, ids)
		}
		ids := spm.Encode(s, false, parseSpecial)
		check(t, spm, ids)
		if utf8.ValidString(s) && !(parseSpecial && (strings.Contains(s, "<s>") || strings.Contains(s, "</s>") || strings.Contains(s, "<unk>"))) {
			if got := spm.Decode(ids); got != s {
				t.Fatalf("spm: Decode(Encode(%q)) = %q", s, got)
			}
		}
		streamEqualsDecode(t, spm, ids)
	})
}

func check(t *testing.T, tok *Tokenizer, ids []int32) {
	t.Helper()
	for _, id := range ids {
		if id < 0 || int(id) >= tok.VocabSize() {
			t.Fatalf("Encode produced id %d outside [0, %d)", id, tok.VocabSize())
		}
	}
}

// streamEqualsDecode: a Decoder gives Decode's text (Decode strips the first
// token's space prefix; a Decoder does not).
func streamEqualsDecode(t *testing.T, tok *Tokenizer, ids []int32) {
	t.Helper()
	d := tok.NewDecoder()
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(d.Add(id))
	}
	sb.WriteString(d.Flush())
	want := tok.Decode(ids)
	got := sb.String()
	if tok.spacePrefix && len(got) == len(want)+1 && got[0] == ' ' {
		got = got[1:]
	}
	if got != want {
		t.Fatalf("Decoder gave %q, Decode %q", got, want)
	}
}

var benchText = strings.Repeat("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "+
	"Numbers like 1234 and 56.78, symbols (!?) and ünïcödé — 日本語 — keep it honest.\n", 100)

// BenchmarkEncode reports MB/s of input text; sha256 over the same bytes runs
// beside it as a reference for this machine's speed.
func BenchmarkEncode(b *testing.B) {
	data := []byte(benchText)
	b.Run("sha256-reference", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			sha256.Sum256(data)
		}
	})
	b.Run("stories260K-spm", func(b *testing.B) {
		tok := stories(b)
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			tok.Encode(benchText, true, false)
		}
	})
	for _, pre := range []string{"llama3", "qwen2", "gpt2"} {
		b.Run("bpe-"+pre, func(b *testing.B) {
			tok := bpeVocab(b, pre)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				tok.Encode(benchText, true, true)
			}
		})
	}
}

// BenchmarkDecode reports MB/s of decoded text.
func BenchmarkDecode(b *testing.B) {
	tok := stories(b)
	ids := tok.Encode(benchText, true, false)
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		tok.Decode(ids)
	}
}
