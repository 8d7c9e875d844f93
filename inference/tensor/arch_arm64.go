//go:build arm64 && !purego

package tensor

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAsm is set when the CPU has Advanced SIMD (every arm64 Linux machine
// in practice) and FP16 conversions; without them the pure-Go kernels run.
var useAsm = cpu.ARM64.HasASIMD && cpu.ARM64.HasFP

// HasAsm reports whether the assembly kernels are in use.
func HasAsm() bool { return useAsm }

//go:noescape
func dotF32NEON(a, b *float32, n int, acc *[16]float32)

//go:noescape
func axpyNEON(dst, x *float32, a *float32, n int)

//go:noescape
func dotF16NEON(w *byte, x *float32, n int, acc *[16]float32)

//go:noescape
func sumsQ80NEON(w *byte, qs *int8, nb int, out *int32)

//go:noescape
func sumsQ40NEON(w *byte, qs *int8, nb int, out *int32)

// f32View points at w's bytes as float32 (NEON loads need no alignment).
func f32View(w []byte) *float32 { return (*float32)(unsafe.Pointer(&w[0])) }

func sum16(acc *[16]float32) float32 {
	var s [4]float32
	for i := 0; i < 4; i++ {
		s[i] = (acc[i] + acc[4+i]) + (acc[8+i] + acc[12+i])
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}

func dot(a, b []float32) float32 {
	n := len(a) &^ 15
	if !useAsm || n == 0 {
		return dotGo(a, b)
	}
	var acc [16]float32
	dotF32NEON(&a[0], &b[0], n, &acc)
	return sum16(&acc) + dotGo(a[n:], b[n:len(a)])
}

func axpy(dst []float32, a float32, x []float32) {
	n := len(dst) &^ 15
	if !useAsm || n == 0 {
		axpyGo(dst, a, x)
		return
	}
	axpyNEON(&dst[0], &x[0], &a, n)
	axpyGo(dst[n:], a, x[n:len(dst)])
}

func roundF16Slice(dst, x []float32)                    { roundF16SliceGo(dst, x) }
func quantizeQ8Act(d []float32, qs []int8, x []float32) { quantizeQ8ActGo(d, qs, x) }

// sumsChunk is how many blocks the integer kernels handle per call; their
// per-block sums go to a stack buffer and are scaled in Go.
const sumsChunk = 64

func dotRow(t Type, w []byte, a *act) float32 {
	switch t {
	case F32:
		n := len(a.f) &^ 15
		if n == 0 {
			break
		}
		_ = w[4*len(a.f)-1]
		var acc [16]float32
		dotF32NEON(f32View(w), &a.f[0], n, &acc)
		return sum16(&acc) + dotF32RowGo(w[4*n:], a.f[n:])
	case F16:
		n := len(a.f) &^ 15
		if n == 0 {
			break
		}
		_ = w[2*len(a.f)-1]
		var acc [16]float32
		dotF16NEON(&w[0], &a.f[0], n, &acc)
		return sum16(&acc) + dotF16RowGo(w[2*n:], a.f[n:])
	case Q8_0, Q4_0:
		bb := q80B
		if t == Q4_0 {
			bb = q40B
		}
		nb := len(a.d)
		_ = w[nb*bb-1]
		_ = a.qs[nb*qk-1]
		var buf [4 * sumsChunk]int32
		var sum float32
		for b0 := 0; b0 < nb; b0 += sumsChunk {
			n := min(sumsChunk, nb-b0)
			if t == Q8_0 {
				sumsQ80NEON(&w[b0*bb], &a.qs[b0*qk], n, &buf[0])
			} else {
				sumsQ40NEON(&w[b0*bb], &a.qs[b0*qk], n, &buf[0])
			}
			for b := 0; b < n; b++ {
				s := (buf[4*b] + buf[4*b+1]) + (buf[4*b+2] + buf[4*b+3])
				blk := w[(b0+b)*bb:]
				dw := f16Table[uint16(blk[0])|uint16(blk[1])<<8]
				if t == Q8_0 {
					sum += float32(s) * (dw * a.d[b0+b])
				} else {
					sum += float32(s)*(dw*a.d[b0+b]) - dw*a.c[b0+b]
				}
			}
		}
		return sum
	}
	return dotRowGo(t, w, a)
}

func matVecRows(out []float32, m *Matrix, a *act, lo, hi int) {
	if !useAsm || m.Cols == 0 {
		matVecRowsGo(out, m, a, lo, hi)
		return
	}
	rb := m.rowBytes()
	for r := lo; r < hi; r++ {
		out[r] = dotRow(m.Type, m.Data[r*rb:(r+1)*rb], a)
	}
}

func matMulRows(out []float32, m *Matrix, bt *actBatch, j0, j1, lo, hi int) {
	if !useAsm || m.Cols == 0 {
		matMulRowsGo(out, m, bt, j0, j1, lo, hi)
		return
	}
	rb := m.rowBytes()
	for g := j0; g < j1; g += 4 {
		ge := min(g+4, j1)
		for r := lo; r < hi; r++ {
			w := m.Data[r*rb : (r+1)*rb]
			for j := g; j < ge; j++ {
				out[j*m.Rows+r] = dotRow(m.Type, w, &bt.a[j])
			}
		}
	}
}
