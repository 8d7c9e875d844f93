//go:build amd64 && !purego

package tensor

import (
	"fmt"
	"math"
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
// bit: the VNNI builds of the int8 kernels (Q8_0, Q4_K, Q6_K), row and
// four-vector kernels alike (odd block counts reach the tails), and F16's
// four-row MatMul kernel. (Q4_0 with VNNI sums in the tile order, which
// has no AVX2 build: TestInterleaveExact checks it.) It needs a CPU with
// AVX-512 VNNI.
func TestAVX512MatchesAVX2(t *testing.T) {
	if !useVNNI || !useAVX512 {
		t.Skip("CPU without AVX-512 VNNI")
	}
	inter := useInter
	defer func() { useVNNI, useAVX512, useInter = true, true, inter }()
	r := rand.New(rand.NewPCG(11, 12))
	for _, typ := range []Type{Q8_0, F16, Q4_K, Q6_K} {
		for _, sh := range shapesAVX512(typ) {
			t.Run(fmt.Sprintf("%v/%dx%d", typ, sh.rows, sh.cols), func(t *testing.T) {
				m, _ := randMatrix(t, r, typ, sh.rows, sh.cols)
				const n = 9
				x := randVec(r, n*sh.cols, 1)
				run := func(vnni bool) ([]float32, []float32) {
					useVNNI, useAVX512, useInter = vnni, vnni, vnni && inter
					vec, mat := make([]float32, sh.rows), make([]float32, n*sh.rows)
					MatVec(vec, m, x[:sh.cols])
					MatMul(mat, m, x, n)
					return vec, mat
				}
				v2, m2 := run(false)
				v1, m1 := run(true)
				for i := range v1 {
					if v1[i] != v2[i] {
						t.Fatalf("MatVec row %d: AVX-512 %g, AVX2 %g", i, v1[i], v2[i])
					}
				}
				for i := range m1 {
					if m1[i] != m2[i] {
						t.Fatalf("MatMul element %d: AVX-512 %g, AVX2 %g", i, m1[i], m2[i])
					}
				}
			})
		}
	}
}

// TestF16ZKernel holds dotF16RowsZ (512-bit, activation as halves) to the
// 256-bit kernel within rounding (the sums are grouped differently), and
// checks that MatVec's rows and dotRow give the same bits (both decide
// alike which kernel runs). It needs AVX-512.
func TestF16ZKernel(t *testing.T) {
	if !useF16Z {
		t.Skip("CPU without AVX-512")
	}
	defer func() { useF16Z = true }()
	r := rand.New(rand.NewPCG(13, 14))
	for _, sh := range []shape{{7, 64}, {9, 2048}, {5, 5632}, {3, 96}} {
		m, w := randMatrix(t, r, F16, sh.rows, sh.cols)
		x := randVec(r, sh.cols, 1)
		run := func(z bool) []float32 {
			useF16Z = z
			out := make([]float32, sh.rows)
			MatVec(out, m, x)
			return out
		}
		avx2, z := run(false), run(true)
		var a act
		a.prepare(F16, x)
		for i := range z {
			var mag float64
			for j := range w[i] {
				mag += math.Abs(w[i][j] * float64(x[j]))
			}
			if d := math.Abs(float64(z[i] - avx2[i])); d > 1e-5*mag+1e-30 {
				t.Fatalf("%dx%d row %d: 512-bit %g, 256-bit %g", sh.rows, sh.cols, i, z[i], avx2[i])
			}
			rb := m.rowBytes()
			if got := dotRow(m.Type, m.Data[i*rb:(i+1)*rb], &a); got != z[i] {
				t.Fatalf("%dx%d row %d: dotRow %g, MatVec %g", sh.rows, sh.cols, i, got, z[i])
			}
		}
	}
}
