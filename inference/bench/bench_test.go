package bench

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/tensor"
	"github.com/cairnhub/cairn/internal/cpu"
)

// benchCase is one model type of the benchmarks: a tensor type Cairn's
// generator writes, or a llama-quantize file type (quant, e.g. "Q4_K_M")
// made from the F16 model by the binary LLAMA_CPP_QUANTIZE names; without
// it that case is skipped.
type benchCase struct {
	typ   tensor.Type
	quant string
}

func (c benchCase) String() string {
	if c.quant != "" {
		return c.quant
	}
	return c.typ.String()
}

var benchTypes = []benchCase{{typ: tensor.Q4_0}, {typ: tensor.Q8_0}, {typ: tensor.F16}, {quant: "Q4_K_M"}}

const (
	benchCtx    = 512
	prefillLen  = 64
	bandwidthMB = 512
)

// bestBW is the highest memory bandwidth seen so far in this run: other
// load on the machine only ever lowers a measurement.
var bestBW float64

func memBW() float64 {
	bestBW = max(bestBW, MemoryBandwidth(bandwidthMB<<20, runtime.GOMAXPROCS(0), 5))
	debug.FreeOSMemory() // the buffer must not count as the model's resident memory
	return bestBW
}

type loaded struct {
	path string
	size int64
	file *gguf.File
	m    *llama.Model
}

// load maps the model of type typ; it is unmapped when b ends, so that
// resident memory is measured for one model at a time.
func load(b *testing.B, typ tensor.Type, resident bool) *loaded {
	return loadCase(b, benchCase{typ: typ}, resident)
}

func loadCase(b *testing.B, c benchCase, resident bool) *loaded {
	path, err := modelPath(b, c)
	if err != nil {
		b.Fatal(err)
	}
	open := gguf.Open
	if resident {
		open = gguf.OpenResident
	}
	f, err := open(path)
	if err != nil {
		b.Fatal(err)
	}
	m, err := llama.Load(f)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return &loaded{path: path, size: f.Size, file: f, m: m}
}

func modelPath(b *testing.B, c benchCase) (string, error) {
	if c.quant == "" {
		return ModelPath(os.TempDir(), llama.TinyLlama, c.typ)
	}
	bin := os.Getenv("LLAMA_CPP_QUANTIZE")
	if bin == "" {
		b.Skipf("%s needs LLAMA_CPP_QUANTIZE (a llama-quantize binary)", c.quant)
	}
	return QuantizedModelPath(b.Context(), os.TempDir(), llama.TinyLlama, bin, c.quant)
}

func tokens(n int) []int32 {
	t := make([]int32, n)
	for i := range t {
		t[i] = int32(300 + i*37%20000)
	}
	return t
}

// BenchmarkDecode generates one token per iteration (after a 16-token
// prompt) and reports tokens/s, the weight bytes streamed per second, the
// ratio to the memory bandwidth measured in the same run, and the resident
// memory against the budget file + KV cache + 150 MiB. Weights are either
// memory-mapped ("mmap", the engine's default) or copied into huge-page
// memory ("resident", inference.WeightsResident).
func BenchmarkDecode(b *testing.B) {
	for _, typ := range benchTypes {
		for _, mode := range []string{"resident", "mmap"} {
			b.Run(typ.String()+"/"+mode, func(b *testing.B) { benchDecode(b, typ, mode == "resident") })
		}
	}
}

func benchDecode(b *testing.B, typ benchCase, resident bool) {
	bw := memBW()
	l := loadCase(b, typ, resident)
	st := l.m.NewState(benchCtx, 0)
	prompt := tokens(16)
	if _, err := st.Forward(prompt); err != nil {
		b.Fatal(err)
	}
	// one warm-up token: pages of the mapping come in here
	if _, err := st.Forward([]int32{400}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if st.Pos() >= benchCtx {
			b.StopTimer()
			st.Truncate(16)
			b.StartTimer()
		}
		if _, err := st.Forward([]int32{int32(500 + i%1000)}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportCPU(b, cpuTime()-cpu0)
	tps := float64(b.N) / b.Elapsed().Seconds()
	gbs := tps * float64(l.m.WeightBytes()) / 1e9
	b.ReportMetric(tps, "tok/s")
	b.ReportMetric(gbs, "weight_GB/s")
	b.ReportMetric(bw/1e9, "mem_GB/s")
	b.ReportMetric(gbs/(bw/1e9), "bw_ratio")
	rss := ResidentBytes()
	budget := l.size + l.m.KVBytes(benchCtx) + 150<<20
	b.ReportMetric(float64(rss)/(1<<20), "rss_MiB")
	b.ReportMetric(float64(budget)/(1<<20), "budget_MiB")
	if bin := os.Getenv("LLAMA_CPP_BENCH"); bin != "" {
		_, ref, err := llamaRef(b, bin, l.path)
		if err != nil {
			b.Logf("llama.cpp reference failed: %v", err)
		} else {
			b.ReportMetric(ref, "llamacpp_tok/s")
			b.ReportMetric(tps/ref, "ratio")
		}
	}
}

// BenchmarkDecodeVsLlama alternates Cairn and llama.cpp on each model
// (2 threads; Cairn's weights resident, as the engine holds a model that
// fits in memory by default): per round, llamaGen tokens by Cairn then
// llama-bench's generation test (llamaGen tokens, one repetition), for
// decodeRounds rounds. It reports the median of the rounds' ratios and
// their range: on a shared host whose memory bandwidth drifts by a third
// within seconds, ratios of neighbouring runs are steadier than of two
// single runs taken a minute apart. Needs LLAMA_CPP_BENCH (and
// LLAMA_CPP_QUANTIZE for Q4_K_M).
func BenchmarkDecodeVsLlama(b *testing.B) {
	bin := os.Getenv("LLAMA_CPP_BENCH")
	if bin == "" {
		b.Skip("needs LLAMA_CPP_BENCH (a llama-bench binary)")
	}
	for _, typ := range benchTypes {
		b.Run(typ.String(), func(b *testing.B) {
			l := loadCase(b, typ, true)
			st := l.m.NewState(benchCtx, 0)
			var ratios, ours, refs []float64
			for b.Loop() {
				ratios, ours, refs = ratios[:0], ours[:0], refs[:0]
				for range decodeRounds {
					tps, err := decodeRun(st, llamaGen)
					if err != nil {
						b.Fatal(err)
					}
					ref, err := LlamaDecode(b.Context(), bin, l.path, runtime.GOMAXPROCS(0), llamaGen, 1)
					if err != nil {
						b.Fatal(err)
					}
					ours, refs, ratios = append(ours, tps), append(refs, ref), append(ratios, tps/ref)
				}
			}
			b.ReportMetric(median(ratios), "ratio_median")
			b.ReportMetric(slices.Min(ratios), "ratio_min")
			b.ReportMetric(slices.Max(ratios), "ratio_max")
			b.ReportMetric(median(ours), "tok/s")
			b.ReportMetric(median(refs), "llamacpp_tok/s")
		})
	}
}

// decodeRounds is how many alternations BenchmarkDecodeVsLlama runs.
const decodeRounds = 9

// decodeRun generates n tokens on st from an empty context, as
// llama-bench's generation test does (one warm-up token at position 0
// first), and returns the tokens/s of the n.
func decodeRun(st *llama.State, n int) (float64, error) {
	st.Truncate(0)
	if _, err := st.Forward([]int32{400}); err != nil {
		return 0, err
	}
	start := time.Now()
	for i := range n {
		if _, err := st.Forward([]int32{int32(500 + i)}); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkDecodeKV generates one token at position kvDepth of a Q4_0
// model (the KV cache filled by a prefill, truncated back before every
// token) with the F16 KV cache (the default) and the F32 one, and reports
// tokens/s and the cache's size: attention reads kvDepth positions of keys
// and values per layer, which BenchmarkDecode's short prompt does not.
func BenchmarkDecodeKV(b *testing.B) {
	const kvDepth = benchCtx - 16
	for _, kv := range []llama.KVType{llama.KVF16, llama.KVF32} {
		b.Run(fmt.Sprintf("Q4_0/kv=%v/pos=%d", kv, kvDepth), func(b *testing.B) {
			l := load(b, tensor.Q4_0, true)
			l.m.KVType = kv
			st := l.m.NewState(benchCtx, 0)
			if _, err := st.Forward(tokens(kvDepth)); err != nil {
				b.Fatal(err)
			}
			if _, err := st.Forward([]int32{400}); err != nil { // warm-up
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				st.Truncate(kvDepth)
				if _, err := st.Forward([]int32{int32(500 + i%1000)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportCPU(b, cpuTime()-cpu0)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
			b.ReportMetric(float64(l.m.KVBytes(benchCtx))/(1<<20), "kv_MiB")
		})
	}
}

// BenchmarkPrefill processes a 64-token prompt per iteration and reports
// prompt tokens/s (and llama.cpp's, when LLAMA_CPP_BENCH is set).
func BenchmarkPrefill(b *testing.B) {
	for _, typ := range benchTypes {
		b.Run(typ.String(), func(b *testing.B) {
			l := loadCase(b, typ, true)
			st := l.m.NewState(benchCtx, prefillLen)
			prompt := tokens(prefillLen)
			if _, err := st.Forward(prompt); err != nil { // warm-up
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				st.Reset()
				if _, err := st.Forward(prompt); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			tps := float64(b.N*prefillLen) / b.Elapsed().Seconds()
			b.ReportMetric(tps, "tok/s")
			reportCPU(b, cpuTime()-cpu0)
			if bin := os.Getenv("LLAMA_CPP_BENCH"); bin != "" {
				ref, _, err := llamaRef(b, bin, l.path)
				if err != nil {
					b.Logf("llama.cpp reference failed: %v", err)
				} else {
					b.ReportMetric(ref, "llamacpp_tok/s")
					b.ReportMetric(tps/ref, "ratio")
				}
			}
		})
	}
}

// llamaGen is how many tokens llama-bench generates for the decode
// reference: enough for a steady average, few enough that a run on a
// loaded machine (llama.cpp's threads spin-wait for each other) ends.
const llamaGen = 32

// llamaRefs caches llama-bench's prompt and generation tokens/s per model
// file, so that BenchmarkDecode and BenchmarkPrefill share one run.
var llamaRefs = map[string][2]float64{}

func llamaRef(b *testing.B, bin, path string) (pp, tg float64, err error) {
	if r, ok := llamaRefs[path]; ok {
		return r[0], r[1], nil
	}
	pp, tg, err = LlamaBench(b.Context(), bin, path, runtime.GOMAXPROCS(0), prefillLen, llamaGen)
	if err == nil {
		llamaRefs[path] = [2]float64{pp, tg}
	}
	return pp, tg, err
}

// TestModelPath checks the generator on a small shape (the benchmarks use
// the 1.1B one).
func TestModelPath(t *testing.T) {
	shape := llama.Shape{Arch: "llama", Dim: 64, Layers: 1, Heads: 4, KVHeads: 2, FFNDim: 128, Vocab: 300, ContextLength: 32}
	dir := t.TempDir()
	p1, err := ModelPath(dir, shape, tensor.Q4_0)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := ModelPath(dir, shape, tensor.Q4_0)
	if err != nil || p1 != p2 {
		t.Fatalf("second ModelPath = %q, %v; want cached %q", p2, err, p1)
	}
	f, err := gguf.Open(p1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := llama.Load(f); err != nil {
		t.Fatal(err)
	}
	if bw := MemoryBandwidth(8<<20, 2, 1); bw <= 0 {
		t.Errorf("MemoryBandwidth = %v", bw)
	}
	if ResidentBytes() <= 0 && runtime.GOOS == "linux" {
		t.Errorf("ResidentBytes = 0 on linux")
	}
}

// reportCPU reports the share of the cores the timed loop actually got:
// well below 1 means other load on the machine slowed the measurement.
func reportCPU(b *testing.B, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(cpu.Seconds()/(b.Elapsed().Seconds()*float64(runtime.GOMAXPROCS(0))), "cpu_share")
	}
}

func cpuTime() time.Duration {
	u, s := cpu.Used()
	return u + s
}
