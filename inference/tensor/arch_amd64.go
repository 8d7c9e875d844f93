//go:build amd64 && !purego

package tensor

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAsm is set when the CPU (and OS) support AVX2, FMA and F16C; without
// them every kernel is the pure-Go one.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA && hasF16C()

// useVNNI selects the AVX-512 VNNI builds of the Q8_0, Q4_K and Q6_K kernels
// (kernels_vnni_amd64.s): the same int32 block sums in fewer instructions.
var useVNNI = useAsm && cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL

// useAVX512 selects kernels that need AVX-512VL's registers Y16..Y31
// (kernels_avx512_amd64.s).
var useAVX512 = useAsm && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

func hasF16C() bool {
	_, _, ecx, _ := cpuid(1, 0)
	return ecx&(1<<29) != 0
}

// HasAsm reports whether the assembly kernels are in use.
func HasAsm() bool { return useAsm }

//go:noescape
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

//go:noescape
func dotF32AVX(a, b *float32, n int) float32

//go:noescape
func axpyAVX(dst, x *float32, a float32, n int)

//go:noescape
func dotF16AVX(w *byte, x *float32, n int) float32

//go:noescape
func dotBF16AVX(w *byte, x *float32, n int) float32

//go:noescape
func roundF16AVX(dst, x *float32, n int)

//go:noescape
func quantQ8AVX(d *float32, qs *int8, x *float32, nb int)

//go:noescape
func dotQ80AVX(w *byte, qs *int8, d *float32, nb int) float32

//go:noescape
func dotQ40PairAVX(w *byte, qp *int8, d, c *float32, nb int) float32

// prepareQ40 lays the activation of each group of four blocks out for
// dotQ40Pair and q40SeqRows: the first halves y_b[0:16] of the four
// blocks, then their second halves y_b[16:32].
func prepareQ40(a *act) {
	if !useAsm {
		return
	}
	n := len(a.d) &^ 3 * qk
	a.qp = grow(a.qp, n)
	for p := 0; p < n; p += 4 * qk {
		src, dst := a.qs[p:p+4*qk], a.qp[p:p+4*qk]
		for k := 0; k < 4; k++ {
			copy(dst[16*k:16*k+16], src[qk*k:qk*k+16])
			copy(dst[64+16*k:64+16*k+16], src[qk*k+16:qk*k+qk])
		}
	}
}

//go:noescape
func dotF16RowsAVX(w *byte, rb, rows int, x *float32, n int, out *float32)

//go:noescape
func dotF16RowsZ(w *byte, rb, rows int, x *uint16, n int, out *float32)

// useF16Z selects dotF16RowsZ for F16 products with a row a multiple of 64
// long, with the activation kept as halves too (act.h; ggml's way). F16
// decode, token by token alternating with dotF16RowsAVX in one process
// (TinyLlama shape, 16 rounds, twice): 1.13 times as fast, median, every
// round at least 1.05. Neither change alone had gained anything (512-bit
// registers over a float32 activation; halves in 256-bit registers).
var useF16Z = useAsm && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

// f16Halves says act.prepare keeps an F16 product's activation as halves.
var f16Halves = useF16Z

// f16Z reports whether F16 products against a use dotF16RowsZ; dotRow and
// matVecF16Rows decide alike, so a row's result does not depend on which
// of them computed it.
func f16Z(a *act) bool {
	n := len(a.f)
	return useF16Z && n > 0 && n%64 == 0 && len(a.h) == n
}

// matVecF16Rows does rows lo..hi of an F16 MatVec in one dotF16RowsZ or
// dotF16RowsAVX call where rows are whole vectors of eight (else dotRow
// adds a Go tail) and reports whether it did.
func matVecF16Rows(out []float32, m *Matrix, a *act, lo, hi int) bool {
	n := len(a.f)
	if n%8 != 0 || n == 0 || hi <= lo {
		return false
	}
	rb := m.rowBytes()
	w := m.Data[lo*rb : hi*rb]
	o := out[lo:hi]
	if f16Z(a) {
		dotF16RowsZ(&w[0], rb, hi-lo, &a.h[0], n, &o[0])
		return true
	}
	dotF16RowsAVX(&w[0], rb, hi-lo, &a.f[0], n, &o[0])
	return true
}

//go:noescape
func dotQ40AVX(w *byte, qs *int8, d, c *float32, nb int) float32

//go:noescape
func dotQ80VNNI(w *byte, qs *int8, d *float32, nb int) float32

//go:noescape
func dotQ80x4VNNI(w *byte, qs *int8, di *float32, nb, qstride int, out *float32)

//go:noescape
func dotQ4Kx4VNNI(w *byte, qs *int8, di *float32, bsi *int16, nb, qstride int, out *float32)

//go:noescape
func dotQ6Kx4VNNI(w *byte, qs *int8, di *float32, bsi *int16, nb, qstride int, out *float32)

// The int8 kernels, VNNI where the CPU has it.

func dotQ4Kx4(w *byte, qs *int8, di *float32, bsi *int16, nb, qstride int, out *float32) {
	if useVNNI {
		dotQ4Kx4VNNI(w, qs, di, bsi, nb, qstride, out)
		return
	}
	dotQ4Kx4AVX(w, qs, di, bsi, nb, qstride, out)
}

func dotQ6Kx4(w *byte, qs *int8, di *float32, bsi *int16, nb, qstride int, out *float32) {
	if useVNNI {
		dotQ6Kx4VNNI(w, qs, di, bsi, nb, qstride, out)
		return
	}
	dotQ6Kx4AVX(w, qs, di, bsi, nb, qstride, out)
}

func dotQ80(w *byte, qs *int8, d *float32, nb int) float32 {
	if useVNNI {
		return dotQ80VNNI(w, qs, d, nb)
	}
	return dotQ80AVX(w, qs, d, nb)
}

// Q4_0 in the pair order is AVX2 only: with VNNI the tile order's
// kernels run (useInter).
func dotQ40(w *byte, qs *int8, d, c *float32, nb int) float32 { return dotQ40AVX(w, qs, d, c, nb) }

func dotQ40Pair(w *byte, qp *int8, d, c *float32, nb int) float32 {
	return dotQ40PairAVX(w, qp, d, c, nb)
}

func dotQ80x4(w *byte, qs *int8, di *float32, nb, qstride int, out *float32) {
	if useVNNI {
		dotQ80x4VNNI(w, qs, di, nb, qstride, out)
		return
	}
	dotQ80x4AVX(w, qs, di, nb, qstride, out)
}

func dot(a, b []float32) float32 {
	n := len(a) &^ 7
	if !useAsm || n == 0 {
		return dotGo(a, b)
	}
	return dotF32AVX(&a[0], &b[0], n) + dotGo(a[n:], b[n:len(a)])
}

func axpy(dst []float32, a float32, x []float32) {
	n := len(dst) &^ 7
	if !useAsm || n == 0 {
		axpyGo(dst, a, x)
		return
	}
	axpyAVX(&dst[0], &x[0], a, n)
	axpyGo(dst[n:], a, x[n:len(dst)])
}

func roundF16Slice(dst, x []float32) {
	n := len(x) &^ 7
	if !useAsm || n == 0 {
		roundF16SliceGo(dst, x)
		return
	}
	roundF16AVX(&dst[0], &x[0], n)
	roundF16SliceGo(dst[n:len(x)], x[n:])
}

func quantizeQ8Act(d []float32, qs []int8, x []float32) {
	if !useAsm || len(d) == 0 {
		quantizeQ8ActGo(d, qs, x)
		return
	}
	_ = qs[len(d)*qk-1]
	_ = x[len(d)*qk-1]
	quantQ8AVX(&d[0], &qs[0], &x[0], len(d))
}

// dotRow is the product of one row with a prepared activation, in assembly
// where there is a kernel for the type.
//
//go:noescape
func dotQ4KAVX(w *byte, qs *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotQ5KAVX(w *byte, qs *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotQ6KAVX(w *byte, qs *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotQ50AVX(w *byte, qs *int8, d *float32, nb int) float32

//go:noescape
func dotIQ4NLAVX(w *byte, qs *int8, d *float32, nb int) float32

//go:noescape
func dotQ41AVX(w *byte, qs *int8, d, s *float32, nb int) float32

//go:noescape
func dotQ51AVX(w *byte, qs *int8, d, s *float32, nb int) float32

//go:noescape
func dotQ2KAVX(w *byte, qs *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotQ3KAVX(w *byte, qs *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotIQ4XSAVX(w *byte, qs *int8, d *float32, nb int) float32

func dotRow(t Type, w []byte, a *act) float32 {
	switch t {
	case Q5_0, IQ4_NL, Q4_1, Q5_1:
		return dotRowLegacy(t, w, a)
	case Q2_K, Q3_K, IQ4_XS:
		nb := len(a.d)
		if nb == 0 {
			return 0
		}
		_ = w[nb*t.BlockBytes()-1]
		_ = a.qs[nb*qkK-1]
		_ = a.bs[nb*16-1]
		switch t {
		case Q2_K:
			return dotQ2KAVX(&w[0], &a.qs[0], &a.d[0], &a.bs[0], nb)
		case Q3_K:
			return dotQ3KAVX(&w[0], &a.qs[0], &a.d[0], &a.bs[0], nb)
		}
		return dotIQ4XSAVX(&w[0], &a.qs[0], &a.d[0], nb)
	case F32:
		n := len(a.f) &^ 7
		if n == 0 {
			break
		}
		_ = w[4*len(a.f)-1]
		return dotF32AVX((*float32)(unsafe.Pointer(&w[0])), &a.f[0], n) + dotF32RowGo(w[4*n:], a.f[n:])
	case F16:
		n := len(a.f) &^ 7
		if n == 0 {
			break
		}
		_ = w[2*len(a.f)-1]
		if f16Z(a) {
			var s float32
			dotF16RowsZ(&w[0], 0, 1, &a.h[0], n, &s) // as matVecF16Rows
			return s
		}
		if n == len(a.f) {
			return dotF16AVX(&w[0], &a.f[0], n) // as dotF16RowsAVX
		}
		return dotF16AVX(&w[0], &a.f[0], n) + dotF16RowGo(w[2*n:], a.f[n:])
	case BF16:
		n := len(a.f) &^ 7
		if n == 0 {
			break
		}
		_ = w[2*len(a.f)-1]
		return dotBF16AVX(&w[0], &a.f[0], n) + dotBF16RowGo(w[2*n:], a.f[n:])
	case Q8_0:
		_ = w[len(a.d)*q80B-1]
		return dotQ80(&w[0], &a.qs[0], &a.d[0], len(a.d))
	case Q4_0:
		nb := len(a.d)
		_ = w[nb*q40B-1]
		_ = a.c[nb-1]
		if useInter {
			var o [1]float32
			q40Seq(o[:], w[:nb*q40B], nb*q40B, a)
			return o[0]
		}
		n4 := nb &^ 3
		if n4 == 0 || len(a.qp) != n4*qk {
			return dotQ40(&w[0], &a.qs[0], &a.d[0], &a.c[0], nb)
		}
		s := dotQ40Pair(&w[0], &a.qp[0], &a.d[0], &a.c[0], n4)
		if n4 < nb {
			s += dotQ40(&w[n4*q40B], &a.qs[n4*qk], &a.d[n4], &a.c[n4], nb-n4)
		}
		return s
	case Q4_K:
		_ = w[len(a.d)*q4KB-1]
		_ = a.bs[16*len(a.d)-1]
		return dotQ4KAVX(&w[0], &a.qs[0], &a.d[0], &a.bs[0], len(a.d))
	case Q5_K:
		_ = w[len(a.d)*q5KB-1]
		_ = a.bs[16*len(a.d)-1]
		return dotQ5KAVX(&w[0], &a.qs[0], &a.d[0], &a.bs[0], len(a.d))
	case Q6_K:
		_ = w[len(a.d)*q6KB-1]
		_ = a.bs[16*len(a.d)-1]
		return dotQ6KAVX(&w[0], &a.qs[0], &a.d[0], &a.bs[0], len(a.d))
	}
	return dotRowGo(t, w, a)
}

// dotRowLegacy runs the assembly kernels of legacy.go's types; the slice
// expressions are the bounds the assembly relies on.
func dotRowLegacy(t Type, w []byte, a *act) float32 {
	nb := len(a.d)
	if nb == 0 {
		return 0
	}
	_ = w[nb*t.BlockBytes()-1]
	_ = a.qs[nb*qk-1]
	switch t {
	case Q5_0:
		return dotQ50AVX(&w[0], &a.qs[0], &a.d[0], nb)
	case IQ4_NL:
		return dotIQ4NLAVX(&w[0], &a.qs[0], &a.d[0], nb)
	case Q4_1:
		_ = a.s[nb-1]
		return dotQ41AVX(&w[0], &a.qs[0], &a.d[0], &a.s[0], nb)
	}
	_ = a.s[nb-1]
	return dotQ51AVX(&w[0], &a.qs[0], &a.d[0], &a.s[0], nb)
}

func matVecRows(out []float32, m *Matrix, a *act, lo, hi int) {
	if lo = matVecInter(out, m, a, lo, hi); lo >= hi {
		return
	}
	if !useAsm || m.Cols == 0 {
		matVecRowsGo(out, m, a, lo, hi)
		return
	}
	if m.Type == Q4_0 && useInter {
		matVecQ40Seq(out, m, a, lo, hi)
		return
	}
	if m.Type == F16 && matVecF16Rows(out, m, a, lo, hi) {
		return
	}
	rb := m.rowBytes()
	for r := lo; r < hi; r++ {
		out[r] = dotRow(m.Type, m.Data[r*rb:(r+1)*rb], a)
	}
}

//go:noescape
func dotF32x4AVX(w *byte, x *float32, n, xstride int, out *float32)

//go:noescape
func dotF16x4AVX(w *byte, x *float32, n, xstride int, out *float32)

//go:noescape
func dotBF16x4AVX(w *byte, x *float32, n, xstride int, out *float32)

//go:noescape
func dotF16x4x4AVX512(w *byte, wstride int, x *float32, n, xstride int, out *float32)

//go:noescape
func dotF32x4x2AVX(w *byte, wstride int, x *float32, n, xstride int, out *float32)

//go:noescape
func dotF16x4x2AVX(w *byte, wstride int, x *float32, n, xstride int, out *float32)

//go:noescape
func dotBF16x4x2AVX(w *byte, wstride int, x *float32, n, xstride int, out *float32)

//go:noescape
func dotQ4Kx4AVX(w *byte, qs *int8, di *float32, bsi *int16, nb, qstride int, out *float32)

//go:noescape
func dotQ5Kx4AVX(w *byte, qs *int8, di *float32, bsi *int16, nb, qstride int, out *float32)

//go:noescape
func dotQ6Kx4AVX(w *byte, qs *int8, di *float32, bsi *int16, nb, qstride int, out *float32)

//go:noescape
func dotQ80x4AVX(w *byte, qs *int8, di *float32, nb, qstride int, out *float32)

// matMulRows computes rows [lo,hi) for vectors [j0,j1) (j0 a multiple of
// four). The activations come from actBatch: vector j+1's buffers follow
// vector j's, and the scales (and Q8_K sums) of each group of four vectors
// are interleaved. The slice expressions before each call are the bounds
// the assembly relies on.
func matMulRows(out []float32, m *Matrix, bt *actBatch, j0, j1, lo, hi int) {
	if !useAsm || m.Cols == 0 {
		matMulRowsGo(out, m, bt, j0, j1, lo, hi)
		return
	}
	acts := bt.a
	// F32/F16/BF16 rows of a multiple of 16 have four-vector kernels.
	float4 := m.Cols%16 == 0 && (m.Type == F32 || m.Type == F16 || m.Type == BF16)
	// Vectors outer, in groups of four, rows inner: the group's activations
	// stay in L1 while the chunk's rows (sized to fit L1/L2) stream past.
	rb := m.rowBytes()
	for g := j0; g < j1; g += 4 {
		ge := min(g+4, j1)
		r := lo
		if float4 && ge-g == 4 {
			var o [16]float32
			_ = acts[g+3].f[m.Cols-1]
			if m.Type == F16 && useAVX512 {
				for ; r+4 <= hi; r += 4 {
					w := m.Data[r*rb : (r+4)*rb]
					dotF16x4x4AVX512(&w[0], rb, &acts[g].f[0], m.Cols, m.Cols, &o[0])
					for k := 0; k < 16; k++ {
						out[(g+k%4)*m.Rows+r+k/4] = o[k]
					}
				}
			}
			for ; r+2 <= hi; r += 2 {
				w := m.Data[r*rb : (r+2)*rb]
				dotFloatx4x2(m.Type, &w[0], rb, &acts[g].f[0], m.Cols, m.Cols, &o[0])
				for k := 0; k < 4; k++ {
					out[(g+k)*m.Rows+r] = o[k]
					out[(g+k)*m.Rows+r+1] = o[4+k]
				}
			}
		}
		for ; r < hi; r++ {
			w := m.Data[r*rb : (r+1)*rb]
			j := g
			// (Q4_0 never comes here: MatMul runs its lane kernels.)
			if ge-g == 4 && (float4 || m.Type == Q8_0 || m.Type == Q4_K || m.Type == Q5_K || m.Type == Q6_K) {
				var o [4]float32
				switch m.Type {
				case Q4_K, Q5_K, Q6_K:
					nb := m.Cols / qkK
					_ = acts[j+3].qs[m.Cols-1]
					_ = bt.bsi[(g+4)*nb*16-1]
					_ = bt.di[(g+4)*nb-1]
					switch m.Type {
					case Q4_K:
						dotQ4Kx4(&w[0], &acts[j].qs[0], &bt.di[g*nb], &bt.bsi[g*nb*16], nb, m.Cols, &o[0])
					case Q5_K:
						dotQ5Kx4AVX(&w[0], &acts[j].qs[0], &bt.di[g*nb], &bt.bsi[g*nb*16], nb, m.Cols, &o[0])
					default:
						dotQ6Kx4(&w[0], &acts[j].qs[0], &bt.di[g*nb], &bt.bsi[g*nb*16], nb, m.Cols, &o[0])
					}
				case Q8_0:
					nb := m.Cols / qk
					di := bt.di[g*nb : (g+4)*nb]
					_ = acts[j+3].qs[m.Cols-1]
					dotQ80x4(&w[0], &acts[j].qs[0], &di[0], nb, m.Cols, &o[0])
				default:
					_ = acts[j+3].f[m.Cols-1]
					dotFloatx4(m.Type, &w[0], &acts[j].f[0], m.Cols, m.Cols, &o[0])
				}
				out[j*m.Rows+r] = o[0]
				out[(j+1)*m.Rows+r] = o[1]
				out[(j+2)*m.Rows+r] = o[2]
				out[(j+3)*m.Rows+r] = o[3]
				continue
			}
			for ; j < ge; j++ {
				out[j*m.Rows+r] = dotRow(m.Type, w, &acts[j])
			}
		}
	}
}

// dotFloatx4 and dotFloatx4x2 pick the float type's four-vector kernel by
// a switch, not a func value: a call through a func value would move the
// caller's output array to the heap on every row.
func dotFloatx4(t Type, w *byte, x *float32, n, xstride int, out *float32) {
	switch t {
	case F32:
		dotF32x4AVX(w, x, n, xstride, out)
	case F16:
		dotF16x4AVX(w, x, n, xstride, out)
	default:
		dotBF16x4AVX(w, x, n, xstride, out)
	}
}

func dotFloatx4x2(t Type, w *byte, wstride int, x *float32, n, xstride int, out *float32) {
	switch t {
	case F32:
		dotF32x4x2AVX(w, wstride, x, n, xstride, out)
	case F16:
		dotF16x4x2AVX(w, wstride, x, n, xstride, out)
	default:
		dotBF16x4x2AVX(w, wstride, x, n, xstride, out)
	}
}
