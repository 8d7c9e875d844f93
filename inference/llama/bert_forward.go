package llama

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/cairnhub/cairn/inference/tensor"
)

// Embed runs one sequence of tokens (with its [CLS] and [SEP]) through the
// encoder and returns its pooled, L2-normalised embedding of Dim values.
// Every token sees every other (no causal mask).
func (e *Encoder) Embed(tokens []int32) ([]float32, error) {
	n := len(tokens)
	if n == 0 {
		return nil, fmt.Errorf("bert: no tokens to embed")
	}
	if n > e.ContextLength {
		return nil, fmt.Errorf("bert: %d tokens exceed the model's %d positions", n, e.ContextLength)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= e.Vocab {
			return nil, fmt.Errorf("bert: token %d outside the vocabulary of %d", t, e.Vocab)
		}
	}
	r := e.newRun(n)
	r.embedTokens(tokens)
	for li := range e.layers {
		r.layer(&e.layers[li])
	}
	out := r.pool()
	Normalize(out)
	return out, nil
}

// Normalize scales v to unit Euclidean length, as llama.cpp's
// common_embd_normalize with norm 2 (sum of squares in float64); a zero
// vector stays zero.
func Normalize(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
}

// encRun is the scratch of one Embed call.
type encRun struct {
	e          *Encoder
	n          int
	x, xb, att []float32 // n × Dim
	q, k, v    []float32 // n × Dim
	qkv        []float32 // n × 3·Dim (fused QKV)
	h, g       []float32 // n × FFNDim
	cos, sin   []float32 // nomic-bert: n × RopeDims/2
}

func (e *Encoder) newRun(n int) *encRun {
	d, f := e.Dim, e.FFNDim
	r := &encRun{e: e, n: n,
		x: make([]float32, n*d), xb: make([]float32, n*d), att: make([]float32, n*d),
		q: make([]float32, n*d), k: make([]float32, n*d), v: make([]float32, n*d),
		h: make([]float32, n*f)}
	if e.Arch == "nomic-bert" {
		r.g = make([]float32, n*f)
		r.ropeTables()
	}
	return r
}

// embedTokens sums the token, type-0 and (bert) position embeddings and
// layer-normalises them.
func (r *encRun) embedTokens(tokens []int32) {
	e, d := r.e, r.e.Dim
	for i, t := range tokens {
		x := r.x[i*d : (i+1)*d]
		e.tokEmbd.Row(x, int(t))
		if e.typeRow != nil {
			addTo(x, e.typeRow)
		}
		if e.posEmbd != nil {
			addTo(x, e.posEmbd[i*d:(i+1)*d])
		}
		layerNorm(x, x, e.embNormW, e.embNormB, e.NormEps)
	}
}

// layerNorm is ggml_norm (mean and variance summed in float64) followed
// by the weight and bias.
func layerNorm(dst, x, w, b []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := float32(sum / float64(len(x)))
	var sum2 float64
	for i, v := range x {
		v -= mean
		dst[i] = v
		sum2 += float64(v * v)
	}
	scale := 1 / float32(math.Sqrt(float64(float32(sum2/float64(len(x)))+eps)))
	for i := range dst[:len(x)] {
		dst[i] = dst[i]*scale*w[i] + b[i]
	}
}

// addRows adds bias b to each of the n rows of x (len(b) wide).
func addRows(x, b []float32, n int) {
	if b == nil {
		return
	}
	w := len(b)
	for i := 0; i < n; i++ {
		addTo(x[i*w:(i+1)*w], b)
	}
}

// layer runs one encoder block over r.x in place.
func (r *encRun) layer(l *encLayer) {
	e, n, d := r.e, r.n, r.e.Dim
	r.project(l)
	if r.cos != nil {
		half := e.RopeDims / 2
		for i := 0; i < n; i++ {
			cs, sn := r.cos[i*half:(i+1)*half], r.sin[i*half:(i+1)*half]
			r.rope(r.q[i*d:(i+1)*d], cs, sn)
			r.rope(r.k[i*d:(i+1)*d], cs, sn)
		}
	}
	r.attention()
	matmul(r.xb, l.wo, r.att, n)
	addRows(r.xb[:n*d], l.bo, n)
	for i := 0; i < n; i++ {
		row := r.x[i*d : (i+1)*d]
		addTo(row, r.xb[i*d:(i+1)*d])
		layerNorm(row, row, l.attnNormW, l.attnNormB, e.NormEps)
	}
	r.ffn(l)
	matmul(r.xb, l.wDown, r.h, n)
	addRows(r.xb[:n*d], l.bDown, n)
	for i := 0; i < n; i++ {
		row := r.x[i*d : (i+1)*d]
		addTo(row, r.xb[i*d:(i+1)*d])
		layerNorm(row, row, l.outNormW, l.outNormB, e.NormEps)
	}
}

// project computes Q, K and V (with their biases) from r.x.
func (r *encRun) project(l *encLayer) {
	n, d := r.n, r.e.Dim
	if l.wqkv == nil {
		matmul(r.q, l.wq, r.x, n)
		matmul(r.k, l.wk, r.x, n)
		matmul(r.v, l.wv, r.x, n)
		addRows(r.q, l.bq, n)
		addRows(r.k, l.bk, n)
		addRows(r.v, l.bv, n)
		return
	}
	if r.qkv == nil {
		r.qkv = make([]float32, n*3*d)
	}
	matmul(r.qkv, l.wqkv, r.x, n)
	addRows(r.qkv, l.bqkv, n)
	for i := 0; i < n; i++ {
		row := r.qkv[i*3*d : (i+1)*3*d]
		copy(r.q[i*d:(i+1)*d], row[:d])
		copy(r.k[i*d:(i+1)*d], row[d:2*d])
		copy(r.v[i*d:(i+1)*d], row[2*d:])
	}
}

// ffn puts the activated hidden layer of r.x into r.h: bert GELU(up x +
// b) (ggml's GELU table), nomic-bert silu(gate x)·(up x).
func (r *encRun) ffn(l *encLayer) {
	n, f := r.n, r.e.FFNDim
	matmul(r.h, l.wUp, r.x, n)
	h := r.h[:n*f]
	if l.wGate == nil {
		addRows(h, l.bUp, n)
		for i, x := range h {
			h[i] = geluGate(x, 1)
		}
		return
	}
	matmul(r.g, l.wGate, r.x, n)
	g := r.g[:n*f]
	tensor.SiLUMul(g, h) // silu(g)·h, the bits of h·silu(g)
	copy(h, g)
}

// ropeTables fills nomic-bert's cos/sin for positions 0..n-1 as ggml
// computes them (theta advanced by repeated float32 multiplication).
func (r *encRun) ropeTables() {
	half := r.e.RopeDims / 2
	r.cos, r.sin = make([]float32, r.n*half), make([]float32, r.n*half)
	thetaScale := float32(math.Pow(float64(r.e.RopeBase), -2.0/float64(r.e.RopeDims)))
	for i := 0; i < r.n; i++ {
		theta := float32(i)
		for j := 0; j < half; j++ {
			r.cos[i*half+j] = float32(math.Cos(float64(theta)))
			r.sin[i*half+j] = float32(math.Sin(float64(theta)))
			theta *= thetaScale
		}
	}
}

// rope rotates the halves (NEOX layout) of each head of vec.
func (r *encRun) rope(vec, cs, sn []float32) {
	hd, half := r.e.HeadDim, r.e.RopeDims/2
	for h := 0; h+hd <= len(vec); h += hd {
		v := vec[h : h+hd]
		for j := 0; j < half; j++ {
			x0, x1 := v[j], v[j+half]
			v[j] = x0*cs[j] - x1*sn[j]
			v[j+half] = x0*sn[j] + x1*cs[j]
		}
	}
}

// matrixAttention is the sequence length from which attention runs as
// matrix products: below it their setup costs more than the dot products
// save (MiniLM's shape, on a loaded 2-core machine: inputs of 13 tokens
// about 2× faster with dots, one of 512 tokens about 6× faster with
// products).
const matrixAttention = 64

// attention fills r.att: every head of every token attends to all n
// tokens, as ggml computes it without flash attention: the scores Q·Kᵀ
// scaled, a softmax of each row, then the weights times V. Long sequences
// do each head as two matrix products (K as a float32 matrix of n rows,
// Vᵀ as one of HeadDim rows) that tensor.MatMul spreads over the cores.
func (r *encRun) attention() {
	n, hd := r.n, r.e.HeadDim
	sc := make([]float32, n*n)
	if n < matrixAttention {
		for h := 0; h < r.e.Heads; h++ {
			r.attendHeadDots(h, sc[:n])
		}
		return
	}
	kh, qh, vt, out := make([]float32, n*hd), make([]float32, n*hd), make([]float32, hd*n), make([]float32, n*hd)
	for h := 0; h < r.e.Heads; h++ {
		r.attendHead(h, kh, qh, vt, sc, out)
	}
}

// attendHeadDots computes head h's attention with one dot product per
// pair of tokens.
func (r *encRun) attendHeadDots(h int, sc []float32) {
	n, d, hd := r.n, r.e.Dim, r.e.HeadDim
	scale := float32(1 / math.Sqrt(float64(hd)))
	for i := 0; i < n; i++ {
		q := r.q[i*d+h*hd : i*d+(h+1)*hd]
		for p := 0; p < n; p++ {
			sc[p] = tensor.Dot(q, r.k[p*d+h*hd:p*d+(h+1)*hd])
		}
		softmaxScaled(sc, scale)
		out := r.att[i*d+h*hd : i*d+(h+1)*hd]
		clear(out)
		for p, w := range sc {
			tensor.AddScaled(out, w, r.v[p*d+h*hd:p*d+(h+1)*hd])
		}
	}
}

// attendHead computes head h's attention output for all n tokens.
func (r *encRun) attendHead(h int, kh, qh, vt, sc, out []float32) {
	n, d, hd := r.n, r.e.Dim, r.e.HeadDim
	for p := 0; p < n; p++ {
		off := p*d + h*hd
		copy(kh[p*hd:(p+1)*hd], r.k[off:off+hd])
		copy(qh[p*hd:(p+1)*hd], r.q[off:off+hd])
		for j, v := range r.v[off : off+hd] {
			vt[j*n+p] = v
		}
	}
	tensor.MatMul(sc, f32Matrix(kh, n, hd), qh, n) // sc[i*n+p] = q_i·k_p
	scale := float32(1 / math.Sqrt(float64(hd)))
	for i := 0; i < n; i++ {
		softmaxScaled(sc[i*n:(i+1)*n], scale)
	}
	tensor.MatMul(out, f32Matrix(vt, hd, n), sc, n) // out[i*hd+j] = Σ_p w_ip v_pj
	for i := 0; i < n; i++ {
		copy(r.att[i*d+h*hd:i*d+(h+1)*hd], out[i*hd:(i+1)*hd])
	}
}

// softmaxScaled replaces row by the softmax of scale·row, as ggml's
// soft_max (exponentials summed in float64).
func softmaxScaled(row []float32, scale float32) {
	maxv := float32(math.Inf(-1))
	for p, v := range row {
		row[p] = v * scale
		maxv = max(maxv, row[p])
	}
	var sum float64
	for p, v := range row {
		e := float32(math.Exp(float64(v - maxv)))
		row[p] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for p := range row {
		row[p] *= inv
	}
}

// f32Matrix views x as a rows×cols float32 matrix (no copy).
func f32Matrix(x []float32, rows, cols int) *tensor.Matrix {
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*rows*cols)
	m, err := tensor.NewMatrix(tensor.F32, rows, cols, b)
	if err != nil {
		panic(err) // sizes are the caller's: a bug, not input
	}
	return m
}

// pool reduces the n token vectors of r.x to one (Pooling).
func (r *encRun) pool() []float32 {
	d, n := r.e.Dim, r.n
	out := make([]float32, d)
	switch r.e.Pooling {
	case PoolCLS:
		copy(out, r.x[:d])
	case PoolLast:
		copy(out, r.x[(n-1)*d:])
	default:
		inv := 1 / float32(n)
		for i := 0; i < n; i++ {
			tensor.AddScaled(out, inv, r.x[i*d:(i+1)*d])
		}
	}
	return out
}
