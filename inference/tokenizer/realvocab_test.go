package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestRealVocabularies encodes strings with excerpts of the Llama 3 and GPT-2
// vocabularies and compares with ids produced by independent implementations
// (see testdata/realvocab/README.md).
func TestRealVocabularies(t *testing.T) {
	for _, name := range []string{"llama3", "gpt2"} {
		t.Run(name, func(t *testing.T) {
			tok, v := realBPE(t, name)
			path := "testdata/realvocab/" + name + ".json"
			if len(v.Cases) < 30 {
				t.Fatalf("%s has %d cases, want at least 30", path, len(v.Cases))
			}
			for _, tc := range v.Cases {
				got := tok.Encode(tc.Text, false, true)
				if !slices.Equal(got, tc.IDs) {
					t.Errorf("Encode(%q) =\n%v\nwant\n%v", tc.Text, got, tc.IDs)
				}
				// Control tokens decode to nothing.
				want := tc.Text
				for _, sp := range v.Special {
					want = strings.ReplaceAll(want, sp, "")
				}
				if s := tok.Decode(got); s != want {
					t.Errorf("Decode(Encode(%q)) = %q, want %q", tc.Text, s, want)
				}
			}
		})
	}
}

type realVocab struct {
	NVocab  int               `json:"n_vocab"`
	Pre     string            `json:"pre"`
	Tokens  map[string]string `json:"tokens"`
	Special map[string]string `json:"special"`
	Merges  []string          `json:"merges"`
	Cases   []struct {
		Text string  `json:"text"`
		IDs  []int32 `json:"ids"`
	} `json:"cases"`
}

// realBPE builds the tokenizer of testdata/realvocab/name.json, the ids
// missing from the excerpt filled with unused placeholders.
func realBPE(t testing.TB, name string) (*Tokenizer, *realVocab) {
	t.Helper()
	path := "testdata/realvocab/" + name + ".json"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v realVocab
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := noSpecials(Config{Model: "gpt2", Pre: v.Pre, Merges: v.Merges})
	c.Tokens = make([]string, v.NVocab)
	c.Types = make([]int32, v.NVocab)
	for i := range c.Tokens {
		c.Tokens[i] = fmt.Sprintf("\x00unused%d", i)
		c.Types[i] = TypeUnused
	}
	set := func(m map[string]string, typ int32) {
		for k, s := range m {
			id, err := strconv.Atoi(k)
			if err != nil || id < 0 || id >= v.NVocab {
				t.Fatalf("%s: bad token id %q", path, k)
			}
			c.Tokens[id], c.Types[id] = s, typ
		}
	}
	set(v.Tokens, TypeNormal)
	set(v.Special, TypeControl)
	tok, err := New(c)
	if err != nil {
		t.Fatalf("New(%s): %v", path, err)
	}
	return tok, &v
}

// TestRealSentencePiece encodes strings with an excerpt of the Llama 2
// vocabulary and compares with llama-tokenizer-js.
func TestRealSentencePiece(t *testing.T) {
	const path = "testdata/realvocab/llama2.json"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		NVocab int `json:"n_vocab"`
		Tokens map[string]struct {
			Text  string  `json:"text"`
			Score float32 `json:"score"`
			Type  int32   `json:"type"`
		} `json:"tokens"`
		Cases []struct {
			Text string  `json:"text"`
			IDs  []int32 `json:"ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := noSpecials(Config{Model: "llama", AddBOS: true, AddSpacePrefix: true})
	c.UNK, c.BOS, c.EOS = 0, 1, 2
	c.Tokens = make([]string, v.NVocab)
	c.Scores = make([]float32, v.NVocab)
	c.Types = make([]int32, v.NVocab)
	for i := range c.Tokens {
		c.Tokens[i] = fmt.Sprintf("\x00unused%d", i)
		c.Types[i] = TypeUnused
	}
	for k, tk := range v.Tokens {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 || id >= v.NVocab {
			t.Fatalf("%s: bad token id %q", path, k)
		}
		c.Tokens[id], c.Scores[id], c.Types[id] = tk.Text, tk.Score, tk.Type
	}
	tok, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if len(v.Cases) < 30 {
		t.Fatalf("%s has %d cases, want at least 30", path, len(v.Cases))
	}
	for _, tc := range v.Cases {
		got := tok.Encode(tc.Text, false, false)
		if !slices.Equal(got, tc.IDs) {
			t.Errorf("Encode(%q) =\n%v\nwant\n%v", tc.Text, got, tc.IDs)
		}
		if s := tok.Decode(got); s != tc.Text {
			t.Errorf("Decode(Encode(%q)) = %q", tc.Text, s)
		}
	}
}
