package llama

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/tensor"
	"github.com/cairnhub/cairn/internal/fixture"
)

// quantOracle is llama.cpp's greedy output for one file of testdata/quant,
// as its README.md records it.
type quantOracle struct {
	file        string
	prompt, gen []int32
	// exact is how many generated tokens must match; the README says why
	// when it is fewer than len(gen).
	exact int
	// eos: llama.cpp stopped after gen on the end-of-generation token.
	eos bool
}

func parseIDs(t *testing.T, s string) []int32 {
	t.Helper()
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			t.Fatalf("token id %q: %v", f, err)
		}
		ids = append(ids, int32(v))
	}
	return ids
}

// quantOracles parses the "### file" sections of testdata/quant/README.md:
// "prompt ids: [...]", "generated ids: [...]", and optionally "then: eos"
// (llama.cpp stopped on the end-of-generation token) and "exact: N".
func quantOracles(t *testing.T) []quantOracle { return readmeOracles(t, "quant") }

// readmeOracles parses the README.md of testdata directory dir.
func readmeOracles(t *testing.T, dir string) []quantOracle {
	t.Helper()
	b, err := os.ReadFile(fixture.Path(t, filepath.Join(dir, "README.md")))
	if err != nil {
		t.Fatal(err)
	}
	sec := regexp.MustCompile("(?m)^### `([^`]+)`\n")
	prompt := regexp.MustCompile(`(?m)^prompt ids: \[([0-9, ]+)\]`)
	gen := regexp.MustCompile(`(?m)^generated ids: \[([0-9, ]+)\]`)
	exact := regexp.MustCompile(`(?m)^exact: ([0-9]+)`)
	locs := sec.FindAllSubmatchIndex(b, -1)
	var out []quantOracle
	for i, l := range locs {
		end := len(b)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := b[l[1]:end]
		o := quantOracle{file: string(b[l[2]:l[3]])}
		pm, gm := prompt.FindSubmatch(body), gen.FindSubmatch(body)
		if pm == nil || gm == nil {
			t.Fatalf("README section %s: no prompt or generated ids", o.file)
		}
		o.prompt, o.gen = parseIDs(t, string(pm[1])), parseIDs(t, string(gm[1]))
		o.exact = len(o.gen)
		o.eos = regexp.MustCompile(`(?m)^then: eos$`).Match(body)
		if em := exact.FindSubmatch(body); em != nil {
			o.exact, _ = strconv.Atoi(string(em[1]))
		}
		out = append(out, o)
	}
	return out
}

// quantProbeTensors are the tensors whose types the test reports: every
// matrix of the first two layers, the embedding and the output.
var quantProbeTensors = func() []string {
	names := []string{"token_embd.weight", "output.weight"}
	for _, l := range []string{"0", "1"} {
		for _, w := range []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"} {
			names = append(names, "blk."+l+"."+w+".weight")
		}
	}
	return names
}()

// TestQuantFilesGreedy loads every file llama-quantize wrote (the K-quant
// mixtures of a model whose widths are not multiples of 256 carry the
// fallback types; those of a 256-wide model carry the K-quants themselves)
// and checks that greedy generation gives llama.cpp's tokens.
func TestQuantFilesGreedy(t *testing.T) {
	oracles := quantOracles(t)
	if len(oracles) < 9 {
		t.Fatalf("README lists %d files, want at least 9", len(oracles))
	}
	seen := map[tensor.Type]bool{}
	for _, o := range oracles {
		t.Run(o.file, func(t *testing.T) {
			f, err := gguf.Open(fixture.Path(t, filepath.Join("quant", o.file)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var types []string
			for _, name := range quantProbeTensors {
				ti, ok := f.Tensor(name)
				if !ok {
					t.Fatalf("tensor %s missing", name)
				}
				typ := tensor.Type(ti.Type)
				seen[typ] = true
				if !slices.Contains(types, typ.String()) {
					types = append(types, typ.String())
				}
			}
			t.Logf("tensor types: %v", types)
			m, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			m.KVType = KVF16 // llama.cpp's default cache type
			s := m.NewState(m.ContextLength, len(o.prompt))
			got, logits := greedy(t, s, o.prompt, len(o.gen))
			n := exactPrefix(got, o.gen)
			if n < o.exact {
				t.Errorf("generated %v\nllama.cpp %v\nfirst difference at token %d, want %d exact", got, o.gen, n, o.exact)
			}
			if o.eos && n == len(o.gen) {
				eos, _ := f.Uint("tokenizer.ggml.eos_token_id")
				if tok := argmax(logits); tok != int32(eos) {
					t.Errorf("after %d tokens: next token %d, llama.cpp stopped on end-of-generation %d", n, tok, eos)
				}
			}
		})
	}
	for _, typ := range []tensor.Type{tensor.Q4_1, tensor.Q5_0, tensor.Q5_1, tensor.IQ4_NL, tensor.Q2_K, tensor.Q3_K, tensor.IQ4_XS} {
		if !seen[typ] {
			t.Errorf("no file carries a %v tensor", typ)
		}
	}
}

// greedy runs prompt through s and then generates n tokens greedily, as
// llama-simple does; logits are those after the last token.
func greedy(t *testing.T, s *State, prompt []int32, n int) (got []int32, logits []float32) {
	t.Helper()
	logits, err := s.Forward(prompt)
	if err != nil {
		t.Fatal(err)
	}
	for len(got) < n {
		tok := argmax(logits)
		got = append(got, tok)
		if logits, err = s.Forward([]int32{tok}); err != nil {
			t.Fatal(err)
		}
	}
	return got, logits
}

// exactPrefix is how many leading tokens of got equal want's.
func exactPrefix(got, want []int32) int {
	n := 0
	for n < len(got) && n < len(want) && got[n] == want[n] {
		n++
	}
	return n
}
