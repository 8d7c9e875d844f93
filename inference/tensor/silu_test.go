package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// siluInputs are values across exp32's whole range: random normals of
// several scales, the clamp edges, zeros, infinities and NaN.
func siluInputs(r *rand.Rand, n int) []float32 {
	x := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 88.02, -88.02, 87.33654, -87.33654, 88.1, -88.1,
		100, -100, 1e-40, -1e-40, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.MaxFloat32, -math.MaxFloat32}
	for len(x) < n {
		x = append(x, float32(r.NormFloat64()*math.Pow(10, float64(r.IntN(4)-1))))
	}
	return x
}

// TestSiLUMul holds the vector kernels (AVX-512, and AVX2 on amd64: see
// silu_amd64_test.go) to the scalar code bit for bit, on lengths that
// leave remainders.
func TestSiLUMul(t *testing.T) { checkSiLUMul(t, "") }

func checkSiLUMul(t *testing.T, kernel string) {
	r := rand.New(rand.NewPCG(31, 32))
	x := siluInputs(r, 4099)
	u := siluInputs(r, len(x))
	want := make([]float32, len(x))
	for i := range x {
		want[i] = SiLU(x[i]) * u[i]
	}
	for _, n := range []int{len(x), 16, 15, 7, 1, 0} {
		h := append([]float32(nil), x[:n]...)
		SiLUMul(h, u)
		for i := range h {
			if math.Float32bits(h[i]) != math.Float32bits(want[i]) && !(h[i] != h[i] && want[i] != want[i]) {
				t.Fatalf("%s n=%d: SiLU(%g)*%g = %g, scalar %g", kernel, n, x[i], u[i], h[i], want[i])
			}
		}
	}
}

// TestExp32 holds exp32 to within two float32 ulps of e^x over its range
// (Cephes' expf: about one), and to its clamped limits outside.
func TestExp32(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 1_000_000; i++ {
		x := float32(-87.3 + 175.3*float64(i)/1e6)
		got, want := float64(exp32(x)), math.Exp(float64(x))
		ulp := float64(math.Nextafter32(float32(want), float32(math.Inf(1)))) - float64(float32(want))
		if d := math.Abs(got-want) / ulp; d > worst {
			worst = d
		}
	}
	if worst > 2 {
		t.Fatalf("exp32 is %.2f ulps off", worst)
	}
	// Outside the range: the clamped values, normal and finite.
	if lo, hi := exp32(-200), exp32(200); lo != exp32(expLo) || hi != exp32(expHi) || lo < math.SmallestNonzeroFloat32*(1<<23) || math.IsInf(float64(hi), 0) || hi < 1e38 {
		t.Fatalf("exp32 limits: %g, %g", lo, hi)
	}
	if v := exp32(float32(math.NaN())); v == v {
		t.Fatal("exp32(NaN) is a number")
	}
	for _, c := range []struct{ x, want float32 }{{0, 0}, {100, 100}, {-100, 0}} {
		if got := SiLU(c.x); math.Abs(float64(got-c.want)) > 1e-30 {
			t.Errorf("SiLU(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	t.Logf("exp32: worst %.2f ulps", worst)
}

// BenchmarkSiLUMul: SiLU·u of a TinyLlama FFN row eight times over (one
// batched step's layer), beside the float64 math.Exp form the engine used
// before, in ns per element.
func BenchmarkSiLUMul(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, u := randVec(r, 8*5632, 2), randVec(r, 8*5632, 1)
	h := make([]float32, len(x))
	b.Run("kernel", func(b *testing.B) {
		for b.Loop() {
			copy(h, x)
			SiLUMul(h, u)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
	})
	b.Run("math.Exp", func(b *testing.B) {
		for b.Loop() {
			for i, v := range x {
				h[i] = v / (1 + float32(math.Exp(float64(-v)))) * u[i]
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
	})
}
