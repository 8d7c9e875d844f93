package inference

import (
	"bytes"
	"testing"

	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/tensor"
)

// FuzzLoad feeds mutated model files to Load and, when one loads, generates
// a few tokens from it: a hostile file must give an error, never a panic.
func FuzzLoad(f *testing.F) {
	for _, shape := range []llama.Shape{
		{Arch: "llama", Dim: 32, Layers: 1, Heads: 2, KVHeads: 1, FFNDim: 32, Vocab: 300, ContextLength: 16},
		{Arch: "qwen2", Dim: 32, Layers: 1, Heads: 2, KVHeads: 2, FFNDim: 32, Vocab: 300, ContextLength: 16, Tokenizer: "gpt2", TiedEmbeddings: true},
		{Arch: "qwen3", Dim: 32, Layers: 1, Heads: 2, KVHeads: 1, HeadDim: 32, FFNDim: 32, Vocab: 300, ContextLength: 16, Tokenizer: "gpt2", RopeYarnFactor: 4},
		{Arch: "phi3", Dim: 32, Layers: 1, Heads: 2, KVHeads: 1, FFNDim: 32, Vocab: 300, ContextLength: 16, RopeDims: 12, LongRope: true},
		{Arch: "gemma2", Dim: 32, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 32, FFNDim: 32, Vocab: 300, ContextLength: 16, SlidingWindow: 2, AttnSoftCap: 5, FinalSoftCap: 10},
		{Arch: "gemma3", Dim: 32, Layers: 6, Heads: 2, KVHeads: 1, HeadDim: 32, FFNDim: 32, Vocab: 300, ContextLength: 16, SlidingWindow: 2, RopeBase: 1e6, RopeLinearFactor: 8},
	} {
		var buf bytes.Buffer
		if err := llama.WriteRandomModel(&buf, shape, tensor.Q8_0, 1); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := LoadConfig(bytes.NewReader(b), int64(len(b)), Config{ContextLength: 8, Batch: 2})
		if err != nil {
			return
		}
		_ = m.Info()
		_, _ = m.Generate(t.Context(), Request{Prompt: "the tea", MaxTokens: 3}, nil)
	})
}
