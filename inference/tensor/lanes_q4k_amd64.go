//go:build amd64 && !purego

package tensor

import (
	"sync"
	"unsafe"
)

// The Q4_K prompt kernels (kernels_q4klanes_amd64.s).

//go:noescape
func q4KLanesVNNI2(w *byte, rb, rows int, x *int8, d *float32, s *int16, nb int, out *float32)

//go:noescape
func q4KLanesVNNI1(w *byte, rb, rows int, x *int8, d *float32, s *int16, nb int, out *float32)

//go:noescape
func q4KLanesAVX(w *byte, rb, rows int, x *int8, d *float32, s *int16, nb int, out *float32)

// lanePackK holds vectors quantized to Q8_K as MatVec quantizes them, in
// lane groups of eight: for group g and superblock b, x[((g*nb+b)*64+k)*32
// +4*j:][:4] are elements 256b+4k.. of vector 8g+j, d[(g*nb+b)*8+j] its
// scale, and s[((g*nb+b)*4+p)*16+2*j+e] the sum of its sub-block 2p+e (32
// values). Vectors past n are zero.
type lanePackK struct {
	x []int8
	d []float32
	s []int16
}

var lanePoolK = sync.Pool{New: func() any { return new(lanePackK) }}

// pack lays out n vectors of cols; it returns the number of groups.
func (p *lanePackK) pack(x []float32, n, cols int) int {
	nb := cols / qkK
	groups := (n + laneW - 1) / laneW
	p.x = grow(p.x, groups*nb*laneW*qkK)
	p.d = grow(p.d, groups*nb*laneW)
	p.s = grow(p.s, groups*nb*4*laneW*2)
	parallelFor(groups*laneW, laneW, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			p.packOne(x, j, n, nb, cols)
		}
	})
	return groups
}

func (p *lanePackK) packOne(x []float32, j, n, nb, cols int) {
	x32 := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(p.x))), len(p.x)/4)
	g, l := j/laneW, j%laneW
	var qs [qkK]int8
	var bs [16]int16
	q32 := unsafe.Slice((*uint32)(unsafe.Pointer(&qs[0])), qkK/4)
	for b := range nb {
		base := g*nb + b
		d := float32(0)
		if j < n {
			quantQ8KBlock(&d, qs[:], bs[:], x[j*cols+b*qkK:j*cols+(b+1)*qkK])
		} else {
			qs, bs = [qkK]int8{}, [16]int16{}
		}
		p.d[base*laneW+l] = d
		for k := range qkK / 4 {
			x32[(base*qkK/4+k)*laneW+l] = q32[k]
		}
		for sb := range 8 {
			p.s[((base*4+sb/2)*laneW+l)*2+sb%2] = bs[2*sb] + bs[2*sb+1]
		}
	}
}

// matMulQ4K is MatMul of Q4_K weights with n >= 2 vectors where there is
// assembly, and reports false elsewhere: the vectors in lanes (lanePackK),
// each chunk of weight rows multiplied with every lane group while it is
// in cache. A product's float operations do not depend on n, the vector's
// place, how the rows are split, or the kernel.
func matMulQ4K(out []float32, m *Matrix, x []float32, n int) bool {
	if !useAsm || m.Type != Q4_K || m.Cols == 0 {
		return false
	}
	p := lanePoolK.Get().(*lanePackK)
	groups := p.pack(x, n, m.Cols)
	rb := m.rowBytes()
	parallelFor(m.Rows, laneChunk(m.Rows), func(lo, hi int) {
		var o [laneRows * 2 * laneW]float32
		for r0 := lo; r0 < hi; r0 += laneRows {
			r1 := min(hi, r0+laneRows)
			for g := 0; g < groups; {
				k := 1
				if useVNNI && g+1 < groups {
					k = 2
				}
				oo := o[:(r1-r0)*k*laneW]
				clear(oo)
				lanesQ4K(m.Data[r0*rb:r1*rb], rb, r1-r0, p, g, k, m.Cols/qkK, oo)
				scatterGroups(out, m.Rows, oo, r0, g, k, n)
				g += k
			}
		}
	})
	lanePoolK.Put(p)
	return true
}

// lanesQ4K checks the bounds the kernels rely on and runs the one for k
// lane groups from g on.
func lanesQ4K(w []byte, rb, rows int, p *lanePackK, g, k, nb int, out []float32) {
	if rows < 1 || nb < 1 {
		panic("tensor: Q4_K lane kernel of no rows or blocks")
	}
	_ = w[(rows-1)*rb+nb*q4KB-1]
	x := p.x[g*nb*laneW*qkK : (g+k)*nb*laneW*qkK]
	d := p.d[g*nb*laneW : (g+k)*nb*laneW]
	s := p.s[g*nb*4*laneW*2 : (g+k)*nb*4*laneW*2]
	_ = out[rows*k*laneW-1]
	switch {
	case !useVNNI:
		q4KLanesAVX(&w[0], rb, rows, &x[0], &d[0], &s[0], nb, &out[0])
	case k == 2:
		q4KLanesVNNI2(&w[0], rb, rows, &x[0], &d[0], &s[0], nb, &out[0])
	default:
		q4KLanesVNNI1(&w[0], rb, rows, &x[0], &d[0], &s[0], nb, &out[0])
	}
}
