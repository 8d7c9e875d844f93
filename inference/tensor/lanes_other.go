//go:build !amd64 || purego

package tensor

// laneKernel: no lane kernels without amd64 assembly; MatMulBatch runs
// MatMul.
func laneKernel(Type) laneFunc { return nil }

// useVNNI: no AVX512-VNNI kernels here.
var useVNNI = false

// matMulQ80: no Q8_0 prompt kernel here.
func matMulQ80(out []float32, m *Matrix, x []float32, n int) bool { return false }

// matMulQ4K: no Q4_K prompt kernel here.
func matMulQ4K(out []float32, m *Matrix, x []float32, n int) bool { return false }

// transposeBlock sets dst[l*stride+r] = src[r*sstride+l] for r, l < 8.
func transposeBlock(dst []float32, stride int, src []float32, sstride int) {
	for r := range 8 {
		for l := range 8 {
			dst[l*stride+r] = src[r*sstride+l]
		}
	}
}
