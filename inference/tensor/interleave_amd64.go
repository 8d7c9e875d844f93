//go:build amd64 && !purego

package tensor

import (
	"sync"

	"golang.org/x/sys/cpu"
)

// useInter selects the tile order's kernels for every Q4_0 product and
// lets Interleave rearrange Q4_0 matrices: they need AVX-512 VNNI and BW
// (VPERMW).
var useInter = useVNNI && cpu.X86.HasAVX512BW

//go:noescape
func q40InterRows(w *byte, tiles int, qs *int8, d *float32, o *int32, nb int, out *float32)

//go:noescape
func q40SeqRows(w *byte, rb, rows int, qz *int8, d *float32, o *int32, ng int, out *float32)

//go:noescape
func q40SeqLanes(w *byte, rb, rows int, x *int8, d *float32, o *int32, nb int, out *float32)

//go:noescape
func q40InterLanes(w *byte, tiles int, x *int8, d *float32, o *int32, nb int, out *float32)

// matVecInter computes the interleaved rows among [lo, hi) (lo on a tile)
// and returns the first row it left.
func matVecInter(out []float32, m *Matrix, a *act, lo, hi int) int {
	if lo >= m.inter {
		return lo
	}
	checkInter(m, lo)
	hi = min(hi, m.inter)
	nb := m.Cols / qk
	rb := m.rowBytes()
	w := m.Data[lo*rb : hi*rb]
	_, _, _ = a.qs[nb*qk-1], a.d[nb-1], a.o[nb-1]
	o := out[lo:hi]
	q40InterRows(&w[0], (hi-lo)/interTile, &a.qs[0], &a.d[0], &a.o[0], nb, &o[0])
	return hi
}

// interLaneTiles is the most tiles one q40InterLanes call takes: their
// weights stay in L1/L2 while each further group of eight vectors passes.
const interLaneTiles = 2

// interPack holds vectors for q40InterLanes in groups of eight: for group
// g and block b, x[(g*nb+b)*256+32*v:][:32] are vector 8g+v's quantized
// values, d and o[(g*nb+b)*8+v] its scale and 8*sum. Vectors past n are
// zero.
type interPack struct {
	x []int8
	d []float32
	o []int32
	// qs, dq: each vector quantized whole, before it is spread.
	qs []int8
	dq []float32
}

var interPool = sync.Pool{New: func() any { return new(interPack) }}

// pack quantizes the n vectors of x (cols each) and returns the groups.
func (p *interPack) pack(x []float32, n, cols int) int {
	nb := cols / qk
	groups := (n + laneW - 1) / laneW
	p.x = grow(p.x, groups*nb*laneW*qk)
	p.d = grow(p.d, groups*nb*laneW)
	p.o = grow(p.o, groups*nb*laneW)
	p.qs = grow(p.qs, groups*laneW*cols)
	p.dq = grow(p.dq, groups*laneW*nb)
	parallelFor(groups*laneW, laneW, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			g, v := j/laneW, j%laneW
			d, qs := p.dq[j*nb:(j+1)*nb], p.qs[j*cols:(j+1)*cols]
			if j < n {
				quantizeQ8Act(d, qs, x[j*cols:(j+1)*cols])
			} else {
				clear(d)
				clear(qs)
			}
			for b := range nb {
				i := (g*nb+b)*laneW + v
				y := qs[b*qk : (b+1)*qk]
				copy(p.x[i*qk:(i+1)*qk], y)
				p.d[i], p.o[i] = d[b], 8*sumQ(y)
			}
		}
	})
	return groups
}

// matMulInter is MatMul, MatMulBatch and MatMulEach of a matrix with
// interleaved rows: each vector gets MatVec's bits.
func matMulInter(out []float32, m *Matrix, x []float32, n int) {
	if n == 1 {
		MatVec(out, m, x)
		return
	}
	p := interPool.Get().(*interPack)
	groups := p.pack(x, n, m.Cols)
	nb := m.Cols / qk
	rb := m.rowBytes()
	tiles := m.inter / interTile
	chunk := max(1, min(interLaneTiles, (tiles+4*workers()-1)/(4*workers())))
	parallelFor(tiles, chunk, func(lo, hi int) {
		var o [interLaneTiles * laneW * interTile]float32
		for t0 := lo; t0 < hi; t0 += interLaneTiles {
			t1 := min(hi, t0+interLaneTiles)
			w := m.Data[t0*interTile*rb : t1*interTile*rb]
			oo := o[:(t1-t0)*laneW*interTile]
			for g := range groups {
				xs, d, so := p.x[g*nb*laneW*qk:(g+1)*nb*laneW*qk], p.d[g*nb*laneW:(g+1)*nb*laneW], p.o[g*nb*laneW:(g+1)*nb*laneW]
				q40InterLanes(&w[0], t1-t0, &xs[0], &d[0], &so[0], nb, &oo[0])
				scatterInter(out, m.Rows, oo, t0, g, n)
			}
		}
	})
	interPool.Put(p)
	matMulPlainRows(out, m, x, n)
}

// scatterInter copies q40InterLanes' results o (tiles from t0 on, against
// group g) to out, n vectors of rows.
func scatterInter(out []float32, rows int, o []float32, t0, g, n int) {
	for t := range len(o) / (laneW * interTile) {
		for v := range min(laneW, n-g*laneW) {
			j := g*laneW + v
			r := (t0 + t) * interTile
			copy(out[j*rows+r:j*rows+r+interTile], o[(t*laneW+v)*interTile:])
		}
	}
}

// matVecQ40Seq does rows lo..hi of a plain Q4_0 MatVec in the tile
// kernels' order (useInter).
func matVecQ40Seq(out []float32, m *Matrix, a *act, lo, hi int) {
	rb := m.rowBytes()
	q40Seq(out[lo:hi], m.Data[lo*rb:hi*rb], rb, a)
}

// q40Seq sets out[r] to the product of row r of w (rb bytes a row, plain
// layout) with a in the tile kernels' order: q40SeqRows over the whole
// groups of four blocks, dotQ40Seq over the rest.
func q40Seq(out []float32, w []byte, rb int, a *act) {
	nb := len(a.d)
	ng := nb / 4
	if ng > 0 {
		_, _, _, _ = a.qp[ng*4*qk-1], a.d[ng*4-1], a.o[ng*4-1], w[len(out)*rb-1]
		q40SeqRows(&w[0], rb, len(out), &a.qp[0], &a.d[0], &a.o[0], ng, &out[0])
	} else {
		clear(out)
	}
	if 4*ng == nb {
		return
	}
	for r := range out {
		out[r] = dotQ40Seq(w[r*rb:(r+1)*rb], a, 4*ng, out[r])
	}
}
