package tensor

import (
	"fmt"
	"sync"
	"unsafe"
)

// The lane layout serves the few vectors of a batched decode step: eight
// Q8_0-quantized vectors are interleaved four bytes at a time, so that one
// 256-bit load holds the same four elements of all eight, one per 32-bit
// lane. A lane kernel expands each weight block once, broadcasts four of
// its bytes at a time against such a load and so multiplies the block with
// eight vectors in eight instructions; its results come out one lane per
// vector, with no horizontal sums. Weights are read once per step however
// many sequences the step serves.

// laneW is the vectors per lane group (32-bit lanes of a 256-bit register).
const laneW = 8

// laneRows is the most rows one kernel call computes: its outputs sit in a
// buffer on the caller's stack, and the rows' weights stay in L1/L2 while
// each further lane group of a step passes over them.
const laneRows = 32

// lanePack holds n vectors in lane layout, in groups of laneW: for group
// g, block b, four-byte group k (0..7), x[((g*nb+b)*8+k)*32+4*j:][:4] are
// elements 32b+4k..32b+4k+3 of vector 8g+j; d[(g*nb+b)*8+j] its block
// scale and c[(g*nb+b)*8+j] 8*d*sum of the block's 32 quantized values,
// Q4_0's offset as MatVec applies it (act.c). Vectors past n are zero.
type lanePack struct {
	x []int8
	d []float32
	c []float32
	o []int32 // 8*sum of the block's quantized values (c before the scale)
}

var lanePool = sync.Pool{New: func() any { return new(lanePack) }}

// pack quantizes x (n vectors of cols) to Q8_0 as MatVec does and lays
// them out in lanes, a lane group per worker; it returns the number of
// groups.
func (p *lanePack) pack(x []float32, n, cols int) int {
	nb := cols / qk
	groups := (n + laneW - 1) / laneW
	p.x = grow(p.x, groups*nb*laneW*qk)
	p.d = grow(p.d, groups*nb*laneW)
	p.c = grow(p.c, groups*nb*laneW)
	p.o = grow(p.o, groups*nb*laneW)
	parallelFor(groups*laneW, laneW, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			p.packOne(x, j, n, nb, cols)
		}
	})
	return groups
}

// packOne lays out vector j (zeros past n).
func (p *lanePack) packOne(x []float32, j, n, nb, cols int) {
	x32 := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(p.x))), len(p.x)/4)
	g, l := j/laneW, j%laneW
	base := g * nb * laneW
	var d [1]float32
	var qs [qk]int8
	q32 := unsafe.Slice((*uint32)(unsafe.Pointer(&qs[0])), qk/4)
	for b := range nb {
		var s int32
		if j < n {
			quantizeQ8Act(d[:], qs[:], x[j*cols+b*qk:j*cols+(b+1)*qk])
			s = sumQ(qs[:])
		} else {
			d[0], qs = 0, [qk]int8{}
		}
		p.d[base+b*laneW+l] = d[0]
		p.c[base+b*laneW+l] = 8 * d[0] * float32(s)
		p.o[base+b*laneW+l] = 8 * s
		for k := range qk / 4 {
			x32[(base+b*laneW+k)*laneW+l] = q32[k]
		}
	}
}

// MatMulExact reports whether MatMul of t gives each vector MatVec's
// result bit for bit on this CPU (Q4_0's lane kernels), so that rows of
// different sequences, prompt chunks or decode steps, can share one call.
func MatMulExact(t Type) bool { return laneKernel(t) != nil }

// MatMulBatch is MatMul for the few vectors of a batched decode step (x is
// n×Cols, out n×Rows, as MatMul): where the weight type has a lane kernel
// on this CPU each weight block is expanded once and multiplied with eight
// vectors at a time, so a step's cost grows with the weights' size rather
// than with the number of sequences. Other types and CPUs multiply each
// vector as MatVec does (bit for bit), a chunk of rows for every vector
// while it is in cache. Q4_0's lane results are MatVec's bit for bit (the
// kernels sum in its float order); Q8_0's equal them up to float rounding
// (the integer block dots are the same, summed in another order).
func MatMulBatch(out []float32, m *Matrix, x []float32, n int) {
	checkMat("MatMulBatch", m)
	if n < 0 || len(x) != n*m.Cols || len(out) != n*m.Rows {
		panic(fmt.Sprintf("tensor: MatMulBatch of a %dx%d matrix with n=%d, len(x)=%d, len(out)=%d", m.Rows, m.Cols, n, len(x), len(out)))
	}
	if n == 0 || m.Cols == 0 {
		clear(out)
		return
	}
	if m.inter > 0 {
		matMulInter(out, m, x, n)
		return
	}
	kern := laneKernel(m.Type)
	if kern == nil || n == 1 {
		MatMulEach(out, m, x, n)
		return
	}
	p := lanePool.Get().(*lanePack)
	groups := p.pack(x, n, m.Cols)
	rb := m.rowBytes()
	nb := m.Cols / qk
	parallelFor(m.Rows, laneChunk(m.Rows), func(lo, hi int) {
		var o [laneRows * laneW]float32
		for r0 := lo; r0 < hi; r0 += laneRows {
			r1 := min(hi, r0+laneRows)
			for g := range groups {
				kern(m.Data[r0*rb:r1*rb], rb, r1-r0, p, g, nb, o[:(r1-r0)*laneW])
				scatterLanes(out, m.Rows, o[:(r1-r0)*laneW], r0, g, n)
			}
		}
	})
	lanePool.Put(p)
}

// laneChunk is the rows of one parallelFor chunk of the lane kernels.
func laneChunk(rows int) int {
	return max(1, min(laneRows, (rows+4*workers()-1)/(4*workers())))
}

// scatterLanes copies a lane kernel's results o (rows from r0 on, against
// lane group g) to out, n vectors of rows.
func scatterLanes(out []float32, rows int, o []float32, r0, g, n int) {
	scatterGroups(out, rows, o, r0, g, 1, n)
}

// scatterGroups copies the results o of k lane groups from g on (o[(r*k+
// gg)*8+l], rows from r0 on) to out, n vectors of rows: whole blocks of
// eight rows and eight vectors by transpose8, the rest one by one.
func scatterGroups(out []float32, rows int, o []float32, r0, g, k, n int) {
	nr := len(o) / (k * laneW)
	for gg := range k {
		j0 := (g + gg) * laneW
		r := 0
		if j0+laneW <= n {
			for ; r+8 <= nr; r += 8 {
				transposeBlock(out[j0*rows+r0+r:], rows, o[(r*k+gg)*laneW:], k*laneW)
			}
		}
		for l := range laneW {
			j := j0 + l
			if j >= n {
				return
			}
			dst := out[j*rows+r0+r : j*rows+r0+nr]
			for i := range dst {
				dst[i] = o[((r+i)*k+gg)*laneW+l]
			}
		}
	}
}

// biasUnsigned adds 128 to every packed value (as bytes, x^0x80), for
// kernels that take the vectors as VPDPBUSD's unsigned operand.
func (p *lanePack) biasUnsigned() {
	x64 := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(p.x))), len(p.x)/8)
	for i := range x64 {
		x64[i] ^= 0x8080808080808080
	}
}

// MatMulEach is MatVec of each of the n vectors of x (n×Cols, out n×Rows
// as MatMul), bit for bit, with each chunk of weight rows multiplied with
// every vector while it is in cache, so that the weights are read from
// memory once: a batched decode step whose results equal a lone decode's
// exactly, at the lone kernels' arithmetic cost per vector.
func MatMulEach(out []float32, m *Matrix, x []float32, n int) {
	checkMat("MatMulEach", m)
	if n < 0 || len(x) != n*m.Cols || len(out) != n*m.Rows {
		panic(fmt.Sprintf("tensor: MatMulEach of a %dx%d matrix with n=%d, len(x)=%d, len(out)=%d", m.Rows, m.Cols, n, len(x), len(out)))
	}
	if n == 0 || m.Cols == 0 {
		clear(out)
		return
	}
	if m.inter > 0 {
		matMulInter(out, m, x, n)
		return
	}
	matVecEach(out, m, x, n)
}

// eachPool holds the activations of matVecEach.
var eachPool = sync.Pool{New: func() any { return new([]act) }}

// matVecEach is MatVec of each vector, the rows split over the pool so that
// each chunk of rows serves every vector while it is in cache: the weights
// are read from memory once, and each result is MatVec's to the bit.
func matVecEach(out []float32, m *Matrix, x []float32, n int) {
	ap := eachPool.Get().(*[]act)
	if len(*ap) < n {
		*ap = append(*ap, make([]act, n-len(*ap))...)
	}
	acts := (*ap)[:n]
	for j := range acts {
		acts[j].prepare(m.Type, x[j*m.Cols:(j+1)*m.Cols])
	}
	rb := m.rowBytes()
	chunk := max(1, min((32<<10)/max(rb, 1), (m.Rows+4*workers()-1)/(4*workers())))
	parallelFor(m.Rows, chunk, func(lo, hi int) {
		for r0 := lo; r0 < hi; r0 += chunk {
			r1 := min(hi, r0+chunk)
			for j := range acts {
				matVecRows(out[j*m.Rows:(j+1)*m.Rows], m, &acts[j], r0, r1)
			}
		}
	})
	eachPool.Put(ap)
}

// laneFunc computes rows weight rows (w, rb bytes each) against lane group
// g of p (nb blocks): out[r*8+j] is row r times vector j.
type laneFunc func(w []byte, rb, rows int, p *lanePack, g, nb int, out []float32)

// group returns lane group g's slices of p (nb blocks).
func (p *lanePack) group(g, nb int) (x []int8, d, c []float32, o []int32) {
	n := nb * laneW
	return p.x[g*n*qk : (g+1)*n*qk], p.d[g*n : (g+1)*n], p.c[g*n : (g+1)*n], p.o[g*n : (g+1)*n]
}
