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
	// Arch is "llama" (default), "qwen2" (adds q/k/v biases, NEOX RoPE),
	// "qwen3" (per-head Q/K RMS norms, NEOX RoPE), "phi3" (fused QKV and
	// gate/up matrices, NEOX RoPE), "gemma2" (post-norms, GeGLU; embeddings
	// always tied) or "gemma3" (gemma2's block with Q/K norms).
	Arch                         string
	Dim, Layers, Heads, KVHeads  int
	FFNDim, Vocab, ContextLength int
	// HeadDim, when non-zero, is written as {arch}.attention.key_length and
	// value_length (qwen3 heads are wider than Dim/Heads); default
	// Dim/Heads.
	HeadDim int
	// RopeBase is written as {arch}.rope.freq_base when non-zero.
	RopeBase float32
	// RopeLinearFactor, when non-zero, writes linear RoPE scaling with this
	// factor.
	RopeLinearFactor float32
	// RopeDims, when non-zero, is the number of rotated dimensions per head
	// (partial rotary, as phi3 files may have); default the head size.
	RopeDims int
	// LongRope writes su/longrope scaling (phi3): rope_factors_long and
	// rope_factors_short tensors, rope.scaling.attn_factor and
	// rope.scaling.original_context_length.
	LongRope bool
	// OrigContext is written as rope.scaling.original_context_length when
	// LongRope (default ContextLength/2) or RopeYarnFactor is set.
	OrigContext int
	// RopeYarnFactor, when non-zero, writes YaRN RoPE scaling with this
	// factor and rope.scaling.original_context_length (OrigContext, default
	// ContextLength/4), as Qwen files extended to long contexts have.
	RopeYarnFactor float32
	// SlidingWindow is written as {arch}.attention.sliding_window when
	// non-zero (gemma2, gemma3).
	SlidingWindow int
	// AttnSoftCap and FinalSoftCap are written as gemma2's
	// attn_logit_softcapping and final_logit_softcapping when non-zero.
	AttnSoftCap, FinalSoftCap float32
	// TiedEmbeddings omits output.weight so token_embd.weight is reused.
	TiedEmbeddings bool
	// Tokenizer is "llama" (default: a SentencePiece vocabulary) or "gpt2"
	// (a byte-level BPE vocabulary with merges, ChatML special tokens and a
	// ChatML chat template, as Qwen2 files have). Encoders ("bert",
	// "nomic-bert") always get a WordPiece vocabulary.
	Tokenizer string
	// Pooling is an encoder's pooling_type (default PoolMean).
	Pooling Pooling
	// WordPiece, when set, is an encoder's vocabulary as the converter
	// writes it (word starts "▁"-prefixed, "##" continuations bare, see
	// BertVocab) instead of the synthetic one; Vocab must equal its length.
	WordPiece []string
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
	if shape.Vocab < 300 {
		return fmt.Errorf("random model: vocabulary of %d is smaller than 300", shape.Vocab)
	}
	if shape.ContextLength == 0 {
		shape.ContextLength = 256
	}
	if IsEncoder(shape.Arch) {
		g := &randomGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), typ: typ}
		meta, err := writeRandomEncoder(g, shape)
		if err != nil {
			return err
		}
		return gguf.Write(w, meta, g.tensors)
	}
	if !Supported(shape.Arch) {
		return fmt.Errorf("random model: architecture %q unsupported", shape.Arch)
	}
	if shape.Heads <= 0 || shape.KVHeads <= 0 || (shape.HeadDim == 0 && shape.Dim%shape.Heads != 0) {
		return fmt.Errorf("random model: dim %d not divisible into %d heads", shape.Dim, shape.Heads)
	}
	if shape.ContextLength == 0 {
		shape.ContextLength = 256
	}
	a := shape.Arch
	hd := shape.Dim / shape.Heads
	if shape.HeadDim > 0 {
		hd = shape.HeadDim
	}
	ropeDims := hd
	if shape.RopeDims > 0 {
		ropeDims = shape.RopeDims
	}
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
		{Key: a + ".rope.dimension_count", Value: uint32(ropeDims)},
	}
	meta = append(meta, extraMeta(shape)...)
	if shape.HeadDim > 0 {
		meta = append(meta, gguf.KV{Key: a + ".attention.key_length", Value: uint32(hd)},
			gguf.KV{Key: a + ".attention.value_length", Value: uint32(hd)})
	}
	if shape.RopeBase != 0 {
		meta = append(meta, gguf.KV{Key: a + ".rope.freq_base", Value: shape.RopeBase})
	}
	if shape.RopeLinearFactor != 0 {
		meta = append(meta, gguf.KV{Key: a + ".rope.scaling.type", Value: "linear"},
			gguf.KV{Key: a + ".rope.scaling.factor", Value: shape.RopeLinearFactor})
	}
	switch shape.Tokenizer {
	case "", "llama":
		var specials []string
		template := ""
		switch a {
		case "phi3":
			specials, template = phi3Specials, Phi3Template
		case "gemma2", "gemma3":
			specials, template = []string{"<start_of_turn>", "<end_of_turn>"}, GemmaTemplate
		}
		meta = append(meta, vocabMeta(shape.Vocab, specials)...)
		if template != "" {
			meta = append(meta, gguf.KV{Key: "tokenizer.chat_template", Value: template})
		}
	case "gpt2":
		meta = append(meta, bpeVocabMeta(shape.Vocab)...)
	default:
		return fmt.Errorf("random model: unknown tokenizer %q", shape.Tokenizer)
	}

	g := &randomGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), typ: typ}
	if err := g.mat("token_embd.weight", shape.Vocab, shape.Dim); err != nil {
		return err
	}
	if shape.LongRope {
		g.vec("rope_factors_long.weight", ropeDims/2, 4, 3)
		g.vec("rope_factors_short.weight", ropeDims/2, 1.25, 0.25)
	}
	for i := 0; i < shape.Layers; i++ {
		if err := g.layer(shape, fmt.Sprintf("blk.%d.", i), hd); err != nil {
			return err
		}
	}
	g.vec("output_norm.weight", shape.Dim, 1, 0.2)
	if !shape.TiedEmbeddings && a != "gemma2" {
		if err := g.mat("output.weight", shape.Vocab, shape.Dim); err != nil {
			return err
		}
	}
	return gguf.Write(w, meta, g.tensors)
}

// extraMeta gives the metadata of the shape's optional settings: sliding
// window, soft-capping and longrope.
func extraMeta(shape Shape) []gguf.KV {
	a := shape.Arch
	var meta []gguf.KV
	if shape.SlidingWindow > 0 {
		meta = append(meta, gguf.KV{Key: a + ".attention.sliding_window", Value: uint32(shape.SlidingWindow)})
	}
	if shape.AttnSoftCap > 0 {
		meta = append(meta, gguf.KV{Key: a + ".attn_logit_softcapping", Value: shape.AttnSoftCap})
	}
	if shape.FinalSoftCap > 0 {
		meta = append(meta, gguf.KV{Key: a + ".final_logit_softcapping", Value: shape.FinalSoftCap})
	}
	if shape.RopeYarnFactor != 0 {
		orig := shape.OrigContext
		if orig == 0 {
			orig = shape.ContextLength / 4
		}
		meta = append(meta, gguf.KV{Key: a + ".rope.scaling.type", Value: "yarn"},
			gguf.KV{Key: a + ".rope.scaling.factor", Value: shape.RopeYarnFactor},
			gguf.KV{Key: a + ".rope.scaling.original_context_length", Value: uint32(orig)})
	}
	if shape.LongRope {
		orig := shape.OrigContext
		if orig == 0 {
			orig = shape.ContextLength / 2
		}
		scale := float64(shape.ContextLength) / float64(orig)
		// The converter's su/longrope attention factor.
		attn := math.Sqrt(1 + math.Log(scale)/math.Log(float64(orig)))
		meta = append(meta, gguf.KV{Key: a + ".rope.scaling.attn_factor", Value: float32(attn)},
			gguf.KV{Key: a + ".rope.scaling.original_context_length", Value: uint32(orig)})
	}
	return meta
}

// randomGen draws a random model's tensors.
type randomGen struct {
	rng     *rand.Rand
	typ     tensor.Type
	tensors []gguf.Tensor
}

// mat adds a rows×cols weight matrix of the model's type.
func (g *randomGen) mat(name string, rows, cols int) error {
	t, err := randomMatrix(g.rng, name, g.typ, rows, cols, float32(1/math.Sqrt(float64(cols))))
	g.tensors = append(g.tensors, t)
	return err
}

// vec adds an F32 vector of values uniform in base±spread.
func (g *randomGen) vec(name string, n int, base, spread float32) {
	v := make([]float32, n)
	for i := range v {
		v[i] = base + spread*(2*g.rng.Float32()-1)
	}
	data, _ := tensor.Quantize(tensor.F32, v)
	g.tensors = append(g.tensors, gguf.Tensor{Name: name, Type: gguf.TensorType(tensor.F32), Dims: []uint64{uint64(n)}, Data: data})
}

// shaped names one weight matrix and its shape.
type shaped struct {
	name       string
	rows, cols int
}

// layer adds the tensors of one block, named with prefix p, in the order
// the generator always drew them (so a seed keeps giving the same model).
func (g *randomGen) layer(shape Shape, p string, hd int) error {
	a, dim, ffn := shape.Arch, shape.Dim, shape.FFNDim
	qDim, kvDim := shape.Heads*hd, shape.KVHeads*hd
	g.vec(p+"attn_norm.weight", dim, 1, 0.2)
	attn := []shaped{{"attn_q.weight", qDim, dim}, {"attn_k.weight", kvDim, dim}, {"attn_v.weight", kvDim, dim}, {"attn_output.weight", dim, qDim}}
	ffnMats := []shaped{{"ffn_gate.weight", ffn, dim}, {"ffn_up.weight", ffn, dim}, {"ffn_down.weight", dim, ffn}}
	if a == "phi3" {
		attn = []shaped{{"attn_qkv.weight", qDim + 2*kvDim, dim}, {"attn_output.weight", dim, qDim}}
		ffnMats = []shaped{{"ffn_up.weight", 2 * ffn, dim}, {"ffn_down.weight", dim, ffn}}
	}
	if err := g.mats(p, attn); err != nil {
		return err
	}
	switch a {
	case "qwen2":
		g.vec(p+"attn_q.bias", qDim, 0, 0.5)
		g.vec(p+"attn_k.bias", kvDim, 0, 0.5)
		g.vec(p+"attn_v.bias", kvDim, 0, 0.5)
	case "qwen3", "gemma3":
		g.vec(p+"attn_q_norm.weight", hd, 1, 0.5)
		g.vec(p+"attn_k_norm.weight", hd, 1, 0.5)
	}
	gemma := a == "gemma2" || a == "gemma3"
	if gemma {
		g.vec(p+"post_attention_norm.weight", dim, 1, 0.2)
	}
	g.vec(p+"ffn_norm.weight", dim, 1, 0.2)
	if err := g.mats(p, ffnMats); err != nil {
		return err
	}
	if gemma {
		g.vec(p+"post_ffw_norm.weight", dim, 1, 0.2)
	}
	return nil
}

func (g *randomGen) mats(p string, list []shaped) error {
	for _, t := range list {
		if err := g.mat(p+t.name, t.rows, t.cols); err != nil {
			return err
		}
	}
	return nil
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
	case tensor.Q5_K:
		return 17 // Q5_K_M
	case tensor.Q6_K:
		return 18
	case tensor.BF16:
		return 32
	}
	return 0
}

// phi3Specials are Phi-3's added tokens, which its files place after the
// SentencePiece vocabulary; llama.cpp expects <|endoftext|> in a file whose
// name says phi3.
var phi3Specials = []string{"<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"}

// Phi3Template is the chat template written into "phi3" random models
// (Phi-3-mini's, without the bos token).
const Phi3Template = "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"

// GemmaTemplate is the chat template written into "gemma2" and "gemma3"
// random models (Gemma's turns, the assistant called "model").
const GemmaTemplate = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"

// vocabMeta builds a synthetic SentencePiece vocabulary of n tokens, the
// last of them specials (control tokens).
func vocabMeta(n int, specials []string) []gguf.KV {
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
	for i := 0; len(tokens) < n-len(specials); i++ {
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
	for _, sp := range specials {
		add(sp, 0, 3)
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

// ChatMLTemplate is the chat template written into "gpt2" random models.
const ChatMLTemplate = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// bpeVocabMeta builds a synthetic byte-level BPE vocabulary of n tokens: the
// 256 byte tokens (GPT-2's byte-to-rune table), merged letter sequences, and
// the ChatML special tokens last.
func bpeVocabMeta(n int) []gguf.KV {
	// GPT-2's table: printable Latin-1 bytes map to themselves, the others
	// to 256, 257, ... in byte order.
	var byteRune [256]rune
	next := rune(256)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteRune[b] = rune(b)
		} else {
			byteRune[b] = next
			next++
		}
	}
	specials := []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}
	tokens := make([]string, 0, n)
	types := make([]int32, 0, n)
	for b := 0; b < 256; b++ {
		tokens = append(tokens, string(byteRune[b]))
		types = append(types, 1)
	}
	var merges []string
	seen := map[string]bool{}
	letters := "etaoinshrdlucmfwypvbgkjqxz"
	space := string(byteRune[' '])
	// Breadth first: "Ġe", "Ġt", ..., "ee", "et", ..., then longer ones.
	frontier := []string{space}
	for _, c := range letters {
		frontier = append(frontier, string(c))
	}
	for len(tokens) < n-len(specials) && len(frontier) > 0 {
		var grown []string
		for _, left := range frontier {
			for _, c := range letters {
				if len(tokens) >= n-len(specials) {
					break
				}
				tok := left + string(c)
				if seen[tok] {
					continue
				}
				seen[tok] = true
				tokens = append(tokens, tok)
				types = append(types, 1)
				merges = append(merges, left+" "+string(c))
				grown = append(grown, tok)
			}
		}
		frontier = grown
	}
	for _, s := range specials {
		tokens = append(tokens, s)
		types = append(types, 3)
	}
	id := func(s string) uint32 {
		for i, t := range tokens {
			if t == s {
				return uint32(i)
			}
		}
		return 0
	}
	return []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: "gpt2"},
		{Key: "tokenizer.ggml.pre", Value: "qwen2"},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Array{Elem: gguf.TypeString, Values: tokens}},
		{Key: "tokenizer.ggml.token_type", Value: gguf.Array{Elem: gguf.TypeInt32, Values: types}},
		{Key: "tokenizer.ggml.merges", Value: gguf.Array{Elem: gguf.TypeString, Values: merges}},
		{Key: "tokenizer.ggml.bos_token_id", Value: id("<|endoftext|>")},
		{Key: "tokenizer.ggml.eos_token_id", Value: id("<|im_end|>")},
		{Key: "tokenizer.ggml.padding_token_id", Value: id("<|endoftext|>")},
		{Key: "tokenizer.ggml.add_bos_token", Value: false},
		{Key: "tokenizer.chat_template", Value: ChatMLTemplate},
	}
}
