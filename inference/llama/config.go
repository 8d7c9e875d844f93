package llama

import (
	"fmt"
	"math"

	"github.com/cairnhub/cairn/inference/gguf"
)

// Config holds a model's hyper-parameters.
type Config struct {
	// Arch is the GGUF architecture name: "llama", "mistral", "qwen2",
	// "qwen3", "phi3", "gemma2" or "gemma3".
	Arch string
	// ContextLength is the context the model was trained for.
	ContextLength int
	Dim           int
	Layers        int
	Heads         int
	KVHeads       int
	HeadDim       int
	FFNDim        int
	Vocab         int
	// RMSEps is the RMSNorm epsilon (default 1e-5).
	RMSEps float32
	// RopeBase is the RoPE frequency base (default 10000).
	RopeBase float32
	// RopeDims is the number of rotated dimensions per head (default HeadDim).
	RopeDims int
	// RopeFreqScale multiplies every rotation angle: 1/factor for linear
	// RoPE scaling (default 1).
	RopeFreqScale float32
	// RopeAttnFactor multiplies RoPE's cos and sin, so the attention
	// logits (rope.scaling.attn_factor, written for su/longrope; default 1).
	RopeAttnFactor float32
	// RopeOrigContext is the context the RoPE factors were trained for
	// (rope.scaling.original_context_length; default ContextLength): a
	// State longer than this uses rope_factors_long, others
	// rope_factors_short, as llama.cpp does.
	RopeOrigContext int
	// RopeYarn selects YaRN scaling (rope.scaling.type "yarn"): each pair's
	// angle mixes the scaled and unscaled ones by a ramp over the pairs
	// between llama.cpp's correction dimensions (beta fast 32, slow 1, for
	// RopeOrigContext), and cos/sin grow by 1 + 0.1·ln(1/RopeFreqScale).
	RopeYarn bool
	// FusedQKV: one attn_qkv matrix gives Q, K and V (phi3).
	FusedQKV bool
	// FusedGateUp: ffn_up holds the gate rows then the up rows (phi3).
	FusedGateUp bool
	// QPreScale, when non-zero, multiplies Q after RoPE and the attention
	// scores are not scaled again (phi3 scales Q by 1/sqrt(HeadDim) itself,
	// which rounds differently from scaling the scores).
	QPreScale float32
	// Gemma holds the settings of the gemma2 and gemma3 architectures
	// (zero for the others).
	Gemma GemmaConfig
	// RopeNeox selects the NEOX rotation (halves) instead of adjacent pairs.
	RopeNeox bool
	// QKVBias is true when attention q/k/v projections carry biases (qwen2).
	QKVBias bool
	// QKNorm is true when every head of Q and K is RMS-normalised before
	// RoPE (qwen3: attn_q_norm/attn_k_norm, HeadDim weights each).
	QKNorm bool
	// KVType is the element type of the KV cache States allocate: KVF16
	// (the zero value, llama.cpp's default) or KVF32. It is not read from
	// the file; set it on the Model before NewState.
	KVType KVType
}

// GemmaConfig holds what gemma2 and gemma3 add to a llama block. Their
// GGUF norm weights already carry Gemma's +1 (the converter adds it).
type GemmaConfig struct {
	// On is set for gemma2 and gemma3: embeddings scaled by sqrt(Dim),
	// RMS norms after attention and after the FFN (post_attention_norm,
	// post_ffw_norm), and GeGLU (gelu-tanh gate) instead of SwiGLU.
	On bool
	// AttnSoftCap, when non-zero, caps attention scores at ±AttnSoftCap
	// by cap·tanh(score/cap) (gemma2's attn_logit_softcapping, default 50).
	AttnSoftCap float32
	// FinalSoftCap caps the output logits the same way (gemma2's
	// final_logit_softcapping, default 30).
	FinalSoftCap float32
	// SlidingWindow is how many positions (the query's own included) a
	// sliding-window layer sees; layer i slides when i%SWAPattern <
	// SWAPattern-1 (gemma2: every other layer from the first, window
	// 4096 by default; gemma3: five of every six).
	SlidingWindow, SWAPattern int
	// RopeBaseSWA and RopeFreqScaleSWA are the RoPE base and scale of
	// sliding-window layers (gemma3: 10000 and 1; the global layers use
	// rope.freq_base and the file's scaling).
	RopeBaseSWA, RopeFreqScaleSWA float32
}

// Sliding reports whether layer li attends through a sliding window.
func (c *Config) Sliding(li int) bool {
	g := c.Gemma
	return g.SWAPattern > 0 && g.SlidingWindow > 0 && li%g.SWAPattern < g.SWAPattern-1
}

// gemmaConfig reads the gemma2/gemma3 settings, with llama.cpp's defaults.
func gemmaConfig(f *gguf.File, c *Config) {
	a := c.Arch
	g := GemmaConfig{On: true, SWAPattern: 6, RopeBaseSWA: 10000, RopeFreqScaleSWA: 1}
	if a == "gemma2" {
		g = GemmaConfig{On: true, AttnSoftCap: 50, FinalSoftCap: 30, SlidingWindow: 4096, SWAPattern: 2,
			RopeBaseSWA: c.RopeBase, RopeFreqScaleSWA: c.RopeFreqScale}
		if v, ok := f.Float(a + ".attn_logit_softcapping"); ok {
			g.AttnSoftCap = float32(v)
		}
		if v, ok := f.Float(a + ".final_logit_softcapping"); ok {
			g.FinalSoftCap = float32(v)
		}
	}
	if v, ok := f.Uint(a + ".attention.sliding_window"); ok {
		g.SlidingWindow = int(min(v, 1<<31))
	}
	c.Gemma = g
	// llama.cpp scales queries by 1/sqrt(HeadDim), except in the 27B
	// models (46 gemma2 or 62 gemma3 layers): 1/sqrt(Dim/Heads).
	c.QPreScale = float32(1 / math.Sqrt(float64(c.HeadDim)))
	if (a == "gemma2" && c.Layers == 46) || (a == "gemma3" && c.Layers == 62) {
		c.QPreScale = float32(1 / math.Sqrt(float64(c.Dim/c.Heads)))
	}
}

// KVType is the element type of the KV cache.
type KVType uint8

const (
	// KVF16 keeps keys and values as IEEE halves, rounded to nearest even
	// as llama.cpp's default F16 cache does: half the memory of KVF32.
	KVF16 KVType = iota
	// KVF32 keeps keys and values as float32.
	KVF32
)

func (t KVType) String() string {
	switch t {
	case KVF16:
		return "f16"
	case KVF32:
		return "f32"
	}
	return fmt.Sprintf("kvtype(%d)", uint8(t))
}

// Bytes is the size of one cached element (0 for an invalid type).
func (t KVType) Bytes() int {
	switch t {
	case KVF16:
		return 2
	case KVF32:
		return 4
	}
	return 0
}

// Supported reports whether arch is an architecture this package runs.
func Supported(arch string) bool {
	switch arch {
	case "llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3":
		return true
	}
	return false
}

// Validate checks that the hyper-parameters are consistent.
func (c *Config) Validate() error {
	if !Supported(c.Arch) {
		return fmt.Errorf("llama: unsupported architecture %q", c.Arch)
	}
	switch {
	case c.Dim <= 0, c.Layers <= 0, c.Heads <= 0, c.KVHeads <= 0, c.HeadDim <= 0, c.FFNDim <= 0, c.Vocab <= 0:
		return fmt.Errorf("llama: non-positive size in %+v", *c)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("llama: %d heads is not a multiple of %d kv heads", c.Heads, c.KVHeads)
	case c.RopeDims <= 0 || c.RopeDims > c.HeadDim || c.RopeDims%2 != 0:
		return fmt.Errorf("llama: rope dimension count %d invalid for head size %d", c.RopeDims, c.HeadDim)
	case c.Dim > 1<<20 || c.FFNDim > 1<<22 || c.Layers > 4096 || c.Heads > 4096 || c.Vocab > 1<<24:
		return fmt.Errorf("llama: implausibly large model shape %+v", *c)
	case c.FusedQKV && c.Heads*c.HeadDim != c.Dim:
		return fmt.Errorf("llama: fused QKV needs %d heads × %d to equal dim %d", c.Heads, c.HeadDim, c.Dim)
	case c.RMSEps < 0 || c.RopeBase <= 0 || c.RopeFreqScale <= 0 || c.RopeAttnFactor < 0:
		return fmt.Errorf("llama: invalid rms epsilon %g or rope base %g", c.RMSEps, c.RopeBase)
	case c.Gemma.SlidingWindow < 0 || c.Gemma.SWAPattern < 0 || c.Gemma.AttnSoftCap < 0 || c.Gemma.FinalSoftCap < 0:
		return fmt.Errorf("llama: negative sliding window or soft-cap in %+v", c.Gemma)
	case c.Gemma.On && (c.Gemma.RopeBaseSWA <= 0 || c.Gemma.RopeFreqScaleSWA <= 0):
		return fmt.Errorf("llama: invalid sliding-layer rope base %g or scale %g", c.Gemma.RopeBaseSWA, c.Gemma.RopeFreqScaleSWA)
	case c.KVType != KVF16 && c.KVType != KVF32:
		return fmt.Errorf("llama: KV cache type %v is not %v or %v", c.KVType, KVF16, KVF32)
	}
	return nil
}

// ConfigFromGGUF reads the hyper-parameters from a file's metadata.
func ConfigFromGGUF(f *gguf.File) (Config, error) {
	arch, err := f.Architecture()
	if err != nil {
		return Config{}, err
	}
	c := Config{Arch: arch}
	if !Supported(arch) {
		return c, fmt.Errorf("llama: unsupported architecture %q (want llama, mistral, qwen2, qwen3, phi3, gemma2 or gemma3)", arch)
	}
	req := func(key string, dst *int) error {
		v, ok := f.Uint(arch + "." + key)
		if !ok {
			return fmt.Errorf("llama: metadata %s.%s missing or not an unsigned integer", arch, key)
		}
		if v > 1<<31 {
			return fmt.Errorf("llama: metadata %s.%s = %d is too large", arch, key, v)
		}
		*dst = int(v)
		return nil
	}
	for key, dst := range map[string]*int{
		"context_length":       &c.ContextLength,
		"embedding_length":     &c.Dim,
		"block_count":          &c.Layers,
		"feed_forward_length":  &c.FFNDim,
		"attention.head_count": &c.Heads,
	} {
		if err := req(key, dst); err != nil {
			return c, err
		}
	}
	c.KVHeads = c.Heads
	if v, ok := f.Uint(arch + ".attention.head_count_kv"); ok {
		c.KVHeads = int(min(v, 1<<31))
	}
	if c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	if v, ok := f.Uint(arch + ".attention.key_length"); ok {
		c.HeadDim = int(min(v, 1<<31))
	}
	if v, ok := f.Uint(arch + ".attention.value_length"); ok && int(min(v, 1<<31)) != c.HeadDim {
		return c, fmt.Errorf("llama: value length %d differs from key length %d", v, c.HeadDim)
	}
	c.RMSEps = 1e-5
	if v, ok := f.Float(arch + ".attention.layer_norm_rms_epsilon"); ok {
		c.RMSEps = float32(v)
	}
	c.RopeBase = 10000
	if v, ok := f.Float(arch + ".rope.freq_base"); ok {
		c.RopeBase = float32(v)
	}
	if err := ropeConfig(f, &c); err != nil {
		return c, err
	}
	if ti, ok := f.Tensor("token_embd.weight"); ok && len(ti.Dims) == 2 {
		c.Vocab = int(min(ti.Dims[1], 1<<31))
	}
	if v, ok := f.Uint(arch + ".vocab_size"); ok && c.Vocab == 0 {
		c.Vocab = int(min(v, 1<<31))
	}
	_, c.FusedQKV = f.Tensor("blk.0.attn_qkv.weight")
	if arch == "phi3" {
		c.FusedGateUp = true
		c.QPreScale = float32(1 / math.Sqrt(float64(c.HeadDim)))
	}
	if arch == "gemma2" || arch == "gemma3" {
		gemmaConfig(f, &c)
	}
	c.RopeNeox = neoxRope(arch)
	_, c.QKVBias = f.Tensor("blk.0.attn_q.bias")
	_, c.QKNorm = f.Tensor("blk.0.attn_q_norm.weight")
	return c, c.Validate()
}

// ropeConfig reads the RoPE settings: rotated dimensions, linear scaling,
// and longrope's attention factor and original context.
func ropeConfig(f *gguf.File, c *Config) error {
	arch := c.Arch
	c.RopeDims = c.HeadDim
	c.RopeFreqScale = 1
	scaling, _ := f.String(arch + ".rope.scaling.type")
	switch scaling {
	case "", "none":
	case "linear", "yarn":
		if v, ok := f.Float(arch + ".rope.scaling.factor"); ok && v > 0 {
			c.RopeFreqScale = float32(1 / v)
		}
		c.RopeYarn = scaling == "yarn"
	default:
		return fmt.Errorf("llama: RoPE scaling %q is not supported", scaling)
	}
	if v, ok := f.Float(arch + ".rope.scale_linear"); ok && v > 0 {
		c.RopeFreqScale = float32(1 / v)
	}
	if v, ok := f.Uint(arch + ".rope.dimension_count"); ok {
		c.RopeDims = int(min(v, 1<<31))
	}
	c.RopeAttnFactor = 1
	if v, ok := f.Float(arch + ".rope.scaling.attn_factor"); ok && v > 0 {
		c.RopeAttnFactor = float32(v)
	}
	c.RopeOrigContext = c.ContextLength
	if v, ok := f.Uint(arch + ".rope.scaling.original_context_length"); ok && v > 0 {
		c.RopeOrigContext = int(min(v, 1<<31))
	}
	return nil
}

// neoxRope reports whether arch rotates halves of each head (llama.cpp's
// LLAMA_ROPE_TYPE_NEOX) rather than adjacent pairs.
func neoxRope(arch string) bool {
	switch arch {
	case "qwen2", "qwen3", "phi3", "gemma2", "gemma3":
		return true
	}
	return false
}
