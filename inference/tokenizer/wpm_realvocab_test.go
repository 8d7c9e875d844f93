package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
)

// TestRealWordPiece encodes strings with an excerpt of BERT's uncased
// vocabulary (all-MiniLM-L6-v2's) and compares with the ids llama.cpp fed
// the same vocabulary (see testdata/realvocab/README.md).
func TestRealWordPiece(t *testing.T) {
	const path = "testdata/realvocab/bert.json"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v realVocab
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := Config{Model: "bert", BOS: -1, EOS: -1, UNK: -1, PAD: -1, EOT: -1, SEP: -1}
	c.Tokens = make([]string, v.NVocab)
	c.Types = make([]int32, v.NVocab)
	for i := range c.Tokens {
		c.Tokens[i] = fmt.Sprintf("\x00unused%d", i)
		c.Types[i] = TypeUnused
	}
	for m, typ := range map[*map[string]string]int32{&v.Tokens: TypeNormal, &v.Special: TypeControl} {
		for k, s := range *m {
			id, err := strconv.Atoi(k)
			if err != nil || id < 0 || id >= v.NVocab {
				t.Fatalf("%s: bad token id %q", path, k)
			}
			c.Tokens[id], c.Types[id] = s, typ
			switch s {
			case "[CLS]":
				c.BOS = int32(id)
			case "[SEP]":
				c.SEP = int32(id)
			case "[UNK]":
				c.UNK = int32(id)
			case "[PAD]":
				c.PAD = int32(id)
			}
		}
	}
	tok, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) < 40 {
		t.Fatalf("%s has %d cases, want at least 40", path, len(v.Cases))
	}
	for _, tc := range v.Cases {
		if got := tok.Encode(tc.Text, true, true); !slices.Equal(got, tc.IDs) {
			t.Errorf("Encode(%q) =\n%v\nwant\n%v", tc.Text, got, tc.IDs)
		}
	}
}
