//go:build !amd64 || purego

package tensor

// laneKernel: no lane kernels without amd64 assembly; MatMulBatch runs
// MatMul.
func laneKernel(Type) (laneFunc, int32) { return nil, 0 }

// useVNNI: no AVX512-VNNI kernels here.
var useVNNI = false
