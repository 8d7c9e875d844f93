package tensor

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// Weight sets larger than any last-level cache, so MatVec streams from DRAM
// as decode does.
const benchWorkingSet = 512 << 20

// bestBW is the highest read bandwidth seen in this run: other load on a
// shared machine only ever lowers a measurement.
var bestBW float64

// readBandwidth measures the plain read bandwidth (GB/s) of summing a large
// []uint64 with as many goroutines as the kernels use, the ceiling a
// bandwidth-bound MatVec can approach, and returns the best seen so far.
func readBandwidth() float64 {
	buf := make([]uint64, benchWorkingSet/8)
	for i := range buf {
		buf[i] = uint64(i)
	}
	w := workers()
	best := time.Duration(1 << 62)
	var sink uint64
	for rep := 0; rep < 5; rep++ {
		start := time.Now()
		var wg sync.WaitGroup
		sums := make([]uint64, w)
		per := len(buf) / w
		for g := 0; g < w; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := buf[g*per : (g+1)*per]
				var a, b, c, d uint64
				for i := 0; i+4 <= len(s); i += 4 {
					a += s[i]
					b += s[i+1]
					c += s[i+2]
					d += s[i+3]
				}
				sums[g] = a + b + c + d
			}()
		}
		wg.Wait()
		best = min(best, time.Since(start))
		for _, s := range sums {
			sink += s
		}
	}
	_ = sink
	bestBW = max(bestBW, float64(len(buf)*8)/best.Seconds()/1e9)
	return bestBW
}

func BenchmarkMemRead(b *testing.B) {
	gbs := readBandwidth()
	for b.Loop() {
	}
	b.ReportMetric(gbs, "GB/s")
}

// benchTypes are the types the benchmarks run: every supported one.
var benchTypes = append(append([]Type(nil), allTypes...), newTypes...)

func benchMatrices(b testing.TB, typ Type, rows, cols int) []*Matrix {
	r := rand.New(rand.NewPCG(1, 1))
	var data []byte
	if typ.Supported() && slices.Contains(newTypes, typ) {
		// No quantizer for these: random blocks under sane scales.
		data = rawMatrixOf(r, typ, rows, cols).Data
	} else {
		var err error
		if data, err = Quantize(typ, randVec(r, rows*cols, 0.5)); err != nil {
			b.Fatal(err)
		}
	}
	k := max(1, min(benchWorkingSet/len(data), 64))
	ms := make([]*Matrix, k)
	for i := range ms {
		d := make([]byte, len(data))
		copy(d, data)
		ms[i], _ = NewMatrix(typ, rows, cols, d)
	}
	return ms
}

// BenchmarkMatVec measures decode-shaped products (5632x2048, TinyLlama's
// FFN) over a working set larger than the caches, reporting weight GB/s and
// its ratio to the plain read bandwidth measured in the same run.
func BenchmarkMatVec(b *testing.B) {
	const rows, cols = 5632, 2048
	for _, typ := range benchTypes {
		b.Run(typ.String(), func(b *testing.B) {
			ms := benchMatrices(b, typ, rows, cols)
			x := randVec(rand.New(rand.NewPCG(2, 2)), cols, 1)
			out := make([]float32, rows)
			bytes := len(ms[0].Data)
			var bw float64 // the read bandwidth, measured right after the loop
			b.SetBytes(int64(bytes))
			b.ResetTimer()
			i := 0
			cpu0 := processCPU()
			for b.Loop() {
				MatVec(out, ms[i%len(ms)], x)
				i++
			}
			cpu := processCPU() - cpu0
			if cpu > 0 {
				b.ReportMetric(float64(bytes)*float64(b.N)/cpu.Seconds()/1e9, "GB/cpu-s")
			}
			gbs := float64(bytes) * float64(b.N) / b.Elapsed().Seconds() / 1e9
			b.StopTimer()
			bw = readBandwidth()
			b.ReportMetric(gbs, "GB/s")
			b.ReportMetric(bw, "memGB/s")
			b.ReportMetric(gbs/bw, "ratio")
		})
	}
}

// BenchmarkMatMul measures prompt-shaped products (64 vectors through a
// 2048x2048 matrix) in GFLOP/s (2 per multiply-add), the tokens/s that rate
// gives TinyLlama-1.1B's ~1.0e9 matrix parameters, and, as the reference
// measured in the same run, the speed-up over 64 separate MatVec calls (the
// decode way). Both cycle through copies of the matrix larger than the
// caches, as a model's layers are.
func BenchmarkMatMul(b *testing.B) {
	const rows, cols, n = 2048, 2048, 64
	for _, typ := range benchTypes {
		b.Run(typ.String(), func(b *testing.B) {
			ms := benchMatrices(b, typ, rows, cols)
			x := randVec(rand.New(rand.NewPCG(2, 2)), n*cols, 1)
			out := make([]float32, n*rows)
			ref := time.Duration(1 << 62)
			for rep := 0; rep < 3; rep++ {
				start := time.Now()
				for j := 0; j < n; j++ {
					MatVec(out[j*rows:(j+1)*rows], ms[(rep*n+j)%len(ms)], x[j*cols:(j+1)*cols])
				}
				ref = min(ref, time.Since(start))
			}
			b.ResetTimer()
			i := 0
			cpu0 := processCPU()
			for b.Loop() {
				MatMul(out, ms[i%len(ms)], x, n)
				i++
			}
			cpu := processCPU() - cpu0
			per := b.Elapsed().Seconds() / float64(b.N)
			flops := 2 * float64(rows*cols*n) / per
			b.ReportMetric(flops/1e9, "GFLOP/s")
			if cpu > 0 {
				b.ReportMetric(2*float64(rows*cols*n)*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
			}
			b.ReportMetric(flops/(2*1.0e9), "tinyllama-tok/s")
			b.ReportMetric(ref.Seconds()/per, "x-vs-matvec")
		})
	}
}

// BenchmarkKernel measures one core's row kernel on cache-resident weights
// (64 rows of 2048): the compute ceiling, independent of DRAM.
func BenchmarkKernel(b *testing.B) {
	const rows, cols = 64, 2048
	for _, typ := range benchTypes {
		b.Run(typ.String(), func(b *testing.B) {
			m := benchMatrices(b, typ, rows, cols)[0]
			x := randVec(rand.New(rand.NewPCG(2, 2)), cols, 1)
			var a act
			a.prepare(typ, x)
			out := make([]float32, rows)
			b.SetBytes(int64(len(m.Data)))
			cpu0 := processCPU()
			for b.Loop() {
				matVecRows(out, m, &a, 0, rows)
			}
			if cpu := processCPU() - cpu0; cpu > 0 {
				b.ReportMetric(float64(len(m.Data))*float64(b.N)/cpu.Seconds()/1e9, "GB/cpu-s")
			}
		})
	}
}

// BenchmarkMatMulShapes measures MatMul on the shapes of a TinyLlama layer
// (Q/O 2048x2048, K/V 256x2048, gate/up 5632x2048, down 2048x5632) with a
// 64-vector prompt, in GFLOP per CPU-second (2 per multiply-add): the rate
// per core that other load on the machine does not distort. Each shape
// cycles through copies of its matrix larger than the caches.
func BenchmarkMatMulShapes(b *testing.B) {
	const n = 64
	shapes := [][2]int{{2048, 2048}, {256, 2048}, {5632, 2048}, {2048, 5632}}
	for _, typ := range []Type{F16, Q8_0, Q4_0, Q4_K, Q6_K} {
		for _, sh := range shapes {
			rows, cols := sh[0], sh[1]
			b.Run(fmt.Sprintf("%v/%dx%d", typ, rows, cols), func(b *testing.B) {
				ms := benchMatrices(b, typ, rows, cols)
				ms = ms[:min(len(ms), max(1, (64<<20)/len(ms[0].Data)))] // past L3
				x := randVec(rand.New(rand.NewPCG(2, 2)), n*cols, 1)
				out := make([]float32, n*rows)
				i := 0
				cpu0 := processCPU()
				for b.Loop() {
					MatMul(out, ms[i%len(ms)], x, n)
					i++
				}
				if cpu := processCPU() - cpu0; cpu > 0 {
					b.ReportMetric(2*float64(rows*cols*n)*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}

// BenchmarkPoolPass times one parallelFor of two chunks of 20 µs of busy
// work, as a decode step's shortest products are: with both workers on it
// a pass takes about one chunk's time (serial_share near 0.5), with the
// caller alone two (near 1). The pool's wake-up latency is what it shows.
func BenchmarkPoolPass(b *testing.B) {
	const work = 20 * time.Microsecond
	busy := func(lo, hi int) {
		for s := time.Now(); time.Since(s) < work; {
		}
	}
	for b.Loop() {
		parallelFor(2, 1, busy)
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/(2*work.Seconds()), "serial_share")
}
