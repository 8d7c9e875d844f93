//go:build (!amd64 && !arm64) || purego

package tensor

// Without assembly every kernel is the pure-Go one.

// HasAsm reports whether the assembly kernels are in use.
func HasAsm() bool { return false }

func dot(a, b []float32) float32                        { return dotGo(a, b) }
func axpy(dst []float32, a float32, x []float32)        { axpyGo(dst, a, x) }
func roundF16Slice(dst, x []float32)                    { roundF16SliceGo(dst, x) }
func quantizeQ8Act(d []float32, qs []int8, x []float32) { quantizeQ8ActGo(d, qs, x) }

func matVecRows(out []float32, m *Matrix, a *act, lo, hi int) { matVecRowsGo(out, m, a, lo, hi) }

func matMulRows(out []float32, m *Matrix, bt *actBatch, j0, j1, lo, hi int) {
	matMulRowsGo(out, m, bt, j0, j1, lo, hi)
}

func prepareQ40(a *act) {}

// f16Halves: F16 products here take the activation as float32 only.
var f16Halves = false
