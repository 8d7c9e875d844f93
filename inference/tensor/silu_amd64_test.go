//go:build amd64 && !purego

package tensor

import "testing"

// TestSiLUMulAVX2 runs TestSiLUMul's check on the AVX2 kernel where the
// CPU would take the AVX-512 one.
func TestSiLUMulAVX2(t *testing.T) {
	if !useAVX512 {
		t.Skip("the AVX2 kernel is the one TestSiLUMul ran")
	}
	useAVX512 = false
	defer func() { useAVX512 = true }()
	checkSiLUMul(t, "AVX2")
}
