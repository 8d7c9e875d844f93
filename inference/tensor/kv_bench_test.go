package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAttentionHead times one query head's attention over npos cached
// positions of a TinyLlama-shaped cache (HeadDim 64, 4 KV heads, so rows are
// 256 elements apart): scores then the weighted sum of values, from a
// float32 cache position by position (Dot, AddScaled: the F32 path of the
// engine) and from an F16 cache by DotF16Rows and AddScaledF16Rows. It
// reports the cache bytes read per second.
func BenchmarkAttentionHead(b *testing.B) {
	const hd, stride = 64, 256
	r := rand.New(rand.NewPCG(1, 2))
	for _, npos := range []int{512, 4096} {
		k32, v32 := randVec(r, npos*stride, 1), randVec(r, npos*stride, 1)
		k16, v16 := make([]uint16, len(k32)), make([]uint16, len(v32))
		F32ToF16Slice(k16, k32)
		F32ToF16Slice(v16, v32)
		q := randVec(r, hd, 1)
		sc := make([]float32, npos)
		out := make([]float32, hd)
		b.Run(fmt.Sprintf("f32/pos=%d", npos), func(b *testing.B) {
			for b.Loop() {
				for p := range sc {
					sc[p] = Dot(q, k32[p*stride:p*stride+hd])
				}
				clear(out)
				for p := range sc {
					AddScaled(out, sc[p]*1e-3, v32[p*stride:p*stride+hd])
				}
			}
			b.ReportMetric(float64(b.N)*float64(2*npos*hd*4)/b.Elapsed().Seconds()/1e9, "cache_GB/s")
		})
		b.Run(fmt.Sprintf("f16/pos=%d", npos), func(b *testing.B) {
			for b.Loop() {
				DotF16Rows(sc, q, k16, stride)
				for p := range sc {
					sc[p] *= 1e-3
				}
				clear(out)
				AddScaledF16Rows(out, sc, v16, stride)
			}
			b.ReportMetric(float64(b.N)*float64(2*npos*hd*2)/b.Elapsed().Seconds()/1e9, "cache_GB/s")
		})
	}
}
