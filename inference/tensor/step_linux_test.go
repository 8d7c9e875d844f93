//go:build amd64 && !purego

package tensor

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hugeCopy copies m's bytes into anonymous memory advised for huge pages,
// as gguf.OpenResident holds a model.
func hugeCopy(b *testing.B, m *Matrix) *Matrix {
	mem, err := unix.Mmap(-1, 0, len(m.Data)+2<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Munmap(mem) })
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	data := mem[:len(m.Data):len(m.Data)]
	copy(data, m.Data)
	return &Matrix{Type: m.Type, Rows: m.Rows, Cols: m.Cols, Data: data}
}

// BenchmarkQ40Step times the Q4_0 products of one TinyLlama decode step
// (22 layers' projections and the output, as MatVec each, on the worker
// pool, weights in huge pages) three ways, alternating step by step in one
// process so that all three see the same load: plain rows in the pair
// kernels' order ("pair", CPUs without the tile kernels), plain rows in
// the tile order ("seq", a mapped file) and interleaved rows ("inter", a
// resident model). It reports the median milliseconds per step of each
// and the weights' GB/s.
func BenchmarkQ40Step(b *testing.B) {
	if !useInter {
		b.Skip("CPU without the tile kernels")
	}
	shapes := []shape{{2048, 2048}, {256, 2048}, {256, 2048}, {2048, 2048}, {5632, 2048}, {5632, 2048}, {2048, 5632}}
	r := rand.New(rand.NewPCG(1, 2))
	var plain, inter []*Matrix
	var bytes int
	for l := 0; l < 22; l++ {
		for _, sh := range shapes {
			if l > 0 {
				// One layer's weights quantized, copied for the others.
				src := plain[len(plain)-len(shapes)]
				plain = append(plain, hugeCopy(b, src))
				continue
			}
			data, err := Quantize(Q4_0, randVec(r, sh.rows*sh.cols, 0.5))
			if err != nil {
				b.Fatal(err)
			}
			plain = append(plain, hugeCopy(b, &Matrix{Type: Q4_0, Rows: sh.rows, Cols: sh.cols, Data: data}))
		}
	}
	out, err := Quantize(Q4_0, randVec(r, 32000*2048, 0.5))
	if err != nil {
		b.Fatal(err)
	}
	plain = append(plain, hugeCopy(b, &Matrix{Type: Q4_0, Rows: 32000, Cols: 2048, Data: out}))
	for _, m := range plain {
		im := hugeCopy(b, m)
		im.Interleave()
		inter = append(inter, im)
		bytes += len(m.Data)
	}
	x := randVec(r, 5632, 1)
	res := make([]float32, 32000)
	step := func(ms []*Matrix) {
		for _, m := range ms {
			MatVec(res[:m.Rows], m, x[:m.Cols])
		}
	}
	ways := []struct {
		name  string
		ms    []*Matrix
		inter bool
	}{{"pair", plain, false}, {"seq", plain, true}, {"inter", inter, true}}
	times := make([][]time.Duration, len(ways))
	saved := useInter
	defer func() { useInter = saved }()
	for i := range ways {
		useInter = ways[i].inter
		step(ways[i].ms) // pages in
	}
	b.ResetTimer()
	for b.Loop() {
		for i, w := range ways {
			useInter = w.inter
			t := time.Now()
			step(w.ms)
			times[i] = append(times[i], time.Since(t))
		}
	}
	for i, w := range ways {
		slices.Sort(times[i])
		med := times[i][len(times[i])/2]
		b.ReportMetric(float64(med.Microseconds())/1e3, fmt.Sprintf("%s_ms", w.name))
		b.ReportMetric(float64(bytes)/med.Seconds()/1e9, fmt.Sprintf("%s_GB/s", w.name))
	}
}
