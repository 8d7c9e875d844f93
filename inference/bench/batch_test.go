package bench

import (
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/inference"
	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/tensor"
)

// batchStreams and batchTokens shape BenchmarkBatchDecode: that many
// concurrent requests each generating that many tokens after a 4-token
// prompt.
const (
	batchStreams = 8
	batchTokens  = 32
)

// BenchmarkBatchDecode compares the engine's aggregate decode speed with
// batchStreams requests at once (continuous batching: one pass over the
// weights per step serves all of them) with one request alone, on the
// Q4_0 TinyLlama-shaped model through inference.Model.Generate. Each
// iteration times one request alone, then batchStreams together; tokens/s
// count generated tokens over wall time (the 4-token prompts included), and
// CPU milliseconds per token are reported beside them. streams_as_alone
// counts the first iteration's batched streams whose greedy tokens equal
// the same request's served alone afterwards; the others are logged. (Q4_0's
// lane kernels, for decode steps and prompt chunks, sum as MatVec does, bit
// for bit: a stream's tokens depend neither on the others nor on how much
// of its prompt a session had cached.)
func BenchmarkBatchDecode(b *testing.B) {
	path, err := ModelPath(os.TempDir(), llama.TinyLlama, tensor.Q4_0)
	if err != nil {
		b.Fatal(err)
	}
	m, err := inference.OpenConfig(path, inference.Config{ContextLength: benchCtx, Parallel: batchStreams})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	req := func(i int) inference.Request {
		return inference.Request{Tokens: []int32{1, int32(300 + 7*i), int32(900 + i), int32(4000 + 31*i)}, MaxTokens: batchTokens, IgnoreEOS: true}
	}
	got := make(map[int][]int32) // the batched streams of the first iteration
	var mu sync.Mutex
	gen := func(i int) []int32 {
		res, err := m.Generate(b.Context(), req(i), nil)
		if err != nil || res.CompletionTokens != batchTokens {
			b.Fatalf("stream %d: %d tokens, %v", i, res.CompletionTokens, err)
		}
		return res.Tokens
	}
	gen(0) // warm-up: pages of the mapping come in
	var one, many, oneCPU, manyCPU time.Duration
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t, c := time.Now(), cpuTime()
		gen(i)
		one += time.Since(t)
		oneCPU += cpuTime() - c
		t, c = time.Now(), cpuTime()
		var wg sync.WaitGroup
		for s := range batchStreams {
			wg.Go(func() {
				toks := gen(i*batchStreams + s)
				mu.Lock()
				got[i*batchStreams+s] = toks
				mu.Unlock()
			})
		}
		wg.Wait()
		many += time.Since(t)
		manyCPU += cpuTime() - c
	}
	b.StopTimer()
	reportCPU(b, cpuTime()-cpu0)
	// Each of the first iteration's batched streams against the same
	// request served alone, greedy: the same tokens.
	exact := 0
	for s := range batchStreams {
		batched := got[s]
		if alone := gen(s); slices.Equal(alone, batched) {
			exact++
		} else {
			b.Logf("stream %d batched %v\nalone %v", s, batched, alone)
		}
	}
	b.ReportMetric(float64(exact), "streams_as_alone")
	// CPU time per token is the cost with the machine to itself: on a
	// shared machine wall time also counts the other processes' turns.
	b.ReportMetric(oneCPU.Seconds()*1e3/float64(b.N*batchTokens), "one_cpu_ms/tok")
	b.ReportMetric(manyCPU.Seconds()*1e3/float64(b.N*batchStreams*batchTokens), "batch8_cpu_ms/tok")
	oneTPS := float64(b.N*batchTokens) / one.Seconds()
	manyTPS := float64(b.N*batchStreams*batchTokens) / many.Seconds()
	b.ReportMetric(oneTPS, "one_tok/s")
	b.ReportMetric(manyTPS, "batch8_tok/s")
	b.ReportMetric(manyTPS/oneTPS, "batch/one")
}

// BenchmarkBatchForward is BenchmarkBatchDecode one level down, at the
// forward pass, alternating step by step so that both see the same load on
// a shared machine: each iteration decodes one token of a lone sequence
// (State.Forward) and one token of each of batchStreams sequences in one
// llama.Batch pass, and reports both tokens/s, their ratio and the CPU
// milliseconds per token of each.
func BenchmarkBatchForward(b *testing.B) {
	l := load(b, tensor.Q4_0, true) // resident, as the engine holds it by default
	m := l.m
	prompt := tokens(4)
	lone := m.NewState(benchCtx, 0)
	if _, err := lone.Forward(prompt); err != nil {
		b.Fatal(err)
	}
	pass := m.NewBatch(batchStreams)
	seqs := make([]llama.Seq, batchStreams)
	for i := range seqs {
		st := m.NewState(benchCtx, 0)
		if _, err := st.Forward(prompt); err != nil {
			b.Fatal(err)
		}
		seqs[i] = llama.Seq{State: st, Logits: make([]float32, m.Vocab)}
	}
	var one, many, oneCPU, manyCPU time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if lone.Pos() >= benchCtx {
			lone.Truncate(len(prompt))
			for _, sq := range seqs {
				sq.State.Truncate(len(prompt))
			}
		}
		t, c := time.Now(), cpuTime()
		if _, err := lone.Forward([]int32{int32(500 + i%1000)}); err != nil {
			b.Fatal(err)
		}
		one += time.Since(t)
		oneCPU += cpuTime() - c
		for j := range seqs {
			seqs[j].Tokens = []int32{int32(500 + (i+j)%1000)}
		}
		t, c = time.Now(), cpuTime()
		if err := pass.Forward(seqs); err != nil {
			b.Fatal(err)
		}
		many += time.Since(t)
		manyCPU += cpuTime() - c
	}
	b.StopTimer()
	oneTPS := float64(b.N) / one.Seconds()
	manyTPS := float64(b.N*batchStreams) / many.Seconds()
	b.ReportMetric(oneTPS, "one_tok/s")
	b.ReportMetric(manyTPS, "batch8_tok/s")
	b.ReportMetric(manyTPS/oneTPS, "batch/one")
	b.ReportMetric(oneCPU.Seconds()*1e3/float64(b.N), "one_cpu_ms/tok")
	b.ReportMetric(manyCPU.Seconds()*1e3/float64(b.N*batchStreams), "batch8_cpu_ms/tok")
}
