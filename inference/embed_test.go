package inference

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/internal/fixture"
)

// goldenEmbedding is one entry of a testdata/embed/*.llama.json file:
// llama.cpp's tokens and normalised embedding of a prompt.
type goldenEmbedding struct {
	Prompt    string    `json:"prompt"`
	Tokens    []int32   `json:"tokens"`
	Embedding []float32 `json:"embedding"`
}

func loadGolden(t *testing.T, name string) []goldenEmbedding {
	t.Helper()
	b, err := os.ReadFile(fixture.Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var g []goldenEmbedding
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g) == 0 {
		t.Fatalf("%s holds no embeddings", name)
	}
	return g
}

// cosineAndDiff gives the cosine similarity and largest absolute
// difference of two vectors of the same length.
func cosineAndDiff(a, b []float32) (cos, diff float64) {
	var ab, aa, bb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		ab, aa, bb = ab+x*y, aa+x*x, bb+y*y
		diff = max(diff, math.Abs(x-y))
	}
	return ab / math.Sqrt(aa*bb), diff
}

// TestEmbedMatchesLlamaCpp: on the generated bert and nomic-bert files,
// Cairn's tokens equal llama.cpp's and its embeddings equal llama.cpp's
// within max abs diff 1e-4 (see testdata/embed/README.md), from text and
// from token ids.
func TestEmbedMatchesLlamaCpp(t *testing.T) {
	for _, name := range []string{"bert-mini-f16", "nomic-bert-mini-f16"} {
		t.Run(name, func(t *testing.T) {
			golden := loadGolden(t, "embed/"+name+".llama.json")
			m, err := Open(fixture.Path(t, "embed/"+name+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if !m.IsEmbedding() || m.Info().Pooling != "mean" || m.Info().EmbeddingLength != len(golden[0].Embedding) {
				t.Fatalf("info %+v", m.Info())
			}
			var ins []EmbedInput
			for _, g := range golden {
				if got := m.EmbedTokens(g.Prompt); !slices.Equal(got, g.Tokens) {
					t.Errorf("%q: tokens %v, llama.cpp %v", g.Prompt, got, g.Tokens)
				}
				ins = append(ins, EmbedInput{Text: g.Prompt}, EmbedInput{Tokens: g.Tokens})
			}
			out, err := m.Embed(context.Background(), ins, EmbedOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range out {
				g := golden[i/2]
				cos, diff := cosineAndDiff(e.Vector, g.Embedding)
				if e.Tokens != len(g.Tokens) || e.Truncated || cos < 0.9999 || diff > 1e-4 {
					t.Errorf("%q (input %d): %d tokens, cosine %.7f, max abs diff %.2e", g.Prompt, i, e.Tokens, cos, diff)
				}
			}
		})
	}
}

// TestEmbedTruncate: an input longer than the context fails unless
// truncation is asked for; truncated, it keeps its first tokens and its
// [SEP].
func TestEmbedTruncate(t *testing.T) {
	m, err := OpenConfig(fixture.Path(t, "embed/bert-mini-f16.gguf"), Config{ContextLength: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	long := strings.Repeat("hello world ", 40)
	ctx := context.Background()
	if _, err := m.Embed(ctx, []EmbedInput{{Text: long}}, EmbedOptions{}); !errors.Is(err, ErrContextLength) {
		t.Fatalf("long input without truncate: %v, want ErrContextLength", err)
	}
	out, err := m.Embed(ctx, []EmbedInput{{Text: long}}, EmbedOptions{Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	toks := m.EmbedTokens(long)
	cut := append(slices.Clone(toks[:31]), toks[len(toks)-1])
	want, err := m.Embed(ctx, []EmbedInput{{Tokens: cut}}, EmbedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !out[0].Truncated || out[0].Tokens != 32 || !slices.Equal(out[0].Vector, want[0].Vector) {
		t.Errorf("truncated: %d tokens, truncated %v, same as the cut tokens %v", out[0].Tokens, out[0].Truncated, slices.Equal(out[0].Vector, want[0].Vector))
	}
	if _, err := m.Embed(ctx, []EmbedInput{{Tokens: []int32{101, 99999, 102}}}, EmbedOptions{}); err == nil {
		t.Error("token outside the vocabulary was embedded")
	}
}

// TestEmbedWrongModel: a chat model refuses embeddings and an embedding
// model refuses to generate.
func TestEmbedWrongModel(t *testing.T) {
	chatModel, err := Open(fixture.Path(t, fixture.Model))
	if err != nil {
		t.Fatal(err)
	}
	defer chatModel.Close()
	if _, err := chatModel.Embed(context.Background(), []EmbedInput{{Text: "hi"}}, EmbedOptions{}); !errors.Is(err, ErrNotEmbedding) {
		t.Errorf("chat model Embed: %v, want ErrNotEmbedding", err)
	}
	enc, err := Open(fixture.Path(t, "embed/bert-mini-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if _, err := enc.Generate(context.Background(), Request{Prompt: "hello", MaxTokens: 4}, func(string) error { return nil }); !errors.Is(err, ErrNotGenerative) {
		t.Errorf("embedding model Generate: %v, want ErrNotGenerative", err)
	}
}
