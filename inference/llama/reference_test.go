package llama

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/tensor"
)

// refModel is a float64 copy of a model's weights for the reference pass.
type refModel struct {
	c Config
	w map[string][]float64
}

func loadRef(t *testing.T, f *gguf.File, c Config) *refModel {
	t.Helper()
	r := &refModel{c: c, w: map[string][]float64{}}
	for _, ti := range f.Tensors {
		data, err := f.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := tensor.Dequantize(tensor.Type(ti.Type), data)
		if err != nil {
			t.Fatal(err)
		}
		d := make([]float64, len(v))
		for i, x := range v {
			d[i] = float64(x)
		}
		r.w[ti.Name] = d
	}
	return r
}

// matvec multiplies the rows×cols weight name by x.
func (r *refModel) matvec(name string, x []float64, rows int) []float64 {
	w := r.w[name]
	cols := len(x)
	out := make([]float64, rows)
	for i := range out {
		var s float64
		for j, v := range x {
			s += w[i*cols+j] * v
		}
		out[i] = s
	}
	if b, ok := r.w[name[:len(name)-len("weight")]+"bias"]; ok {
		for i := range out {
			out[i] += b[i]
		}
	}
	return out
}

func (r *refModel) norm(x []float64, name string) []float64 {
	w := r.w[name]
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	scale := 1 / math.Sqrt(ss/float64(len(x))+float64(r.c.RMSEps))
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * scale * w[i]
	}
	return out
}

// rope rotates each head of v at position pos, in the layout neox selects.
func (r *refModel) rope(v []float64, pos int, neox bool) {
	c := r.c
	for h := 0; h < len(v)/c.HeadDim; h++ {
		x := v[h*c.HeadDim : (h+1)*c.HeadDim]
		for j := 0; j < c.RopeDims/2; j++ {
			theta := float64(pos) * math.Pow(float64(c.RopeBase), -2*float64(j)/float64(c.RopeDims)) * float64(c.RopeFreqScale)
			cs, sn := math.Cos(theta), math.Sin(theta)
			a, b := 2*j, 2*j+1
			if neox {
				a, b = j, j+c.RopeDims/2
			}
			x[a], x[b] = x[a]*cs-x[b]*sn, x[a]*sn+x[b]*cs
		}
	}
}

// roundF16 rounds each element of v to the nearest half through float32,
// as the engine stores a float32 key or value in its F16 cache.
func roundF16(v []float64) {
	for i, x := range v {
		v[i] = float64(tensor.F16ToF32(tensor.F32ToF16(float32(x))))
	}
}

// forward returns the logits of every position of tokens. With kvF16 the
// queries, keys and values are rounded to halves before the attention, and
// the attention weights before they multiply the values, as the engine's
// F16 KV cache (and llama.cpp's) does; the arithmetic stays float64.
func (r *refModel) forward(tokens []int32, neox, kvF16 bool) [][]float64 {
	c := r.c
	hd, qDim, kvDim := c.HeadDim, c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	var keys, vals [][][]float64 // layer, pos
	keys = make([][][]float64, c.Layers)
	vals = make([][][]float64, c.Layers)
	var logits [][]float64
	for pos, tok := range tokens {
		x := append([]float64(nil), r.w["token_embd.weight"][int(tok)*c.Dim:(int(tok)+1)*c.Dim]...)
		for l := 0; l < c.Layers; l++ {
			p := fmt.Sprintf("blk.%d.", l)
			xn := r.norm(x, p+"attn_norm.weight")
			q := r.matvec(p+"attn_q.weight", xn, qDim)
			k := r.matvec(p+"attn_k.weight", xn, kvDim)
			v := r.matvec(p+"attn_v.weight", xn, kvDim)
			r.rope(q, pos, neox)
			r.rope(k, pos, neox)
			if kvF16 {
				roundF16(q)
				roundF16(k)
				roundF16(v)
			}
			keys[l] = append(keys[l], k)
			vals[l] = append(vals[l], v)
			att := make([]float64, qDim)
			for h := 0; h < c.Heads; h++ {
				kh := h / (c.Heads / c.KVHeads)
				sc := make([]float64, pos+1)
				maxv := math.Inf(-1)
				for t := 0; t <= pos; t++ {
					var d float64
					for i := 0; i < hd; i++ {
						d += q[h*hd+i] * keys[l][t][kh*hd+i]
					}
					sc[t] = d / math.Sqrt(float64(hd))
					maxv = math.Max(maxv, sc[t])
				}
				var sum float64
				for t := range sc {
					sc[t] = math.Exp(sc[t] - maxv)
					sum += sc[t]
				}
				for t := range sc {
					sc[t] /= sum
				}
				if kvF16 {
					roundF16(sc) // the weights meet the F16 values as halves
				}
				for t := range sc {
					for i := 0; i < hd; i++ {
						att[h*hd+i] += sc[t] * vals[l][t][kh*hd+i]
					}
				}
			}
			o := r.matvec(p+"attn_output.weight", att, c.Dim)
			for i := range x {
				x[i] += o[i]
			}
			xn = r.norm(x, p+"ffn_norm.weight")
			g := r.matvec(p+"ffn_gate.weight", xn, c.FFNDim)
			u := r.matvec(p+"ffn_up.weight", xn, c.FFNDim)
			for i := range g {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			d := r.matvec(p+"ffn_down.weight", g, c.Dim)
			for i := range x {
				x[i] += d[i]
			}
		}
		xn := r.norm(x, "output_norm.weight")
		out := "output.weight"
		if _, ok := r.w[out]; !ok {
			out = "token_embd.weight"
		}
		logits = append(logits, r.matvec(out, xn, c.Vocab))
	}
	return logits
}

// relErr is max |got-want| over max |want|.
func relErr(got []float32, want []float64) float64 {
	var maxDiff, maxRef float64
	for i, w := range want {
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[i])-w))
		maxRef = math.Max(maxRef, math.Abs(w))
	}
	return maxDiff / maxRef
}

// kvF16Slack is added to the tolerance with the F16 cache. The reference
// rounds its float64 q, k, v and attention weights to halves, the engine
// its float32 ones, which already differ by about 1e-6 relative (float32
// products). An element that close to a midpoint between two halves rounds
// to neighbours 2^-11 (4.9e-4) apart in the two; over the ~3000 elements
// rounded per case that happens a few times, and the logits move by up to
// 1.75e-4 (measured, F32 weights: one attention weight of the qwen2 shape).
// Without the reference's rounding the error is 4e-4 to 1.4e-3, and an
// indexing bug is O(1).
const kvF16Slack = 2.5e-4

func TestLogitsAgainstReference(t *testing.T) {
	shapes := map[string]Shape{
		"llama": {Arch: "llama", Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 96, Vocab: 300, ContextLength: 64},
		"llama-tied": {Arch: "llama", Dim: 64, Layers: 2, Heads: 8, KVHeads: 8, FFNDim: 128, Vocab: 320,
			ContextLength: 64, RopeBase: 500, TiedEmbeddings: true, RopeLinearFactor: 4},
		"llama-256": {Arch: "llama", Dim: 256, Layers: 1, Heads: 4, KVHeads: 2, FFNDim: 512, Vocab: 300, ContextLength: 64},
		"qwen2-256": {Arch: "qwen2", Dim: 256, Layers: 1, Heads: 2, KVHeads: 1, FFNDim: 256, Vocab: 300, ContextLength: 64, RopeBase: 1e6},
		"qwen2":     {Arch: "qwen2", Dim: 64, Layers: 2, Heads: 4, KVHeads: 1, FFNDim: 96, Vocab: 300, ContextLength: 64, RopeBase: 1e6},
	}
	// Tolerances cover ggml's activation rounding: none for F32, to f16 for
	// F16 weights, to 8-bit blocks for Q8_0 and Q4_0 weights (about 0.7% per
	// element, compounded over 15 products; a layout or indexing bug is O(1)).
	// Every case runs with both KV cache types, against a reference that
	// rounds q, k and v to halves exactly when the engine's cache is F16, so
	// the same tolerances hold (see kvF16Slack for the one difference).
	type tcase struct {
		t   tensor.Type
		tol float64
	}
	types := []tcase{{tensor.F32, 1e-5}, {tensor.F16, 5e-3}, {tensor.Q8_0, 6e-2}, {tensor.Q4_0, 6e-2}}
	tokens := []int32{1, 17, 299, 42, 5, 5, 260, 100, 3, 77, 200, 150}
	for name, shape := range shapes {
		cases := append([]tcase(nil), types...)
		if shape.Dim%256 == 0 && shape.FFNDim%256 == 0 {
			// K-quant rows are whole 256-element super-blocks; activations
			// go to 8-bit Q8_K blocks, BF16 activations to bf16.
			cases = append(cases, tcase{tensor.Q4_K, 6e-2}, tcase{tensor.Q5_K, 6e-2}, tcase{tensor.Q6_K, 6e-2}, tcase{tensor.BF16, 3e-2})
		}
		for _, tc := range cases {
			for _, kv := range []KVType{KVF16, KVF32} {
				t.Run(fmt.Sprintf("%s/%v/kv=%v", name, tc.t, kv), func(t *testing.T) {
					var buf bytes.Buffer
					if err := WriteRandomModel(&buf, shape, tc.t, 7); err != nil {
						t.Fatal(err)
					}
					f, err := gguf.ReadBytes(buf.Bytes())
					if err != nil {
						t.Fatal(err)
					}
					m, err := Load(f)
					if err != nil {
						t.Fatal(err)
					}
					if want := 1 / max(shape.RopeLinearFactor, 1); m.RopeFreqScale != want {
						t.Fatalf("RopeFreqScale = %v, want %v", m.RopeFreqScale, want)
					}
					if m.RopeNeox != (shape.Arch == "qwen2") || m.QKVBias != (shape.Arch == "qwen2") {
						t.Fatalf("config %+v: wrong RoPE layout or bias flag", m.Config)
					}
					m.KVType = kv
					ref := loadRef(t, f, m.Config)
					want := ref.forward(tokens, m.RopeNeox, kv == KVF16)
					tol := tc.tol
					if kv == KVF16 {
						tol += kvF16Slack
					}

					// token by token (decode kernels)
					s := m.NewState(32, 4)
					var worst float64
					for i, tok := range tokens {
						logits, err := s.Forward([]int32{tok})
						if err != nil {
							t.Fatal(err)
						}
						e := relErr(logits, want[i])
						worst = max(worst, e)
						if e > tol {
							t.Errorf("decode position %d: relative logit error %.3g, want <= %.3g", i, e, tol)
						}
					}
					// whole prompt in batches of 4 (prefill kernels), all logits
					s.Reset()
					all := make([]float32, len(tokens)*m.Vocab)
					if err := s.ForwardAll(tokens, all); err != nil {
						t.Fatal(err)
					}
					for i := range tokens {
						e := relErr(all[i*m.Vocab:(i+1)*m.Vocab], want[i])
						worst = max(worst, e)
						if e > tol {
							t.Errorf("prefill position %d: relative logit error %.3g, want <= %.3g", i, e, tol)
						}
					}
					t.Logf("worst relative logit error %.3g", worst)

					// The other RoPE layout must be far off, or this test could
					// not tell the layouts apart.
					if tc.t == tensor.F32 {
						wrong := ref.forward(tokens, !m.RopeNeox, kv == KVF16)
						if e := relErr(all[(len(tokens)-1)*m.Vocab:], wrong[len(tokens)-1]); e < 100*tc.tol {
							t.Errorf("engine is as close (%.3g) to the wrong RoPE layout", e)
						}
					}
				})
			}
		}
	}
}

func TestForwardErrors(t *testing.T) {
	var buf bytes.Buffer
	shape := Shape{Dim: 32, Layers: 1, Heads: 2, KVHeads: 1, FFNDim: 64, Vocab: 300, ContextLength: 8}
	if err := WriteRandomModel(&buf, shape, tensor.F32, 1); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.ReadBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	s := m.NewState(4, 2)
	if _, err := s.Forward([]int32{300}); err == nil {
		t.Errorf("Forward(out-of-vocabulary id) = nil error")
	}
	if _, err := s.Forward(nil); err == nil {
		t.Errorf("Forward(no tokens) = nil error")
	}
	if _, err := s.Forward([]int32{1, 2, 3, 4, 5}); err == nil {
		t.Errorf("Forward(5 tokens into a 4-position state) = nil error")
	}
	if _, err := s.Forward([]int32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Forward([]int32{1, 2}); err == nil {
		t.Errorf("Forward past the context = nil error")
	}
	if s.Pos() != 3 {
		t.Errorf("Pos() = %d after a refused Forward, want 3", s.Pos())
	}
}

func TestLoadErrors(t *testing.T) {
	base := Shape{Dim: 32, Layers: 1, Heads: 2, KVHeads: 1, FFNDim: 64, Vocab: 300, ContextLength: 8}
	var buf bytes.Buffer
	if err := WriteRandomModel(&buf, base, tensor.F32, 1); err != nil {
		t.Fatal(err)
	}
	good, err := gguf.ReadBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	rewrite := func(edit func(meta []gguf.KV, ts []gguf.Tensor) ([]gguf.KV, []gguf.Tensor)) *gguf.File {
		meta := append([]gguf.KV(nil), good.KV...)
		var ts []gguf.Tensor
		for _, ti := range good.Tensors {
			d, _ := good.TensorData(ti.Name)
			ts = append(ts, gguf.Tensor{Name: ti.Name, Type: ti.Type, Dims: ti.Dims, Data: d})
		}
		meta, ts = edit(meta, ts)
		var b bytes.Buffer
		if err := gguf.Write(&b, meta, ts); err != nil {
			t.Fatal(err)
		}
		f, err := gguf.ReadBytes(b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := map[string]func([]gguf.KV, []gguf.Tensor) ([]gguf.KV, []gguf.Tensor){
		"unsupported arch": func(m []gguf.KV, ts []gguf.Tensor) ([]gguf.KV, []gguf.Tensor) {
			m[0].Value = "mamba"
			return m, ts
		},
		"missing tensor": func(m []gguf.KV, ts []gguf.Tensor) ([]gguf.KV, []gguf.Tensor) {
			return m, ts[:len(ts)-2]
		},
		"wrong shape": func(m []gguf.KV, ts []gguf.Tensor) ([]gguf.KV, []gguf.Tensor) {
			for i := range ts {
				if ts[i].Name == "blk.0.ffn_up.weight" {
					ts[i].Dims = []uint64{64, 32}
				}
			}
			return m, ts
		},
		"unknown scaling": func(m []gguf.KV, ts []gguf.Tensor) ([]gguf.KV, []gguf.Tensor) {
			return append(m, gguf.KV{Key: "llama.rope.scaling.type", Value: "dynamic"}), ts
		},
		"bad head count": func(m []gguf.KV, ts []gguf.Tensor) ([]gguf.KV, []gguf.Tensor) {
			for i := range m {
				if m[i].Key == "llama.attention.head_count_kv" {
					m[i].Value = uint32(3)
				}
			}
			return m, ts
		},
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Load(rewrite(edit)); err == nil {
				t.Errorf("Load = nil error")
			} else {
				t.Log(err)
			}
		})
	}
}
