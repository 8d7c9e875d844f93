package tensor

import (
	"fmt"
	"sync"
)

var actPool = sync.Pool{New: func() any { return new(act) }}

func checkMat(op string, m *Matrix) {
	if !m.Type.Supported() {
		panic(fmt.Sprintf("tensor: %s: type %v unsupported", op, m.Type))
	}
	if rb, err := RowBytes(m.Type, m.Cols); err != nil || len(m.Data) < m.Rows*rb {
		panic(fmt.Sprintf("tensor: %s: %v %dx%d matrix with %d data bytes", op, m.Type, m.Rows, m.Cols, len(m.Data)))
	}
}

// MatVec sets out[i] to the product of row i of m with x, for every row.
// len(out) must be m.Rows and len(x) m.Cols. x is first converted to the
// type's vec-dot type as ggml does (see the package comment). Rows are split
// over the worker pool.
func MatVec(out []float32, m *Matrix, x []float32) {
	checkMat("MatVec", m)
	if len(out) != m.Rows || len(x) != m.Cols {
		panic(fmt.Sprintf("tensor: MatVec of a %dx%d matrix with len(x)=%d, len(out)=%d", m.Rows, m.Cols, len(x), len(out)))
	}
	a := actPool.Get().(*act)
	a.prepare(m.Type, x)
	rb := m.rowBytes()
	parallelFor(m.Rows, m.interChunk(chunkRows(m.Rows, rb, workers())), func(lo, hi int) {
		matVecRows(out, m, a, lo, hi)
	})
	actPool.Put(a)
}

// maxFused is how many matrices one MatVecs call multiplies.
const maxFused = 4

// fused is one MatVecs call: chunks [first[i], first[i+1]) of the job are
// matrix i's rows in chunks of chunk[i].
type fused struct {
	n     int
	outs  [maxFused][]float32
	ms    [maxFused]*Matrix
	acts  [maxFused]*act
	own   [maxFused]bool // acts[i] was taken from actPool for matrix i
	chunk [maxFused]int
	first [maxFused + 1]int
	fn    func(lo, hi int) // f.run, bound once
}

var fusedPool = sync.Pool{New: func() any {
	f := new(fused)
	f.fn = f.run
	return f
}}

// MatVecs sets outs[i] to the product of ms[i] with x for every i, as
// MatVec does, in one pass over the worker pool: the projections of one
// input (Q, K and V; gate and up) wake the pool once instead of once each,
// and x is converted once per weight type. It takes at most four matrices.
func MatVecs(outs [][]float32, ms []*Matrix, x []float32) {
	if len(outs) != len(ms) || len(ms) > maxFused {
		panic(fmt.Sprintf("tensor: MatVecs of %d outputs and %d matrices (at most %d)", len(outs), len(ms), maxFused))
	}
	f := fusedPool.Get().(*fused)
	f.n = len(ms)
	w := workers()
	total := 0
	for i, m := range ms {
		checkMat("MatVecs", m)
		if len(outs[i]) != m.Rows || len(x) != m.Cols {
			panic(fmt.Sprintf("tensor: MatVecs of a %dx%d matrix with len(x)=%d, len(out)=%d", m.Rows, m.Cols, len(x), len(outs[i])))
		}
		f.outs[i], f.ms[i], f.acts[i], f.own[i] = outs[i], m, nil, false
		for j := 0; j < i; j++ {
			if ms[j].Type == m.Type {
				f.acts[i] = f.acts[j]
				break
			}
		}
		if f.acts[i] == nil {
			a := actPool.Get().(*act)
			a.prepare(m.Type, x)
			f.acts[i], f.own[i] = a, true
		}
		f.chunk[i] = m.interChunk(chunkRows(m.Rows, m.rowBytes(), w))
		f.first[i] = total
		total += (m.Rows + f.chunk[i] - 1) / f.chunk[i]
	}
	f.first[f.n] = total
	parallelFor(total, 1, f.fn)
	for i := 0; i < f.n; i++ {
		if f.own[i] {
			actPool.Put(f.acts[i])
		}
		f.outs[i], f.ms[i], f.acts[i] = nil, nil, nil
	}
	fusedPool.Put(f)
}

func (f *fused) run(lo, hi int) {
	for c := lo; c < hi; c++ {
		i := 0
		for c >= f.first[i+1] {
			i++
		}
		r0 := (c - f.first[i]) * f.chunk[i]
		matVecRows(f.outs[i], f.ms[i], f.acts[i], r0, min(r0+f.chunk[i], f.ms[i].Rows))
	}
}

// matMulTile is how many vectors MatMul multiplies each weight row with
// while the row is in L1 cache.
const matMulTile = 64

// actBatch holds the converted activations of a MatMul. Vector j's
// buffers are consecutive slices of shared arrays, so kernels may step from
// one vector to the next by a fixed stride (Cols elements).
type actBatch struct {
	a  []act
	f  []float32
	d  []float32
	qs []int8
	bs []int16
	c  []float32
	// di: Q8_0 scales of each group of four vectors, interleaved:
	// di[(g*nb+b)*4+j] is vector 4g+j's scale of block b.
	di []float32
	// bsi: Q8_K sums of 16 of each group of four vectors, interleaved:
	// bsi[((g*nb+b)*4+j)*16+k].
	bsi []int16
}

// interleave fills di (and bsi) from the prepared activations.
func (bt *actBatch) interleave(t Type, n, cols int) {
	if t == Q4_K || t == Q5_K || t == Q6_K {
		nb, groups := cols/qkK, n/4
		bt.di = grow(bt.di, groups*nb*4)
		bt.bsi = grow(bt.bsi, groups*nb*4*16)
		for g := 0; g < groups; g++ {
			for j := 0; j < 4; j++ {
				a := &bt.a[4*g+j]
				for b := 0; b < nb; b++ {
					bt.di[(g*nb+b)*4+j] = a.d[b]
					copy(bt.bsi[((g*nb+b)*4+j)*16:][:16], a.bs[b*16:])
				}
			}
		}
		return
	}
	if t != Q8_0 {
		return
	}
	nb, groups := cols/qk, n/4
	bt.di = grow(bt.di, groups*nb*4)
	for g := 0; g < groups; g++ {
		for j := 0; j < 4; j++ {
			a := &bt.a[4*g+j]
			for b := 0; b < nb; b++ {
				bt.di[(g*nb+b)*4+j] = a.d[b]
			}
		}
	}
}

func (bt *actBatch) setup(t Type, n, cols int) []act {
	if cap(bt.a) < n {
		bt.a = make([]act, n)
	}
	acts := bt.a[:n]
	switch t {
	case F32, F16, BF16:
		bt.f = grow(bt.f, n*cols)
		for j := range acts {
			acts[j].f = bt.f[j*cols : (j+1)*cols : (j+1)*cols]
		}
	case Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL:
		nb := cols / qk
		bt.d, bt.c, bt.qs = grow(bt.d, n*nb), grow(bt.c, n*nb), grow(bt.qs, n*cols)
		for j := range acts {
			acts[j].d = bt.d[j*nb : (j+1)*nb : (j+1)*nb]
			acts[j].c = bt.c[j*nb : (j+1)*nb : (j+1)*nb]
			acts[j].qs = bt.qs[j*cols : (j+1)*cols : (j+1)*cols]
		}
	case Q4_K, Q5_K, Q6_K, Q2_K, Q3_K, IQ4_XS:
		nb := cols / qkK
		bt.d, bt.bs, bt.qs = grow(bt.d, n*nb), grow(bt.bs, 16*n*nb), grow(bt.qs, n*cols)
		for j := range acts {
			acts[j].d = bt.d[j*nb : (j+1)*nb : (j+1)*nb]
			acts[j].bs = bt.bs[16*j*nb : 16*(j+1)*nb : 16*(j+1)*nb]
			acts[j].qs = bt.qs[j*cols : (j+1)*cols : (j+1)*cols]
		}
	}
	return acts
}

var batchPool = sync.Pool{New: func() any { return new(actBatch) }}

// MatMul multiplies m with n vectors: x is n×Cols row-major, out n×Rows
// row-major (out[j*Rows+i] = row i · x[j]). Each weight row is read once per
// tile of vectors, so prompt processing is bound by arithmetic rather than
// by memory bandwidth.
func MatMul(out []float32, m *Matrix, x []float32, n int) {
	checkMat("MatMul", m)
	if n < 0 || len(x) != n*m.Cols || len(out) != n*m.Rows {
		panic(fmt.Sprintf("tensor: MatMul of a %dx%d matrix with n=%d, len(x)=%d, len(out)=%d", m.Rows, m.Cols, n, len(x), len(out)))
	}
	if n == 0 {
		return
	}
	if n == 1 {
		MatVec(out, m, x)
		return
	}
	// The lane kernels give each vector MatVec's result bit for bit, so
	// that a prompt's rows do not depend on how it is split into chunks or
	// how much of it a session had cached (and from six vectors on they
	// are faster than the four-vector kernel).
	if matMulQ80(out, m, x, n) || matMulQ4K(out, m, x, n) {
		return
	}
	if laneKernel(m.Type) != nil {
		MatMulBatch(out, m, x, n)
		return
	}
	bt := batchPool.Get().(*actBatch)
	acts := bt.setup(m.Type, n, m.Cols)
	parallelFor(n, 4, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			acts[j].prepare(m.Type, x[j*m.Cols:(j+1)*m.Cols])
		}
	})
	bt.interleave(m.Type, n, m.Cols)
	rb := m.rowBytes()
	w := workers()
	chunk := max(1, min((m.Rows+4*w-1)/(4*w), (32<<10)/max(rb, 1)))
	// Whole tiles of four rows: a chunk of two (the cache bound of rows
	// above 4096 F16 weights) left the four-row kernels unused.
	chunk = (chunk + 3) &^ 3
	for j0 := 0; j0 < n; j0 += matMulTile {
		j1 := min(n, j0+matMulTile)
		parallelFor(m.Rows, chunk, func(lo, hi int) {
			matMulRows(out, m, bt, j0, j1, lo, hi)
		})
	}
	batchPool.Put(bt)
}

// Dot returns the float32 dot product of a and b (len(b) >= len(a)).
func Dot(a, b []float32) float32 {
	if len(b) < len(a) {
		panic(fmt.Sprintf("tensor: Dot of lengths %d and %d", len(a), len(b)))
	}
	return dot(a, b[:len(a)])
}

// AddScaled adds a*x to dst (len(x) >= len(dst)).
func AddScaled(dst []float32, a float32, x []float32) {
	if len(x) < len(dst) {
		panic(fmt.Sprintf("tensor: AddScaled of lengths %d and %d", len(dst), len(x)))
	}
	axpy(dst, a, x[:len(dst)])
}

func matVecRowsGo(out []float32, m *Matrix, a *act, lo, hi int) {
	rb := m.rowBytes()
	for r := lo; r < hi; r++ {
		out[r] = dotRowGo(m.Type, m.Data[r*rb:(r+1)*rb], a)
	}
}

func matMulRowsGo(out []float32, m *Matrix, bt *actBatch, j0, j1, lo, hi int) {
	acts := bt.a
	rb := m.rowBytes()
	for r := lo; r < hi; r++ {
		w := m.Data[r*rb : (r+1)*rb]
		for j := j0; j < j1; j++ {
			out[j*m.Rows+r] = dotRowGo(m.Type, w, &acts[j])
		}
	}
}
