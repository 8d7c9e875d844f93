package llama

import (
	"fmt"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/tensor"
)

// Pooling is how an Encoder turns the vectors of a sequence's tokens into
// one embedding ({arch}.pooling_type, llama.cpp's numbering).
type Pooling int

// Poolings an Encoder runs. None (0) and rank (4) give no single sentence
// vector and are refused.
const (
	PoolMean Pooling = 1
	PoolCLS  Pooling = 2
	PoolLast Pooling = 3
)

func (p Pooling) String() string {
	switch p {
	case PoolMean:
		return "mean"
	case PoolCLS:
		return "cls"
	case PoolLast:
		return "last"
	}
	return fmt.Sprintf("pooling(%d)", int(p))
}

// EncoderConfig holds a BERT-family model's hyper-parameters.
type EncoderConfig struct {
	// Arch is "bert" (learned position embeddings, biases, GELU FFN) or
	// "nomic-bert" (RoPE, no biases but an optional QKV one, SwiGLU FFN).
	Arch string
	// ContextLength is the most tokens one sequence may have (bert: the
	// rows of position_embd).
	ContextLength          int
	Dim, Layers, Heads     int
	HeadDim, FFNDim, Vocab int
	// NormEps is the LayerNorm epsilon (attention.layer_norm_epsilon,
	// default 1e-12 as BERT's).
	NormEps float32
	// Pooling is pooling_type (default PoolMean when absent).
	Pooling Pooling
	// RopeBase and RopeDims are nomic-bert's rotation (NEOX layout).
	RopeBase float32
	RopeDims int
}

// IsEncoder reports whether arch is an embedding architecture an Encoder
// runs.
func IsEncoder(arch string) bool { return arch == "bert" || arch == "nomic-bert" }

// Validate checks the hyper-parameters.
func (c *EncoderConfig) Validate() error {
	switch {
	case !IsEncoder(c.Arch):
		return fmt.Errorf("bert: unsupported architecture %q", c.Arch)
	case c.Dim <= 0, c.Layers <= 0, c.Heads <= 0, c.FFNDim <= 0, c.Vocab <= 0, c.ContextLength <= 0:
		return fmt.Errorf("bert: non-positive size in %+v", *c)
	case c.Dim%c.Heads != 0:
		return fmt.Errorf("bert: dim %d is not a multiple of %d heads", c.Dim, c.Heads)
	case c.Dim > 1<<16 || c.FFNDim > 1<<18 || c.Layers > 1024 || c.Vocab > 1<<22 || c.ContextLength > 1<<20:
		return fmt.Errorf("bert: implausibly large model shape %+v", *c)
	case c.Pooling != PoolMean && c.Pooling != PoolCLS && c.Pooling != PoolLast:
		return fmt.Errorf("bert: pooling type %d gives no sentence embedding (want 1 mean, 2 cls or 3 last)", int(c.Pooling))
	case c.NormEps < 0:
		return fmt.Errorf("bert: negative layer norm epsilon %g", c.NormEps)
	case c.Arch == "nomic-bert" && (c.RopeBase <= 0 || c.RopeDims <= 0 || c.RopeDims > c.HeadDim || c.RopeDims%2 != 0):
		return fmt.Errorf("bert: rope base %g or dimension count %d invalid for head size %d", c.RopeBase, c.RopeDims, c.HeadDim)
	}
	return nil
}

// EncoderConfigFromGGUF reads an encoder's hyper-parameters.
func EncoderConfigFromGGUF(f *gguf.File) (EncoderConfig, error) {
	arch, err := f.Architecture()
	if err != nil {
		return EncoderConfig{}, err
	}
	c := EncoderConfig{Arch: arch, NormEps: 1e-12, Pooling: PoolMean, RopeBase: 10000}
	if !IsEncoder(arch) {
		return c, fmt.Errorf("bert: architecture %q is not an embedding model (want bert or nomic-bert)", arch)
	}
	for key, dst := range map[string]*int{
		"context_length": &c.ContextLength, "embedding_length": &c.Dim, "block_count": &c.Layers,
		"feed_forward_length": &c.FFNDim, "attention.head_count": &c.Heads,
	} {
		v, ok := f.Uint(arch + "." + key)
		if !ok || v > 1<<31 {
			return c, fmt.Errorf("bert: metadata %s.%s missing or out of range", arch, key)
		}
		*dst = int(v)
	}
	if v, ok := f.Uint(arch + ".attention.head_count_kv"); ok && int(min(v, 1<<31)) != c.Heads {
		return c, fmt.Errorf("bert: %d kv heads differ from %d heads", v, c.Heads)
	}
	if c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	c.RopeDims = c.HeadDim
	if v, ok := f.Float(arch + ".attention.layer_norm_epsilon"); ok {
		c.NormEps = float32(v)
	}
	if v, ok := f.Uint(arch + ".pooling_type"); ok {
		c.Pooling = Pooling(min(v, 1<<20))
	}
	if v, ok := f.Float(arch + ".rope.freq_base"); ok {
		c.RopeBase = float32(v)
	}
	if v, ok := f.Uint(arch + ".rope.dimension_count"); ok {
		c.RopeDims = int(min(v, 1<<31))
	}
	if causal, ok := f.Bool(arch + ".attention.causal"); ok && causal {
		return c, fmt.Errorf("bert: %s.attention.causal is true; only bidirectional encoders are run", arch)
	}
	if ti, ok := f.Tensor("token_embd.weight"); ok && len(ti.Dims) == 2 {
		c.Vocab = int(min(ti.Dims[1], 1<<31))
	}
	return c, c.Validate()
}

type encLayer struct {
	wq, wk, wv, wqkv     *tensor.Matrix
	bq, bk, bv, bqkv     []float32
	wo                   *tensor.Matrix
	bo                   []float32
	attnNormW, attnNormB []float32
	wUp, wGate, wDown    *tensor.Matrix
	bUp, bDown           []float32
	outNormW, outNormB   []float32
}

// Encoder is a loaded BERT-family embedding model. It holds no per-request
// state: Embed may run on many goroutines at once.
type Encoder struct {
	EncoderConfig
	file                 *gguf.File
	tokEmbd              *tensor.Matrix
	typeRow              []float32 // token type 0's row; nil without token_types
	posEmbd              []float32 // bert: ContextLength × Dim
	embNormW, embNormB   []float32
	layers               []encLayer
	nParams, weightBytes int64
}

// LoadEncoder builds an Encoder from a parsed GGUF file, which must stay
// open while the Encoder is used.
func LoadEncoder(f *gguf.File) (*Encoder, error) {
	cfg, err := EncoderConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	ld := &Model{} // its tensor helpers count parameters and bytes
	e := &Encoder{EncoderConfig: cfg, file: f}
	if e.tokEmbd, err = ld.matrix(f, "token_embd.weight", cfg.Vocab, cfg.Dim); err != nil {
		return nil, err
	}
	if ti, ok := f.Tensor("token_types.weight"); ok && len(ti.Dims) == 2 {
		types, err := ld.matrix(f, "token_types.weight", int(min(ti.Dims[1], 1<<20)), cfg.Dim)
		if err != nil {
			return nil, err
		}
		e.typeRow = make([]float32, cfg.Dim)
		types.Row(e.typeRow, 0) // llama.cpp: every token is of type 0 ("sentence A")
	}
	if cfg.Arch == "bert" {
		pos, err := ld.matrix(f, "position_embd.weight", cfg.ContextLength, cfg.Dim)
		if err != nil {
			return nil, err
		}
		e.posEmbd = make([]float32, cfg.ContextLength*cfg.Dim)
		for r := range cfg.ContextLength {
			pos.Row(e.posEmbd[r*cfg.Dim:(r+1)*cfg.Dim], r)
		}
	}
	if e.embNormW, err = ld.vector(f, "token_embd_norm.weight", cfg.Dim); err != nil {
		return nil, err
	}
	if e.embNormB, err = ld.vector(f, "token_embd_norm.bias", cfg.Dim); err != nil {
		return nil, err
	}
	e.layers = make([]encLayer, cfg.Layers)
	for i := range e.layers {
		if err := e.loadLayer(ld, f, i); err != nil {
			return nil, err
		}
	}
	e.nParams, e.weightBytes = ld.nParams, ld.weightSize
	return e, nil
}

// optVector loads a vector when the file has it.
func optVector(ld *Model, f *gguf.File, name string, n int) ([]float32, error) {
	if _, ok := f.Tensor(name); !ok {
		return nil, nil
	}
	return ld.vector(f, name, n)
}

func (e *Encoder) loadLayer(ld *Model, f *gguf.File, i int) error {
	c := e.EncoderConfig
	l := &e.layers[i]
	p := fmt.Sprintf("blk.%d.", i)
	bert := c.Arch == "bert"
	mats := []layerMatrix{
		{"attn_output.weight", &l.wo, c.Dim, c.Dim},
		{"ffn_up.weight", &l.wUp, c.FFNDim, c.Dim},
		{"ffn_down.weight", &l.wDown, c.Dim, c.FFNDim},
	}
	vecs := []layerVector{
		{"attn_output_norm.weight", &l.attnNormW, c.Dim}, {"attn_output_norm.bias", &l.attnNormB, c.Dim},
		{"layer_output_norm.weight", &l.outNormW, c.Dim}, {"layer_output_norm.bias", &l.outNormB, c.Dim},
	}
	_, fused := f.Tensor(p + "attn_qkv.weight")
	if fused {
		mats = append(mats, layerMatrix{"attn_qkv.weight", &l.wqkv, 3 * c.Dim, c.Dim})
	} else {
		mats = append(mats, layerMatrix{"attn_q.weight", &l.wq, c.Dim, c.Dim},
			layerMatrix{"attn_k.weight", &l.wk, c.Dim, c.Dim}, layerMatrix{"attn_v.weight", &l.wv, c.Dim, c.Dim})
		vecs = append(vecs, layerVector{"attn_q.bias", &l.bq, c.Dim},
			layerVector{"attn_k.bias", &l.bk, c.Dim}, layerVector{"attn_v.bias", &l.bv, c.Dim})
	}
	if bert {
		vecs = append(vecs, layerVector{"attn_output.bias", &l.bo, c.Dim},
			layerVector{"ffn_up.bias", &l.bUp, c.FFNDim}, layerVector{"ffn_down.bias", &l.bDown, c.Dim})
	} else {
		mats = append(mats, layerMatrix{"ffn_gate.weight", &l.wGate, c.FFNDim, c.Dim})
	}
	var err error
	for _, t := range mats {
		if *t.dst, err = ld.matrix(f, p+t.name, t.rows, t.cols); err != nil {
			return err
		}
	}
	for _, v := range vecs {
		if *v.dst, err = ld.vector(f, p+v.name, v.n); err != nil {
			return err
		}
	}
	if fused {
		l.bqkv, err = optVector(ld, f, p+"attn_qkv.bias", 3*c.Dim)
	}
	return err
}

// NumParams is the number of weights the encoder uses.
func (e *Encoder) NumParams() int64 { return e.nParams }

// WeightBytes is the size of the weights the encoder uses.
func (e *Encoder) WeightBytes() int64 { return e.weightBytes }
