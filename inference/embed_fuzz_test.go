package inference

import (
	"bytes"
	"testing"

	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/tensor"
)

// FuzzLoadEncoder feeds mutated embedding-model files to Load and, when
// one loads, embeds a text and a few token ids with it: a hostile file
// must give an error, never a panic.
func FuzzLoadEncoder(f *testing.F) {
	for _, arch := range []string{"bert", "nomic-bert"} {
		var buf bytes.Buffer
		shape := llama.Shape{Arch: arch, Dim: 32, Layers: 1, Heads: 2, KVHeads: 2, FFNDim: 32, Vocab: 300, ContextLength: 16}
		if err := llama.WriteRandomModel(&buf, shape, tensor.Q8_0, 1); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := LoadConfig(bytes.NewReader(b), int64(len(b)), Config{})
		if err != nil {
			return
		}
		defer m.Close()
		_ = m.Info()
		ins := []EmbedInput{{Text: "the quick brown fox, jumps! over the lazy dog again and again"}, {Tokens: []int32{101, 5, 102}}}
		out, err := m.Embed(t.Context(), ins, EmbedOptions{Truncate: true})
		if err == nil && (len(out) != 2 || len(out[0].Vector) != m.Info().EmbeddingLength) {
			t.Fatalf("%d embeddings of %d values for 2 inputs of a %d-wide model", len(out), len(out[0].Vector), m.Info().EmbeddingLength)
		}
	})
}
