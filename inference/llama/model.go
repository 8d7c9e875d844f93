package llama

import (
	"fmt"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/tensor"
)

type layer struct {
	attnNorm          []float32
	wq, wk, wv, wo    *tensor.Matrix
	bq, bk, bv        []float32
	qNorm, kNorm      []float32 // per-head RMS norm weights (QKNorm)
	ffnNorm           []float32
	wGate, wUp, wDown *tensor.Matrix
}

// Model holds a model's weights (views of the GGUF file's data when it is
// memory-mapped) and is shared by any number of States.
type Model struct {
	Config
	file       *gguf.File // keeps the weights' memory reachable
	tokEmbd    *tensor.Matrix
	layers     []layer
	outNorm    []float32
	output     *tensor.Matrix
	ropeFreqs  []float32 // optional per-pair frequency divisors (rope_freqs.weight)
	nParams    int64
	weightSize int64
}

// Load builds a Model from a parsed GGUF file. The file must stay open while
// the Model is used.
func Load(f *gguf.File) (*Model, error) {
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, file: f}
	qDim := cfg.Heads * cfg.HeadDim
	kvDim := cfg.KVHeads * cfg.HeadDim

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
	m.layers = make([]layer, cfg.Layers)
	for i := range m.layers {
		l := &m.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		for _, t := range []struct {
			name       string
			dst        **tensor.Matrix
			rows, cols int
		}{
			{"attn_q.weight", &l.wq, qDim, cfg.Dim},
			{"attn_k.weight", &l.wk, kvDim, cfg.Dim},
			{"attn_v.weight", &l.wv, kvDim, cfg.Dim},
			{"attn_output.weight", &l.wo, cfg.Dim, qDim},
			{"ffn_gate.weight", &l.wGate, cfg.FFNDim, cfg.Dim},
			{"ffn_up.weight", &l.wUp, cfg.FFNDim, cfg.Dim},
			{"ffn_down.weight", &l.wDown, cfg.Dim, cfg.FFNDim},
		} {
			if *t.dst, err = m.matrix(f, p+t.name, t.rows, t.cols); err != nil {
				return nil, err
			}
		}
		if l.attnNorm, err = m.vector(f, p+"attn_norm.weight", cfg.Dim); err != nil {
			return nil, err
		}
		if l.ffnNorm, err = m.vector(f, p+"ffn_norm.weight", cfg.Dim); err != nil {
			return nil, err
		}
		if cfg.QKNorm {
			if l.qNorm, err = m.vector(f, p+"attn_q_norm.weight", cfg.HeadDim); err != nil {
				return nil, err
			}
			if l.kNorm, err = m.vector(f, p+"attn_k_norm.weight", cfg.HeadDim); err != nil {
				return nil, err
			}
		}
		if cfg.QKVBias {
			if l.bq, err = m.vector(f, p+"attn_q.bias", qDim); err != nil {
				return nil, err
			}
			if l.bk, err = m.vector(f, p+"attn_k.bias", kvDim); err != nil {
				return nil, err
			}
			if l.bv, err = m.vector(f, p+"attn_v.bias", kvDim); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
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
