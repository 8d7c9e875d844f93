//go:build !amd64 || purego

package tensor

// useInter: no tile kernels here, so Interleave leaves matrices plain.
var useInter = false

func matVecInter(out []float32, m *Matrix, a *act, lo, hi int) int { return lo }

func matMulInter(out []float32, m *Matrix, x []float32, n int) {
	panic("tensor: interleaved matrix without tile kernels")
}
