package llama

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/tensor"
	"github.com/cairnhub/cairn/internal/fixture"
)

// loadFixture loads stories260K.gguf.
func loadFixture(t *testing.T) *Model {
	t.Helper()
	f, err := gguf.Open(fixture.Path(t, fixture.Model))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// kvF16LogitTol bounds max|logit(F16 cache) - logit(F32 cache)| over
// max|logit(F32 cache)| on the fixture. Rounding q, k and v to halves
// (relative error at most 2^-12 = 2.4e-4 each) moves each attention output
// by about that much; through five layers the logits move by 1.5e-3 at
// worst (measured, all three batch sizes). A cache read at the wrong
// position or head gives O(1).
const kvF16LogitTol = 5e-3

// TestKVF16MatchesF32 runs the fixture model's prompt and llama.cpp's greedy
// continuation through States with an F16 and an F32 cache, by prefill
// batches and token by token, and compares every position's logits.
func TestKVF16MatchesF32(t *testing.T) {
	prompt, gen := expectedIDs(t)
	m := loadFixture(t)
	tokens := append(append([]int32(nil), prompt...), gen...)
	run := func(kv KVType, batch int) []float32 {
		m.KVType = kv
		defer func() { m.KVType = KVF16 }()
		s := m.NewState(m.ContextLength, batch)
		if s.KVType() != kv {
			t.Fatalf("State.KVType() = %v, want %v", s.KVType(), kv)
		}
		all := make([]float32, len(tokens)*m.Vocab)
		if batch > 1 {
			if err := s.ForwardAll(tokens, all); err != nil {
				t.Fatal(err)
			}
			return all
		}
		for i, tok := range tokens {
			logits, err := s.Forward([]int32{tok})
			if err != nil {
				t.Fatal(err)
			}
			copy(all[i*m.Vocab:], logits)
		}
		return all
	}
	for _, batch := range []int{1, 4, 64} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			f16, f32 := run(KVF16, batch), run(KVF32, batch)
			var worst float64
			for i := range tokens {
				a, b := f16[i*m.Vocab:(i+1)*m.Vocab], f32[i*m.Vocab:(i+1)*m.Vocab]
				var maxDiff, maxRef float64
				for j := range a {
					maxDiff = max(maxDiff, math.Abs(float64(a[j]-b[j])))
					maxRef = max(maxRef, math.Abs(float64(b[j])))
				}
				e := maxDiff / maxRef
				worst = max(worst, e)
				if e > kvF16LogitTol {
					t.Errorf("position %d: F16 cache logits differ from F32 by %.3g relative, want <= %.3g", i, e, kvF16LogitTol)
				}
				if e == 0 && i > 0 {
					t.Errorf("position %d: F16 cache logits equal F32 ones: is the cache really F16?", i)
				}
				if i >= len(prompt)-1 && i < len(tokens)-1 && argmax(a) != tokens[i+1] {
					t.Errorf("position %d: F16 cache argmax = %d, llama.cpp generated %d", i, argmax(a), tokens[i+1])
				}
			}
			t.Logf("worst relative logit difference F16 vs F32 cache: %.3g", worst)
		})
	}
}

func TestKVBytes(t *testing.T) {
	tests := []struct {
		c      Config
		ctxLen int
		want   int64
	}{
		// 2 (k, v) × layers × ctxLen × KVHeads × HeadDim × element bytes
		{Config{Layers: 5, KVHeads: 4, HeadDim: 8}, 128, 2 * 5 * 128 * 32 * 2},
		{Config{Layers: 5, KVHeads: 4, HeadDim: 8, KVType: KVF32}, 128, 2 * 5 * 128 * 32 * 4},
		{Config{Layers: 22, KVHeads: 4, HeadDim: 64, KVType: KVF16}, 2048, 2 * 22 * 2048 * 256 * 2}, // TinyLlama: 44 MiB
		{Config{Layers: 22, KVHeads: 4, HeadDim: 64, KVType: KVF32}, 2048, 2 * 22 * 2048 * 256 * 4}, // 88 MiB
		{Config{Layers: 32, KVHeads: 32, HeadDim: 128}, 4096, 2 << 30},                              // llama-2-7B: 2 GiB (4 GiB in F32)
		{Config{Layers: 80, KVHeads: 8, HeadDim: 128}, 131072, 40 << 30},                            // no int overflow
	}
	for _, tt := range tests {
		if got := tt.c.KVBytes(tt.ctxLen); got != tt.want {
			t.Errorf("Config{Layers: %d, KVHeads: %d, HeadDim: %d, KVType: %v}.KVBytes(%d) = %d, want %d",
				tt.c.Layers, tt.c.KVHeads, tt.c.HeadDim, tt.c.KVType, tt.ctxLen, got, tt.want)
		}
	}

	// What a State allocates is what KVBytes reports, and F16 halves it.
	var buf bytes.Buffer
	shape := Shape{Dim: 64, Layers: 3, Heads: 4, KVHeads: 2, FFNDim: 96, Vocab: 300, ContextLength: 64}
	if err := WriteRandomModel(&buf, shape, tensor.F32, 1); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.ReadBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if m.KVType != KVF16 {
		t.Errorf("Load: KVType = %v, want the default %v", m.KVType, KVF16)
	}
	allocated := func(s *State) int64 {
		var n int64
		for _, l := range s.kv {
			n += 4*int64(len(l.k)+len(l.v)) + 2*int64(len(l.k16)+len(l.v16))
		}
		return n
	}
	const ctxLen = 48
	got16 := allocated(m.NewState(ctxLen, 0))
	if want := m.KVBytes(ctxLen); got16 != want {
		t.Errorf("F16 State allocates %d KV bytes, KVBytes(%d) = %d", got16, ctxLen, want)
	}
	m.KVType = KVF32
	got32 := allocated(m.NewState(ctxLen, 0))
	if want := m.KVBytes(ctxLen); got32 != want {
		t.Errorf("F32 State allocates %d KV bytes, KVBytes(%d) = %d", got32, ctxLen, want)
	}
	if 2*got16 != got32 || got16 != 2*3*ctxLen*2*16*2 {
		t.Errorf("KV bytes: F16 %d, F32 %d; want %d and twice that", got16, got32, 2*3*ctxLen*2*16*2)
	}
}

func TestKVTypeValidate(t *testing.T) {
	base := Config{Arch: "llama", Dim: 64, Layers: 1, Heads: 4, KVHeads: 2, HeadDim: 16, FFNDim: 96, Vocab: 300,
		RMSEps: 1e-5, RopeBase: 10000, RopeDims: 16, RopeFreqScale: 1}
	tests := []struct {
		kv   KVType
		name string
		ok   bool
	}{
		{KVF16, "f16", true}, {KVF32, "f32", true}, {KVType(2), "kvtype(2)", false}, {KVType(255), "kvtype(255)", false},
	}
	for _, tt := range tests {
		c := base
		c.KVType = tt.kv
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("Config{KVType: %v}.Validate() = %v, want ok %v", tt.kv, err, tt.ok)
		}
		if got := tt.kv.String(); got != tt.name {
			t.Errorf("KVType(%d).String() = %q, want %q", uint8(tt.kv), got, tt.name)
		}
	}
	m := &Model{Config: base}
	m.KVType = KVType(2)
	defer func() {
		if recover() == nil {
			t.Errorf("NewState with KVType(2) did not panic")
		}
	}()
	m.NewState(4, 1)
}
