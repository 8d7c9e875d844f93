//go:build amd64 && !purego

package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func shapesAVX512(typ Type) []shape {
	if typ == Q4_K || typ == Q6_K {
		return []shape{{7, 256}, {9, 768}, {5, 2048}}
	}
	return []shape{{7, 32}, {9, 96}, {13, 256}, {5, 2048}, {3, 4096 + 96}}
}

// TestAVX512MatchesAVX2 holds the AVX-512 kernels to the AVX2 ones bit for
// bit: the VNNI builds of the int8 kernels (Q8_0, Q4_0, Q4_K, Q6_K), row and four-vector kernels
// alike (odd block counts reach the tails), and F16's four-row MatMul
// kernel. It needs a CPU with AVX-512 VNNI.
func TestAVX512MatchesAVX2(t *testing.T) {
	if !useVNNI || !useAVX512 {
		t.Skip("CPU without AVX-512 VNNI")
	}
	quad := useQuadZ
	defer func() { useVNNI, useAVX512, useQuadZ = true, true, quad }()
	r := rand.New(rand.NewPCG(11, 12))
	for _, typ := range []Type{Q8_0, Q4_0, F16, Q4_K, Q6_K} {
		for _, sh := range shapesAVX512(typ) {
			t.Run(fmt.Sprintf("%v/%dx%d", typ, sh.rows, sh.cols), func(t *testing.T) {
				m, _ := randMatrix(t, r, typ, sh.rows, sh.cols)
				const n = 9
				x := randVec(r, n*sh.cols, 1)
				run := func(vnni, z bool) ([]float32, []float32) {
					useVNNI, useAVX512, useQuadZ = vnni, vnni, z
					vec, mat := make([]float32, sh.rows), make([]float32, n*sh.rows)
					MatVec(vec, m, x[:sh.cols])
					MatMul(mat, m, x, n)
					return vec, mat
				}
				v2, m2 := run(false, false)
				// With quad, Q4_0's MatVec runs dotQ40QuadZ (512-bit);
				// without, dotQ40PairVNNI.
				for _, z := range []bool{false, quad} {
					v1, m1 := run(true, z)
					for i := range v1 {
						if v1[i] != v2[i] {
							t.Fatalf("MatVec row %d (512-bit %v): AVX-512 %g, AVX2 %g", i, z, v1[i], v2[i])
						}
					}
					for i := range m1 {
						if m1[i] != m2[i] {
							t.Fatalf("MatMul element %d: AVX-512 %g, AVX2 %g", i, m1[i], m2[i])
						}
					}
				}
			})
		}
	}
}
