//go:build amd64 && !purego

package tensor

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAsm is set when the CPU (and OS) support AVX2, FMA and F16C; without
// them every kernel is the pure-Go one.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA && hasF16C()

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
func dotQ40AVX(w *byte, qs *int8, d, c *float32, nb int) float32

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
func dotQ6KAVX(w *byte, qs *int8, d *float32, bs *int16, nb int) float32

func dotRow(t Type, w []byte, a *act) float32 {
	switch t {
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
		return dotQ80AVX(&w[0], &a.qs[0], &a.d[0], len(a.d))
	case Q4_0:
		_ = w[len(a.d)*q40B-1]
		_ = a.c[len(a.d)-1]
		return dotQ40AVX(&w[0], &a.qs[0], &a.d[0], &a.c[0], len(a.d))
	case Q4_K:
		_ = w[len(a.d)*q4KB-1]
		_ = a.bs[16*len(a.d)-1]
		return dotQ4KAVX(&w[0], &a.qs[0], &a.d[0], &a.bs[0], len(a.d))
	case Q6_K:
		_ = w[len(a.d)*q6KB-1]
		_ = a.bs[16*len(a.d)-1]
		return dotQ6KAVX(&w[0], &a.qs[0], &a.d[0], &a.bs[0], len(a.d))
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

func matMulRows(out []float32, m *Matrix, acts []act, j0, j1, lo, hi int) {
	if !useAsm || m.Cols == 0 {
		matMulRowsGo(out, m, acts, j0, j1, lo, hi)
		return
	}
	rb := m.rowBytes()
	for r := lo; r < hi; r++ {
		w := m.Data[r*rb : (r+1)*rb]
		for j := j0; j < j1; j++ {
			out[j*m.Rows+r] = dotRow(m.Type, w, &acts[j])
		}
	}
}
