//go:build !amd64 || purego

package tensor

// laneKernel: no lane kernels without amd64 assembly; MatMulBatch runs
// MatMul.
func laneKernel(Type) laneFunc { return nil }

// useVNNI: no AVX512-VNNI kernels here.
var useVNNI = false

// laneWide: no lane kernels, no wide layout.
func laneWide() bool { return false }
