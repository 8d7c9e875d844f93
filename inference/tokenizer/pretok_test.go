package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// TestPreTokenizersGolden compares the scanners with splits computed from the
// original regular expressions by Python's "regex" module (which has
// lookahead): testdata/pretok.json, made by testdata/gen_pretok.py.
func TestPreTokenizersGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/pretok.json")
	if err != nil {
		t.Fatal(err)
	}
	var gold map[string][]struct {
		Text  string   `json:"text"`
		Words []string `json:"words"`
	}
	if err := json.Unmarshal(b, &gold); err != nil {
		t.Fatalf("testdata/pretok.json: %v", err)
	}
	if len(gold) < 9 {
		t.Fatalf("testdata/pretok.json has %d pre-tokenizers, want 9", len(gold))
	}
	for name, cases := range gold {
		stages, ok := preTokenizers[name]
		if !ok {
			t.Errorf("pre-tokenizer %q missing", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			for _, c := range cases {
				got := splitWords(stages, c.Text, nil)
				if c.Words == nil {
					c.Words = []string{}
				}
				if got == nil {
					got = []string{}
				}
				if !slices.Equal(got, c.Words) {
					t.Errorf("split(%q) = %q, want %q", c.Text, got, c.Words)
				}
			}
		})
	}
}

func TestPreTokenizerNames(t *testing.T) {
	for _, n := range []string{"default", "gpt2", "llama3", "llama-bpe", "qwen2", "smollm"} {
		if !slices.Contains(PreTokenizers(), n) {
			t.Errorf("PreTokenizers() lacks %q", n)
		}
	}
	c := Config{Model: "gpt2", Pre: "nonsense", Tokens: []string{"a"}, BOS: -1, EOS: -1, UNK: -1, PAD: -1, EOT: -1}
	if _, err := New(c); err == nil {
		t.Error("New(Pre: nonsense) = nil error, want one")
	}
}
