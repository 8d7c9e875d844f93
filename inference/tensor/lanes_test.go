package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// laneTestTypes are the types MatMulBatch is checked on: those with lane
// kernels and those it hands to MatMul.
var laneTestTypes = []Type{Q4_0, Q8_0, Q4_K, Q6_K, F16}

// q8Ref is x as the Q8_0 activation the kernels see, dequantized.
func q8Ref(x []float32) []float64 {
	nb := len(x) / qk
	d, qs := make([]float32, nb), make([]int8, len(x))
	quantizeQ8ActGo(d, qs, x)
	out := make([]float64, len(x))
	for i, q := range qs {
		out[i] = float64(d[i/qk]) * float64(q)
	}
	return out
}

// TestMatMulBatch checks MatMulBatch on 1 to 17 vectors (lane groups
// partly filled, more than one group) against the reference
// dequantization: for the lane types exactly up to float rounding (the
// activation quantized to Q8_0 as the kernels do), for the others within
// the activation quantization's error; and against MatVec of each vector.
// Every kernel set the CPU can run is checked (kernelSets).
func TestMatMulBatch(t *testing.T) {
	t.Run("one worker", func(t *testing.T) {
		// parallelFor hands a single worker every row at once.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		checkMatMulBatch(t, kernelSets()[0], Q4_0, 100, 512)
	})
	for _, ks := range kernelSets() {
		for _, typ := range laneTestTypes {
			t.Run(fmt.Sprintf("%v/%v", typ, ks), func(t *testing.T) {
				for _, cols := range []int{256, 512} {
					checkMatMulBatch(t, ks, typ, 67, cols)
				}
				if typ.BlockElems() == qk {
					checkMatMulBatch(t, ks, typ, 32, 64)
				}
			})
		}
	}
}

// kernelSet is a choice of int8 kernels a CPU may run: with AVX-512
// VNNI or AVX2 only, and Q4_0 in the tile kernels' order or the pair
// kernels' (AVX2 builds: with VNNI but not the tile order, as on a CPU
// without AVX-512BW).
type kernelSet struct{ vnni, inter bool }

func (k kernelSet) String() string {
	switch {
	case k.inter:
		return "inter"
	case k.vnni:
		return "vnni"
	}
	return "avx2"
}

// kernelSets lists the kernel sets this CPU can run, its own first.
func kernelSets() []kernelSet {
	sets := []kernelSet{{useVNNI, useInter}}
	if useInter {
		sets = append(sets, kernelSet{true, false})
	}
	if useVNNI {
		sets = append(sets, kernelSet{false, false})
	}
	return sets
}

// use selects the kernel set k; the returned function restores the CPU's
// own.
func (k kernelSet) use() func() {
	v, i := useVNNI, useInter
	useVNNI, useInter = k.vnni, k.inter
	return func() { useVNNI, useInter = v, i }
}

func checkMatMulBatch(t *testing.T, ks kernelSet, typ Type, rows, cols int) {
	defer ks.use()()
	r := rand.New(rand.NewPCG(3, uint64(typ)))
	m, w := quantMatrix(t, r, typ, rows, cols)
	kern := laneKernel(typ)
	for _, n := range []int{1, 2, 3, 8, 9, 16, 17} {
		x := randVec(r, n*cols, 1)
		got := make([]float32, n*rows)
		MatMulBatch(got, m, x, n)
		one := make([]float32, rows)
		for j := range n {
			xr := q8Ref(x[j*cols : (j+1)*cols])
			MatVec(one, m, x[j*cols:(j+1)*cols])
			for i := range rows {
				var ref, mag float64
				for k := range cols {
					ref += float64(w[i*cols+k]) * xr[k]
					mag += math.Abs(float64(w[i*cols+k]) * xr[k])
				}
				g := float64(got[j*rows+i])
				tol := 1e-5 * mag
				if kern == nil || n == 1 {
					tol = 2e-2 * mag // Q8_K and F16 activations, or MatVec's kernels
				}
				if math.Abs(g-ref) > tol {
					t.Fatalf("%dx%d n=%d vector %d row %d: %g, reference %g (tolerance %g)", rows, cols, n, j, i, g, ref, tol)
				}
				if math.Float32bits(got[j*rows+i]) != math.Float32bits(one[i]) {
					t.Fatalf("n=%d vector %d row %d: %g, MatVec %g (a batched vector must get MatVec's bits)", n, j, i, g, one[i])
				}
			}
		}
	}
}

// BenchmarkMatMulBatch measures decode-step products (TinyLlama's FFN,
// 5632x2048, over copies larger than the caches) of n vectors through
// MatMulBatch beside, in the same run, MatMul and one MatVec (one
// sequence's step): vec/s is vectors multiplied per second, x-vs-matvec the
// speed-up over n MatVec calls.
func BenchmarkMatMulBatch(b *testing.B) {
	const rows, cols = 5632, 2048
	for _, typ := range []Type{Q4_0, Q8_0} {
		ms := benchMatrices(b, typ, rows, cols)
		for _, n := range []int{8, 16} {
			x := randVec(rand.New(rand.NewPCG(2, 2)), n*cols, 1)
			out := make([]float32, n*rows)
			for _, f := range []struct {
				name string
				fn   func(out []float32, m *Matrix, x []float32, n int)
			}{{"batch", MatMulBatch}, {"matmul", MatMul}, {"matvec", func(out []float32, m *Matrix, x []float32, n int) {
				MatVec(out[:rows], m, x[:cols])
			}}} {
				b.Run(fmt.Sprintf("%v/n=%d/%s", typ, n, f.name), func(b *testing.B) {
					i := 0
					cpu0 := processCPU()
					for b.Loop() {
						f.fn(out, ms[i%len(ms)], x, n)
						i++
					}
					cpu := processCPU() - cpu0
					vecs := n
					if f.name == "matvec" {
						vecs = 1
					}
					b.ReportMetric(float64(vecs*b.N)/b.Elapsed().Seconds(), "vec/s")
					b.ReportMetric(float64(cpu)/float64(vecs*b.N*rows*cols/qk), "cpu-ns/block-vec")
				})
			}
		}
	}
}

// BenchmarkLaneKernel measures one core's lane kernel on cache-resident
// weights (64 rows of 2048) beside the single-vector row kernel in the same
// run, in CPU nanoseconds per block and vector.
func BenchmarkLaneKernel(b *testing.B) {
	const rows, cols = 64, 2048
	for _, typ := range []Type{Q4_0} {
		m := benchMatrices(b, typ, rows, cols)[0]
		nb := cols / qk
		x := randVec(rand.New(rand.NewPCG(2, 2)), laneW*cols, 1)
		var a act
		a.prepare(typ, x[:cols])
		out := make([]float32, rows*laneW)
		for _, ks := range kernelSets() {
			restore := ks.use()
			kern := laneKernel(typ)
			var p lanePack
			p.pack(x, laneW, cols)
			restore()
			if kern == nil {
				continue
			}
			b.Run(fmt.Sprintf("%v/lanes/%v", typ, ks), func(b *testing.B) {
				cpu0 := processCPU()
				for b.Loop() {
					kern(m.Data, m.rowBytes(), rows, &p, 0, nb, out)
				}
				b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*rows*nb*laneW), "cpu-ns/block-vec")
			})
		}
		b.Run(fmt.Sprintf("%v/matvec", typ), func(b *testing.B) {
			cpu0 := processCPU()
			for b.Loop() {
				matVecRows(out, m, &a, 0, rows)
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*rows*nb), "cpu-ns/block-vec")
		})
	}
}

// BenchmarkLaneKernelDRAM is BenchmarkLaneKernel on weights streamed from
// memory (TinyLlama's FFN, copies larger than the caches), one core.
func BenchmarkLaneKernelDRAM(b *testing.B) {
	const rows, cols = 5632, 2048
	typ := Q4_0
	ms := benchMatrices(b, typ, rows, cols)
	nb := cols / qk
	x := randVec(rand.New(rand.NewPCG(2, 2)), laneW*cols, 1)
	var a act
	a.prepare(typ, x[:cols])
	out := make([]float32, rows*laneW)
	for _, ks := range kernelSets() {
		restore := ks.use()
		kern := laneKernel(typ)
		var p lanePack
		p.pack(x, laneW, cols)
		restore()
		b.Run(fmt.Sprintf("%v/lanes/%v", typ, ks), func(b *testing.B) {
			cpu0 := processCPU()
			i := 0
			for b.Loop() {
				m := ms[i%len(ms)]
				i++
				for r := 0; r < rows; r += laneRows {
					kern(m.Data[r*m.rowBytes():], m.rowBytes(), laneRows, &p, 0, nb, out)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*rows*nb*laneW), "cpu-ns/block-vec")
		})
	}
	b.Run(fmt.Sprintf("%v/matvec", typ), func(b *testing.B) {
		cpu0 := processCPU()
		i := 0
		for b.Loop() {
			matVecRows(out, ms[i%len(ms)], &a, 0, rows)
			i++
		}
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*rows*nb), "cpu-ns/block-vec")
	})
}

// TestMatMulEach: each vector's result is MatVec's to the bit, for 1 to 9
// vectors and rows split over the pool.
func TestMatMulEach(t *testing.T) {
	const rows, cols = 301, 512
	for _, typ := range laneTestTypes {
		r := rand.New(rand.NewPCG(5, uint64(typ)))
		m, _ := quantMatrix(t, r, typ, rows, cols)
		for _, n := range []int{1, 2, 5, 9} {
			x := randVec(r, n*cols, 1)
			got := make([]float32, n*rows)
			MatMulEach(got, m, x, n)
			one := make([]float32, rows)
			for j := range n {
				MatVec(one, m, x[j*cols:(j+1)*cols])
				for i := range rows {
					if math.Float32bits(got[j*rows+i]) != math.Float32bits(one[i]) {
						t.Fatalf("%v n=%d vector %d row %d: %g, MatVec %g", typ, n, j, i, got[j*rows+i], one[i])
					}
				}
			}
		}
	}
}

// TestMatMulBatchExactQ40 checks that the Q4_0 lane kernels, through
// MatMulBatch and MatMul, give each vector MatVec's result bit for bit, on
// widths of whole groups of four blocks, with a remainder, and below four
// blocks.
func TestMatMulBatchExactQ40(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.String(), func(t *testing.T) {
			defer ks.use()()
			r := rand.New(rand.NewPCG(7, 7))
			for _, cols := range []int{32, 64, 96, 128, 160, 224, 2048, 2080} {
				const rows = 37
				m, _ := quantMatrix(t, r, Q4_0, rows, cols)
				for _, n := range []int{2, 8, 11, 64} {
					x := randVec(r, n*cols, 1)
					got, mm := make([]float32, n*rows), make([]float32, n*rows)
					MatMulBatch(got, m, x, n)
					MatMul(mm, m, x, n)
					one := make([]float32, rows)
					for j := range n {
						MatVec(one, m, x[j*cols:(j+1)*cols])
						for i := range rows {
							if g := got[j*rows+i]; math.Float32bits(g) != math.Float32bits(one[i]) {
								t.Fatalf("cols=%d n=%d vector %d row %d: %g, MatVec %g", cols, n, j, i, g, one[i])
							}
							if g := mm[j*rows+i]; math.Float32bits(g) != math.Float32bits(one[i]) {
								t.Fatalf("MatMul cols=%d n=%d vector %d row %d: %g, MatVec %g", cols, n, j, i, g, one[i])
							}
						}
					}
				}
			}
		})
	}
}

// TestMatMulPrompt checks MatMul of Q8_0 and Q4_K weights (the prompt
// lane kernels where there is assembly) against the reference
// dequantization, exactly up to float rounding, on rows that are and are
// not whole tiles and on widths of one block and more; and that each
// vector's results are the same bits whatever n and its place among the
// vectors (a prompt's rows must not depend on how it is split into
// chunks). On a CPU with AVX512-VNNI the AVX2 kernels run too
// (TestAVX512MatchesAVX2 holds the two to the same bits).
func TestMatMulPrompt(t *testing.T) {
	for _, typ := range []Type{Q8_0, Q4_K} {
		for _, ks := range kernelSets() {
			t.Run(fmt.Sprintf("%v/%v", typ, ks), func(t *testing.T) {
				defer ks.use()()
				shapes := [][2]int{{37, 64}, {40, 32}, {67, 512}, {3, 96}}
				if typ == Q4_K {
					shapes = [][2]int{{37, 256}, {40, 512}, {3, 768}}
				}
				for _, sh := range shapes {
					checkMatMulPrompt(t, typ, sh[0], sh[1])
				}
			})
		}
	}
}

// q8KRef is x as the Q8_K activation the kernels see, dequantized.
func q8KRef(x []float32) []float64 {
	out := make([]float64, len(x))
	var qs [qkK]int8
	var bs [16]int16
	for b := 0; b < len(x)/qkK; b++ {
		var d float32
		quantQ8KBlock(&d, qs[:], bs[:], x[b*qkK:(b+1)*qkK])
		for i, q := range qs {
			out[b*qkK+i] = float64(d) * float64(q)
		}
	}
	return out
}

func checkMatMulPrompt(t *testing.T, typ Type, rows, cols int) {
	r := rand.New(rand.NewPCG(11, uint64(cols)))
	m, w := quantMatrix(t, r, typ, rows, cols)
	ref := q8Ref
	if typ == Q4_K {
		ref = q8KRef
	}
	const n = 19
	x := randVec(r, n*cols, 1)
	got := make([]float32, n*rows)
	MatMul(got, m, x, n)
	for j := range n {
		xr := ref(x[j*cols : (j+1)*cols])
		for i := range rows {
			var want, mag float64
			for k := range cols {
				want += float64(w[i*cols+k]) * xr[k]
				mag += math.Abs(float64(w[i*cols+k]) * xr[k])
			}
			if g := float64(got[j*rows+i]); math.Abs(g-want) > 1e-5*mag {
				t.Fatalf("%dx%d vector %d row %d: %g, reference %g", rows, cols, j, i, g, want)
			}
		}
	}
	// Vectors 5..7 again, as a pair and within other groups.
	for _, k := range []int{2, 3, 9, 17} {
		sub := make([]float32, k*rows)
		xs := make([]float32, k*cols)
		for v := range k {
			copy(xs[v*cols:], x[(5+v%3)*cols:(6+v%3)*cols])
		}
		MatMul(sub, m, xs, k)
		for v := range k {
			for i := range rows {
				if a, b := sub[v*rows+i], got[(5+v%3)*rows+i]; math.Float32bits(a) != math.Float32bits(b) {
					t.Fatalf("%dx%d n=%d vector %d row %d: %g, in the n=%d product %g", rows, cols, k, v, i, a, n, b)
				}
			}
		}
	}
}

// quantMatrix is a rows×cols matrix of typ quantized from random weights,
// and its dequantized weights.
func quantMatrix(t *testing.T, r *rand.Rand, typ Type, rows, cols int) (*Matrix, []float32) {
	t.Helper()
	data, err := Quantize(typ, randVec(r, rows*cols, 0.5))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMatrix(typ, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Dequantize(typ, data)
	if err != nil {
		t.Fatal(err)
	}
	return m, w
}
