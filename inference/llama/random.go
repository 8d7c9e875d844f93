package llama

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/tensor"
)

// Shape is the shape of a generated random-weight model.
type Shape struct {
	// Arch is "llama" (default) or "qwen2" (adds q/k/v biases, NEOX RoPE).
	Arch                         string
	Dim, Layers, Heads, KVHeads  int
	FFNDim, Vocab, ContextLength int
	// RopeBase is written as {arch}.rope.freq_base when non-zero.
	RopeBase float32
	// TiedEmbeddings omits output.weight so token_embd.weight is reused.
	TiedEmbeddings bool
}

// TinyLlama is the shape of TinyLlama-1.1B, used by the benchmarks.
var TinyLlama = Shape{Arch: "llama", Dim: 2048, Layers: 22, Heads: 32, KVHeads: 4, FFNDim: 5632, Vocab: 32000, ContextLength: 2048, RopeBase: 10000}

// poolRows bounds how many distinct random rows are generated per tensor;
// larger tensors repeat them, which keeps generating a 1B-parameter model
// fast while every byte is still read from its own address.
const poolRows = 64

// WriteRandomModel writes a GGUF model of the given shape whose weight
// matrices have type typ (norm weights and biases stay F32), with random
// weights drawn from seed, and a synthetic SentencePiece vocabulary
// (<unk>, <s>, </s>, 256 byte tokens, then made-up pieces) so the model
// loads with its tokenizer.
func WriteRandomModel(w io.Writer, shape Shape, typ tensor.Type, seed uint64) error {
	if shape.Arch == "" {
		shape.Arch = "llama"
	}
	if !typ.Supported() {
		return fmt.Errorf("random model: type %v unsupported", typ)
	}
	if shape.Vocab < 259+1 {
		return fmt.Errorf("random model: vocabulary of %d is smaller than 260", shape.Vocab)
	}
	if shape.Heads <= 0 || shape.KVHeads <= 0 || shape.Dim%shape.Heads != 0 {
		return fmt.Errorf("random model: dim %d not divisible into %d heads", shape.Dim, shape.Heads)
	}
	if shape.ContextLength == 0 {
		shape.ContextLength = 256
	}
	a := shape.Arch
	hd := shape.Dim / shape.Heads
	meta := []gguf.KV{
		{Key: "general.architecture", Value: a},
		{Key: "general.name", Value: "cairn-random-" + a},
		{Key: "general.file_type", Value: uint32(fileType(typ))},
		{Key: a + ".context_length", Value: uint32(shape.ContextLength)},
		{Key: a + ".embedding_length", Value: uint32(shape.Dim)},
		{Key: a + ".block_count", Value: uint32(shape.Layers)},
		{Key: a + ".feed_forward_length", Value: uint32(shape.FFNDim)},
		{Key: a + ".attention.head_count", Value: uint32(shape.Heads)},
		{Key: a + ".attention.head_count_kv", Value: uint32(shape.KVHeads)},
		{Key: a + ".attention.layer_norm_rms_epsilon", Value: float32(1e-5)},
		{Key: a + ".rope.dimension_count", Value: uint32(hd)},
	}
	if shape.RopeBase != 0 {
		meta = append(meta, gguf.KV{Key: a + ".rope.freq_base", Value: shape.RopeBase})
	}
	meta = append(meta, vocabMeta(shape.Vocab)...)

	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var tensors []gguf.Tensor
	mat := func(name string, rows, cols int) error {
		t, err := randomMatrix(rng, name, typ, rows, cols, float32(1/math.Sqrt(float64(cols))))
		tensors = append(tensors, t)
		return err
	}
	vec := func(name string, n int, base, spread float32) {
		v := make([]float32, n)
		for i := range v {
			v[i] = base + spread*(2*rng.Float32()-1)
		}
		data, _ := tensor.Quantize(tensor.F32, v)
		tensors = append(tensors, gguf.Tensor{Name: name, Type: gguf.TensorType(tensor.F32), Dims: []uint64{uint64(n)}, Data: data})
	}
	qDim, kvDim := shape.Heads*hd, shape.KVHeads*hd
	if err := mat("token_embd.weight", shape.Vocab, shape.Dim); err != nil {
		return err
	}
	for i := 0; i < shape.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		vec(p+"attn_norm.weight", shape.Dim, 1, 0.2)
		for _, t := range []struct {
			name       string
			rows, cols int
		}{
			{"attn_q.weight", qDim, shape.Dim}, {"attn_k.weight", kvDim, shape.Dim},
			{"attn_v.weight", kvDim, shape.Dim}, {"attn_output.weight", shape.Dim, qDim},
		} {
			if err := mat(p+t.name, t.rows, t.cols); err != nil {
				return err
			}
		}
		if a == "qwen2" {
			vec(p+"attn_q.bias", qDim, 0, 0.5)
			vec(p+"attn_k.bias", kvDim, 0, 0.5)
			vec(p+"attn_v.bias", kvDim, 0, 0.5)
		}
		vec(p+"ffn_norm.weight", shape.Dim, 1, 0.2)
		for _, t := range []struct {
			name       string
			rows, cols int
		}{
			{"ffn_gate.weight", shape.FFNDim, shape.Dim}, {"ffn_up.weight", shape.FFNDim, shape.Dim},
			{"ffn_down.weight", shape.Dim, shape.FFNDim},
		} {
			if err := mat(p+t.name, t.rows, t.cols); err != nil {
				return err
			}
		}
	}
	vec("output_norm.weight", shape.Dim, 1, 0.2)
	if !shape.TiedEmbeddings {
		if err := mat("output.weight", shape.Vocab, shape.Dim); err != nil {
			return err
		}
	}
	return gguf.Write(w, meta, tensors)
}

// randomMatrix quantizes up to poolRows random rows and streams them,
// repeated, as a rows×cols tensor.
func randomMatrix(rng *rand.Rand, name string, typ tensor.Type, rows, cols int, scale float32) (gguf.Tensor, error) {
	n := min(rows, poolRows)
	src := make([]float32, n*cols)
	for i := range src {
		src[i] = scale * float32(rng.NormFloat64())
	}
	pool, err := tensor.Quantize(typ, src)
	if err != nil {
		return gguf.Tensor{}, fmt.Errorf("random model: tensor %s: %w", name, err)
	}
	rb := len(pool) / n
	return gguf.Tensor{
		Name: name, Type: gguf.TensorType(typ), Dims: []uint64{uint64(cols), uint64(rows)},
		WriteData: func(w io.Writer) error {
			for r := 0; r < rows; r += n {
				k := min(n, rows-r)
				if _, err := w.Write(pool[:k*rb]); err != nil {
					return err
				}
			}
			return nil
		},
	}, nil
}

// fileType maps a weight type to llama.cpp's general.file_type value.
func fileType(t tensor.Type) int {
	switch t {
	case tensor.F32:
		return 0
	case tensor.F16:
		return 1
	case tensor.Q4_0:
		return 2
	case tensor.Q8_0:
		return 7
	case tensor.Q4_K:
		return 15 // Q4_K_M
	case tensor.Q6_K:
		return 18
	case tensor.BF16:
		return 32
	}
	return 0
}

// vocabMeta builds a synthetic SentencePiece vocabulary of n tokens.
func vocabMeta(n int) []gguf.KV {
	tokens := make([]string, 0, n)
	scores := make([]float32, 0, n)
	types := make([]int32, 0, n)
	add := func(s string, score float32, typ int32) {
		tokens = append(tokens, s)
		scores = append(scores, score)
		types = append(types, typ)
	}
	add("<unk>", 0, 2)
	add("<s>", 0, 3)
	add("</s>", 0, 3)
	for b := 0; b < 256; b++ {
		add(fmt.Sprintf("<0x%02X>", b), 0, 6)
	}
	letters := "etaoinshrdlucmfwypvbgkjqxz"
	for i := 0; len(tokens) < n; i++ {
		var piece string
		switch {
		case i < len(letters):
			piece = string(letters[i])
		case i < 2*len(letters):
			piece = "▁" + string(letters[i-len(letters)])
		default:
			// made-up multi-letter pieces, unique by construction
			j := i - 2*len(letters)
			piece = "▁"
			for {
				piece += string(letters[j%len(letters)])
				j /= len(letters)
				if j == 0 {
					break
				}
			}
			piece += fmt.Sprint(i)
		}
		add(piece, -float32(i), 1)
	}
	return []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: "llama"},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Array{Elem: gguf.TypeString, Values: tokens}},
		{Key: "tokenizer.ggml.scores", Value: gguf.Array{Elem: gguf.TypeFloat32, Values: scores}},
		{Key: "tokenizer.ggml.token_type", Value: gguf.Array{Elem: gguf.TypeInt32, Values: types}},
		{Key: "tokenizer.ggml.bos_token_id", Value: uint32(1)},
		{Key: "tokenizer.ggml.eos_token_id", Value: uint32(2)},
		{Key: "tokenizer.ggml.unknown_token_id", Value: uint32(0)},
		{Key: "tokenizer.ggml.add_bos_token", Value: true},
	}
}
