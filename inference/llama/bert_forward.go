package llama

import (
	"fmt"
	"math"
	"runtime"
	"sync"

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
	for i, g := range r.g[:n*f] {
		h[i] *= silu(g)
	}
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

// attention fills r.att: every head of every token attends to all n
// tokens. Heads are spread over goroutines when the sequence is long
// enough to pay for them.
func (r *encRun) attention() {
	heads := r.e.Heads
	if r.n < 32 {
		r.attendHeads(0, heads)
		return
	}
	workers := min(heads, max(1, runtime.GOMAXPROCS(0)))
	per := (heads + workers - 1) / workers
	var wg sync.WaitGroup
	for h0 := 0; h0 < heads; h0 += per {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.attendHeads(h0, min(heads, h0+per))
		}()
	}
	wg.Wait()
}

func (r *encRun) attendHeads(h0, h1 int) {
	n, d, hd := r.n, r.e.Dim, r.e.HeadDim
	scale := float32(1 / math.Sqrt(float64(hd)))
	sc := make([]float32, n)
	for h := h0; h < h1; h++ {
		for i := 0; i < n; i++ {
			q := r.q[i*d+h*hd : i*d+(h+1)*hd]
			maxv := float32(math.Inf(-1))
			for p := 0; p < n; p++ {
				s := tensor.Dot(q, r.k[p*d+h*hd:p*d+(h+1)*hd]) * scale
				sc[p] = s
				maxv = max(maxv, s)
			}
			var sum float64
			for p := range sc {
				ex := float32(math.Exp(float64(sc[p] - maxv)))
				sc[p] = ex
				sum += float64(ex)
			}
			inv := float32(1 / sum)
			out := r.att[i*d+h*hd : i*d+(h+1)*hd]
			clear(out)
			for p := range sc {
				tensor.AddScaled(out, sc[p]*inv, r.v[p*d+h*hd:p*d+(h+1)*hd])
			}
		}
	}
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
