package llama

import (
	"fmt"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/tensor"
)

type layer struct {
	attnNorm          []float32
	wq, wk, wv, wo    *tensor.Matrix
	wqkv              *tensor.Matrix // FusedQKV: Q rows, K rows, V rows
	bq, bk, bv        []float32
	qNorm, kNorm      []float32 // per-head RMS norm weights (QKNorm)
	postAttnNorm      []float32 // gemma: norm of the attention output
	postFFNNorm       []float32 // gemma: norm of the FFN output
	ffnNorm           []float32
	wGate, wUp, wDown *tensor.Matrix
}

// Model holds a model's weights (views of the GGUF file's data when it is
// memory-mapped) and is shared by any number of States.
type Model struct {
	Config
	file      *gguf.File // keeps the weights' memory reachable
	tokEmbd   *tensor.Matrix
	layers    []layer
	outNorm   []float32
	output    *tensor.Matrix
	ropeFreqs []float32 // optional per-pair frequency divisors (rope_freqs.weight)
	// ropeLong and ropeShort are su/longrope's frequency divisors (phi3),
	// chosen per State by its length.
	ropeLong, ropeShort []float32
	nParams             int64
	weightSize          int64
}

// Load builds a Model from a parsed GGUF file. The file must stay open while
// the Model is used.
func Load(f *gguf.File) (*Model, error) {
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, file: f}

	if m.tokEmbd, err = m.matrix(f, "token_embd.weight", cfg.Vocab, cfg.Dim); err != nil {
		return nil, err
	}
	if m.outNorm, err = m.vector(f, "output_norm.weight", cfg.Dim); err != nil {
		return nil, err
	}
	if _, ok := f.Tensor("output.weight"); ok {
		if m.output, err = m.matrix(f, "output.weight", cfg.Vocab, cfg.Dim); err != nil {
			return nil, err
		}
	} else {
		m.output = m.tokEmbd // tied embeddings
	}
	if _, ok := f.Tensor("rope_freqs.weight"); ok {
		if m.ropeFreqs, err = m.vector(f, "rope_freqs.weight", cfg.RopeDims/2); err != nil {
			return nil, err
		}
	}
	for name, dst := range map[string]*[]float32{"rope_factors_long.weight": &m.ropeLong, "rope_factors_short.weight": &m.ropeShort} {
		if _, ok := f.Tensor(name); ok {
			if *dst, err = m.vector(f, name, cfg.RopeDims/2); err != nil {
				return nil, err
			}
		}
	}
	m.layers = make([]layer, cfg.Layers)
	for i := range m.layers {
		if err := m.loadLayer(f, i); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// layerMatrix names one weight matrix of a layer and its shape.
type layerMatrix struct {
	name       string
	dst        **tensor.Matrix
	rows, cols int
}

func (m *Model) loadLayer(f *gguf.File, i int) error {
	cfg := m.Config
	qDim := cfg.Heads * cfg.HeadDim
	kvDim := cfg.KVHeads * cfg.HeadDim
	l := &m.layers[i]
	p := fmt.Sprintf("blk.%d.", i)
	mats := []layerMatrix{
		{"attn_output.weight", &l.wo, cfg.Dim, qDim},
		{"ffn_down.weight", &l.wDown, cfg.Dim, cfg.FFNDim},
	}
	if cfg.FusedQKV {
		mats = append(mats, layerMatrix{"attn_qkv.weight", &l.wqkv, qDim + 2*kvDim, cfg.Dim})
	} else {
		mats = append(mats, layerMatrix{"attn_q.weight", &l.wq, qDim, cfg.Dim},
			layerMatrix{"attn_k.weight", &l.wk, kvDim, cfg.Dim},
			layerMatrix{"attn_v.weight", &l.wv, kvDim, cfg.Dim})
	}
	if cfg.FusedGateUp {
		mats = append(mats, layerMatrix{"ffn_up.weight", &l.wUp, 2 * cfg.FFNDim, cfg.Dim})
	} else {
		mats = append(mats, layerMatrix{"ffn_gate.weight", &l.wGate, cfg.FFNDim, cfg.Dim},
			layerMatrix{"ffn_up.weight", &l.wUp, cfg.FFNDim, cfg.Dim})
	}
	var err error
	for _, t := range mats {
		if *t.dst, err = m.matrix(f, p+t.name, t.rows, t.cols); err != nil {
			return err
		}
	}
	return m.loadLayerVectors(f, l, p)
}

// layerVector names one norm weight or bias vector of a layer.
type layerVector struct {
	name string
	dst  *[]float32
	n    int
}

// loadLayerVectors loads a layer's norm weights and biases: those every
// architecture has, and those its Config says it has.
func (m *Model) loadLayerVectors(f *gguf.File, l *layer, p string) error {
	cfg := m.Config
	qDim := cfg.Heads * cfg.HeadDim
	kvDim := cfg.KVHeads * cfg.HeadDim
	vecs := []layerVector{
		{"attn_norm.weight", &l.attnNorm, cfg.Dim},
		{"ffn_norm.weight", &l.ffnNorm, cfg.Dim},
	}
	if cfg.QKNorm {
		vecs = append(vecs, layerVector{"attn_q_norm.weight", &l.qNorm, cfg.HeadDim}, layerVector{"attn_k_norm.weight", &l.kNorm, cfg.HeadDim})
	}
	if cfg.Gemma.On {
		vecs = append(vecs, layerVector{"post_attention_norm.weight", &l.postAttnNorm, cfg.Dim}, layerVector{"post_ffw_norm.weight", &l.postFFNNorm, cfg.Dim})
	}
	if cfg.QKVBias {
		vecs = append(vecs, layerVector{"attn_q.bias", &l.bq, qDim}, layerVector{"attn_k.bias", &l.bk, kvDim}, layerVector{"attn_v.bias", &l.bv, kvDim})
	}
	var err error
	for _, v := range vecs {
		if *v.dst, err = m.vector(f, p+v.name, v.n); err != nil {
			return err
		}
	}
	return nil
}

func (m *Model) info(f *gguf.File, name string, dims ...int) (*gguf.TensorInfo, error) {
	ti, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("llama: tensor %s missing", name)
	}
	n := len(ti.Dims)
	for n > len(dims) && ti.Dims[n-1] == 1 {
		n--
	}
	ok = n == len(dims)
	for i := 0; ok && i < n; i++ {
		ok = ti.Dims[i] == uint64(dims[i])
	}
	if !ok {
		return nil, fmt.Errorf("llama: tensor %s has shape %v, want %v", name, ti.Dims, dims)
	}
	if !tensor.Type(ti.Type).Supported() {
		return nil, fmt.Errorf("llama: tensor %s has type %v, not supported", name, ti.Type)
	}
	m.nParams += int64(ti.Elements())
	m.weightSize += ti.Size
	return ti, nil
}

func (m *Model) matrix(f *gguf.File, name string, rows, cols int) (*tensor.Matrix, error) {
	ti, err := m.info(f, name, cols, rows)
	if err != nil {
		return nil, err
	}
	data, err := f.TensorData(name)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	mat, err := tensor.NewMatrix(tensor.Type(ti.Type), rows, cols, data)
	if err != nil {
		return nil, fmt.Errorf("llama: tensor %s: %w", name, err)
	}
	if f.Owned() {
		// Q4_0 rows in tiles where the CPU has their kernels: the copy is
		// the model's own (see tensor.Matrix.Interleave).
		mat.Interleave()
	}
	return mat, nil
}

func (m *Model) vector(f *gguf.File, name string, n int) ([]float32, error) {
	ti, err := m.info(f, name, n)
	if err != nil {
		return nil, err
	}
	data, err := f.TensorData(name)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	v, err := tensor.Dequantize(tensor.Type(ti.Type), data)
	if err != nil {
		return nil, fmt.Errorf("llama: tensor %s: %w", name, err)
	}
	return v, nil
}

// NumParams is the number of weights the model uses.
func (m *Model) NumParams() int64 { return m.nParams }

// WeightBytes is the number of bytes of weights the model uses; decoding one
// token reads nearly all of them once.
func (m *Model) WeightBytes() int64 { return m.weightSize }
