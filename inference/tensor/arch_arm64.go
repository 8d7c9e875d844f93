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

//go:noescape
func sumsQ4KNEON(w *byte, qs *int8, nb int, out *int32)

//go:noescape
func sumsQ6KNEON(w *byte, qs *int8, nb int, out *int32)

// dotQ4KNEON: NEON integer sums per 32-element sub-block, scales in Go, in
// the pure-Go kernel's order.
func dotQ4KNEON(w []byte, a *act) float32 {
	nb := len(a.d)
	_ = w[nb*q4KB-1]
	_ = a.qs[nb*qkK-1]
	_ = a.bs[nb*16-1]
	var buf [32 * 8]int32 // 8 super-blocks
	var sum float32
	for b0 := 0; b0 < nb; b0 += 8 {
		n := min(8, nb-b0)
		sumsQ4KNEON(&w[b0*q4KB], &a.qs[b0*qkK], n, &buf[0])
		for k := 0; k < n; k++ {
			b := b0 + k
			blk := w[b*q4KB : (b+1)*q4KB]
			bsum := a.bs[b*16 : b*16+16]
			s := buf[32*k : 32*k+32]
			scales := blk[4:16]
			var sumi, summ int32
			for c := 0; c < 4; c++ {
				sc1, m1 := scaleMinK4(2*c, scales)
				sc2, m2 := scaleMinK4(2*c+1, scales)
				summ += int32(m1)*(int32(bsum[4*c])+int32(bsum[4*c+1])) + int32(m2)*(int32(bsum[4*c+2])+int32(bsum[4*c+3]))
				s1 := (s[8*c] + s[8*c+1]) + (s[8*c+2] + s[8*c+3])
				s2 := (s[8*c+4] + s[8*c+5]) + (s[8*c+6] + s[8*c+7])
				sumi += int32(sc1)*s1 + int32(sc2)*s2
			}
			dd := f16Table[uint16(blk[0])|uint16(blk[1])<<8] * a.d[b]
			dm := f16Table[uint16(blk[2])|uint16(blk[3])<<8] * a.d[b]
			sum += dd*float32(sumi) - dm*float32(summ)
		}
	}
	return sum
}

func dotQ6KNEON(w []byte, a *act) float32 {
	nb := len(a.d)
	_ = w[nb*q6KB-1]
	_ = a.qs[nb*qkK-1]
	_ = a.bs[nb*16-1]
	var buf [64 * 4]int32 // 4 super-blocks
	var sum float32
	for b0 := 0; b0 < nb; b0 += 4 {
		n := min(4, nb-b0)
		sumsQ6KNEON(&w[b0*q6KB], &a.qs[b0*qkK], n, &buf[0])
		for k := 0; k < n; k++ {
			b := b0 + k
			blk := w[b*q6KB : (b+1)*q6KB]
			bsum := a.bs[b*16 : b*16+16]
			s := buf[64*k : 64*k+64]
			var sumi int32
			for j := 0; j < 16; j++ {
				sj := (s[4*j] + s[4*j+1]) + (s[4*j+2] + s[4*j+3]) - 32*int32(bsum[j])
				sumi += int32(int8(blk[192+j])) * sj
			}
			sum += f16Table[uint16(blk[208])|uint16(blk[209])<<8] * a.d[b] * float32(sumi)
		}
	}
	return sum
}

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
	case Q4_K:
		return dotQ4KNEON(w, a)
	case Q6_K:
		return dotQ6KNEON(w, a)
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

func prepareQ40(a *act) {}

// f16Halves: F16 products here take the activation as float32 only.
var f16Halves = false
