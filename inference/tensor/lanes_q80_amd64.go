//go:build amd64 && !purego

package tensor

import "sync"

// The Q8_0 prompt kernel (kernels_q80lanes_amd64.s).

//go:noescape
func q80Corr(dst *int32, w *byte, nblocks int)

//go:noescape
func q80LanesVNNI(w *byte, rb, rows int, x *int8, d *float32, corr *int32, nb int, out *float32)

//go:noescape
func q80LanesAVX(w *byte, rb, rows int, x *int8, d *float32, nb int, out *float32)

// q80Tile is the rows q80LanesVNNI computes at once.
const q80Tile = 4

// q80Scratch is one worker's buffers for matMulQ80.
type q80Scratch struct {
	corr []int32
	pad  []byte
	o    [laneRows * laneW]float32
}

var q80Pool = sync.Pool{New: func() any { return new(q80Scratch) }}

// matMulQ80 is MatMul of Q8_0 weights with n >= 2 vectors where there is
// assembly, and reports false elsewhere. The vectors are quantized as
// MatVec quantizes them and laid out in lanes, eight at a time; each chunk
// of weight rows is multiplied with every lane group while it is in cache.
// A product's float operations do not depend on n, on the vector's place
// among them, on how the rows are split or on the kernel (VNNI or AVX2).
func matMulQ80(out []float32, m *Matrix, x []float32, n int) bool {
	if !useAsm || m.Type != Q8_0 || m.Cols == 0 {
		return false
	}
	p := lanePool.Get().(*lanePack)
	groups := p.pack(x, n, m.Cols)
	if useVNNI {
		p.biasUnsigned()
	}
	chunk := (laneChunk(m.Rows) + q80Tile - 1) &^ (q80Tile - 1)
	parallelFor(m.Rows, chunk, func(lo, hi int) {
		s := q80Pool.Get().(*q80Scratch)
		for r0 := lo; r0 < hi; r0 += laneRows {
			q80Rows(out, m, p, s, groups, n, r0, min(hi, r0+laneRows))
		}
		q80Pool.Put(s)
	})
	lanePool.Put(p)
	return true
}

// q80Rows computes rows [r0, r1) (at most laneRows) for every lane group:
// whole tiles of four from m's rows, the last rows from a copy padded with
// zero rows.
func q80Rows(out []float32, m *Matrix, p *lanePack, s *q80Scratch, groups, n, r0, r1 int) {
	rb, nb := m.rowBytes(), m.Cols/qk
	full := (r1 - r0) &^ (q80Tile - 1)
	rest := r1 - r0 - full
	w := m.Data[r0*rb : r1*rb]
	if rest > 0 {
		s.pad = grow(s.pad, q80Tile*rb)
		clear(s.pad[copy(s.pad, w[full*rb:]):])
	}
	s.corr = grow(s.corr, (full+q80Tile)*nb)
	if useVNNI && full > 0 {
		corrQ80(s.corr[:full*nb], w[:full*rb])
	}
	if useVNNI && rest > 0 {
		corrQ80(s.corr[full*nb:(full+q80Tile)*nb], s.pad)
	}
	for g := range groups {
		xg := p.x[g*nb*laneW*qk : (g+1)*nb*laneW*qk]
		dg := p.d[g*nb*laneW : (g+1)*nb*laneW]
		if full > 0 {
			lanesQ80(w, rb, full, xg, dg, s.corr[:full*nb], nb, s.o[:full*laneW])
			scatterLanes(out, m.Rows, s.o[:full*laneW], r0, g, n)
		}
		if rest > 0 {
			lanesQ80(s.pad, rb, q80Tile, xg, dg, s.corr[full*nb:(full+q80Tile)*nb], nb, s.o[:q80Tile*laneW])
			scatterLanes(out, m.Rows, s.o[:rest*laneW], r0+full, g, n)
		}
	}
}

// corrQ80 sets corr[i] to -128 times the sum of block i's weights in w.
func corrQ80(corr []int32, w []byte) {
	_ = w[len(corr)*q80B-1]
	q80Corr(&corr[0], &w[0], len(corr))
}

// lanesQ80 checks the bounds the kernels rely on and runs q80LanesVNNI
// (vectors biased, corr of the rows) or q80LanesAVX (unbiased, no corr).
func lanesQ80(w []byte, rb, rows int, x []int8, d []float32, corr []int32, nb int, out []float32) {
	if rows < q80Tile || rows%q80Tile != 0 || nb < 1 {
		panic("tensor: Q8_0 lane kernel of no rows or blocks")
	}
	_ = w[(rows-1)*rb+nb*q80B-1]
	_ = x[nb*laneW*qk-1]
	_ = d[nb*laneW-1]
	_ = corr[rows*nb-1]
	_ = out[rows*laneW-1]
	if !useVNNI {
		q80LanesAVX(&w[0], rb, rows, &x[0], &d[0], nb, &out[0])
		return
	}
	q80LanesVNNI(&w[0], rb, rows, &x[0], &d[0], &corr[0], nb, &out[0])
}
