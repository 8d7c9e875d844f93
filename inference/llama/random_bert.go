package llama

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/tensor"
)

// writeRandomEncoder writes a random-weight "bert" or "nomic-bert" GGUF
// laid out as llama.cpp's convert_hf_to_gguf.py writes them, with a
// synthetic WordPiece vocabulary (bertVocabMeta).
func writeRandomEncoder(g *randomGen, shape Shape) ([]gguf.KV, error) {
	a := shape.Arch
	if shape.Heads <= 0 || shape.Dim%shape.Heads != 0 || shape.HeadDim != 0 && shape.HeadDim != shape.Dim/shape.Heads {
		return nil, fmt.Errorf("random model: %s needs dim %d divisible into %d heads", a, shape.Dim, shape.Heads)
	}
	pooling := shape.Pooling
	if pooling == 0 {
		pooling = PoolMean
	}
	meta := []gguf.KV{
		{Key: "general.architecture", Value: a},
		{Key: "general.name", Value: "cairn-random-" + a},
		{Key: "general.file_type", Value: uint32(fileType(g.typ))},
		{Key: a + ".context_length", Value: uint32(shape.ContextLength)},
		{Key: a + ".embedding_length", Value: uint32(shape.Dim)},
		{Key: a + ".block_count", Value: uint32(shape.Layers)},
		{Key: a + ".feed_forward_length", Value: uint32(shape.FFNDim)},
		{Key: a + ".attention.head_count", Value: uint32(shape.Heads)},
		{Key: a + ".attention.layer_norm_epsilon", Value: float32(1e-12)},
		{Key: a + ".attention.causal", Value: false},
		{Key: a + ".pooling_type", Value: uint32(pooling)},
	}
	if a == "nomic-bert" {
		base := shape.RopeBase
		if base == 0 {
			base = 1000 // nomic-embed-text's
		}
		meta = append(meta, gguf.KV{Key: a + ".rope.freq_base", Value: base})
	}
	if shape.WordPiece != nil {
		if len(shape.WordPiece) != shape.Vocab {
			return nil, fmt.Errorf("random model: vocabulary of %d tokens for a shape of %d", len(shape.WordPiece), shape.Vocab)
		}
		meta = append(meta, wordPieceMeta(shape.WordPiece)...)
	} else {
		meta = append(meta, bertVocabMeta(shape.Vocab)...)
	}

	dim, ffn := shape.Dim, shape.FFNDim
	if err := g.mat("token_embd.weight", shape.Vocab, dim); err != nil {
		return nil, err
	}
	// The converter keeps token_types in F32 (ggml adds its row to F32
	// activations, which it cannot do from F16).
	types, err := randomMatrix(g.rng, "token_types.weight", tensor.F32, 2, dim, float32(1/math.Sqrt(float64(dim))))
	if err != nil {
		return nil, err
	}
	g.tensors = append(g.tensors, types)
	if a == "bert" {
		if err := g.mat("position_embd.weight", shape.ContextLength, dim); err != nil {
			return nil, err
		}
	}
	g.vec("token_embd_norm.weight", dim, 1, 0.2)
	g.vec("token_embd_norm.bias", dim, 0, 0.1)
	for i := range shape.Layers {
		if err := g.encoderLayer(a, fmt.Sprintf("blk.%d.", i), dim, ffn); err != nil {
			return nil, err
		}
	}
	return meta, nil
}

// encoderLayer adds one encoder block's tensors: bert's separate Q/K/V
// with biases and GELU FFN with biases, nomic-bert's fused QKV and SwiGLU.
func (g *randomGen) encoderLayer(a, p string, dim, ffn int) error {
	if a == "bert" {
		for _, t := range []string{"attn_q", "attn_k", "attn_v"} {
			if err := g.mat(p+t+".weight", dim, dim); err != nil {
				return err
			}
			g.vec(p+t+".bias", dim, 0, 0.2)
		}
	} else if err := g.mat(p+"attn_qkv.weight", 3*dim, dim); err != nil {
		return err
	}
	if err := g.mat(p+"attn_output.weight", dim, dim); err != nil {
		return err
	}
	if a == "bert" {
		g.vec(p+"attn_output.bias", dim, 0, 0.1)
	}
	g.vec(p+"attn_output_norm.weight", dim, 1, 0.2)
	g.vec(p+"attn_output_norm.bias", dim, 0, 0.1)
	if err := g.mat(p+"ffn_up.weight", ffn, dim); err != nil {
		return err
	}
	if a == "bert" {
		g.vec(p+"ffn_up.bias", ffn, 0, 0.2)
	} else if err := g.mat(p+"ffn_gate.weight", ffn, dim); err != nil {
		return err
	}
	if err := g.mat(p+"ffn_down.weight", dim, ffn); err != nil {
		return err
	}
	if a == "bert" {
		g.vec(p+"ffn_down.bias", dim, 0, 0.1)
	}
	g.vec(p+"layer_output_norm.weight", dim, 1, 0.2)
	g.vec(p+"layer_output_norm.bias", dim, 0, 0.1)
	return nil
}

// bertWords are whole words of the synthetic WordPiece vocabulary, so
// that tests and checks can write sentences that tokenize to real tokens.
var bertWords = []string{"the", "of", "and", "to", "in", "is", "it", "hello", "world", "cairn", "mirror",
	"model", "peer", "search", "text", "embed", "vector", "sovereign", "node", "edge", "quick", "brown", "fox",
	"jumps", "over", "lazy", "dog", "café", "naïve"}

// bertSuffixes are continuation pieces ("##ing" in BERT's vocab.txt).
var bertSuffixes = []string{"ing", "ed", "er", "ly", "ings", "ment", "ness"}

// bertVocabMeta builds a synthetic WordPiece vocabulary of n tokens in
// BERT's layout ([PAD] 0, [unused…], [UNK] 100, [CLS] 101, [SEP] 102,
// [MASK] 103) as the converter writes it: word-initial pieces prefixed
// with "▁", continuations ("##ing") bare. Then ASCII punctuation, digits
// and letters both ways, bertWords, bertSuffixes and made-up words.
func bertVocabMeta(n int) []gguf.KV {
	tokens := make([]string, 0, n)
	types := make([]int32, 0, n)
	add := func(s string, typ int32) {
		tokens = append(tokens, s)
		types = append(types, typ)
	}
	add("[PAD]", 3)
	for i := 0; len(tokens) < 100; i++ {
		add(fmt.Sprintf("[unused%d]", i), 1)
	}
	for _, s := range []string{"[UNK]", "[CLS]", "[SEP]", "[MASK]"} {
		add(s, 3)
	}
	for c := byte('!'); c <= '~'; c++ {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			add("▁"+string(c), 1)
		}
	}
	for _, set := range []string{"0123456789", "abcdefghijklmnopqrstuvwxyz"} {
		for _, c := range set {
			add("▁"+string(c), 1)
			add(string(c), 1)
		}
	}
	for _, w := range bertWords {
		add("▁"+w, 1)
	}
	for _, s := range bertSuffixes {
		add(s, 1)
	}
	letters := "etaoinshrdlucmfwypvbgkjqxz"
	rng := rand.New(rand.NewPCG(7, 11))
	seen := map[string]bool{}
	for _, t := range tokens {
		seen[t] = true
	}
	for len(tokens) < n {
		w := make([]byte, 2+rng.IntN(5))
		for i := range w {
			w[i] = letters[rng.IntN(len(letters))]
		}
		tok := string(w)
		if rng.IntN(2) == 0 {
			tok = "▁" + tok
		}
		if !seen[tok] {
			seen[tok] = true
			add(tok, 1)
		}
	}
	return wordPieceKV(tokens[:n], types[:n])
}

// BertVocab converts a BERT vocab.txt's tokens (in id order) as llama.cpp's
// converter does: "[…]" tokens kept, "##" continuations bare, other
// tokens prefixed with "▁".
func BertVocab(vocab []string) []string {
	out := make([]string, len(vocab))
	for i, t := range vocab {
		switch {
		case strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]"):
			out[i] = t
		case strings.HasPrefix(t, "##"):
			out[i] = t[2:]
		default:
			out[i] = "▁" + t
		}
	}
	return out
}

// wordPieceMeta is the tokenizer metadata of a converted vocabulary: its
// five BERT specials control tokens, the rest normal.
func wordPieceMeta(tokens []string) []gguf.KV {
	types := make([]int32, len(tokens))
	for i, t := range tokens {
		types[i] = 1
		switch t {
		case "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]":
			types[i] = 3
		}
	}
	return wordPieceKV(tokens, types)
}

func wordPieceKV(tokens []string, types []int32) []gguf.KV {
	return []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: "bert"},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Array{Elem: gguf.TypeString, Values: tokens}},
		{Key: "tokenizer.ggml.token_type", Value: gguf.Array{Elem: gguf.TypeInt32, Values: types}},
		{Key: "tokenizer.ggml.token_type_count", Value: uint32(2)},
		{Key: "tokenizer.ggml.unknown_token_id", Value: uint32(100)},
		{Key: "tokenizer.ggml.cls_token_id", Value: uint32(101)},
		{Key: "tokenizer.ggml.seperator_token_id", Value: uint32(102)},
		{Key: "tokenizer.ggml.padding_token_id", Value: uint32(0)},
		{Key: "tokenizer.ggml.mask_token_id", Value: uint32(103)},
	}
}
