package llama

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/tensor"
	"github.com/cairnhub/cairn/internal/fixture"
)

// loadArch loads a model of testdata/arch.
func loadArch(t *testing.T, name string) *Model {
	t.Helper()
	f, err := gguf.Open(fixture.Path(t, filepath.Join("arch", name)))
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

// ringTokens is a sequence of n tokens of a vocabulary of vocab.
func ringTokens(n, vocab int) []int32 {
	toks := make([]int32, n)
	for i := range toks {
		toks[i] = int32((i*131 + 7) % vocab)
	}
	return toks
}

// fullState is a State whose every layer keeps the whole context: sliding
// layers then attend through the window by masking alone.
func fullState(m *Model, ctxLen, batch int) *State {
	s := m.NewState(ctxLen, batch)
	s.allocKV(true)
	return s
}

// TestSlidingRingMatchesFullCache runs sequences several windows long
// through the gemma2 and gemma3 files of testdata/arch, whose sliding
// layers then keep a ring of window+batch-1 positions that wraps several
// times, and through a State keeping every position of every layer: the
// logits of every position must be equal, bit for bit, with both cache
// types and prefill batches that cross the ring's end.
func TestSlidingRingMatchesFullCache(t *testing.T) {
	const ctxLen = 200
	for _, file := range []string{"gemma2-mini-f16.gguf", "gemma3-mini-f16.gguf", "gemma3-mini-Q4_K_M.gguf"} {
		m := loadArch(t, file)
		toks := ringTokens(ctxLen, m.Vocab)
		for _, kv := range []KVType{KVF16, KVF32} {
			for _, batch := range []int{1, 5, 64} {
				t.Run(fmt.Sprintf("%s/kv=%v/batch=%d", file, kv, batch), func(t *testing.T) {
					m.KVType = kv
					defer func() { m.KVType = KVF16 }()
					ring, full := m.NewState(ctxLen, batch), fullState(m, ctxLen, batch)
					checkRings(t, m, ring, batch)
					a, b := make([]float32, ctxLen*m.Vocab), make([]float32, ctxLen*m.Vocab)
					if err := ring.ForwardAll(toks, a); err != nil {
						t.Fatal(err)
					}
					if err := full.ForwardAll(toks, b); err != nil {
						t.Fatal(err)
					}
					if i := firstDiff(a, b); i >= 0 {
						t.Fatalf("position %d: ring logit %g, full cache %g", i/m.Vocab, a[i], b[i])
					}
				})
			}
		}
	}
}

// checkRings checks that s's sliding layers keep window+batch-1 positions
// and the others the whole context, and that KVBytesBatch says so.
func checkRings(t *testing.T, m *Model, s *State, batch int) {
	t.Helper()
	var bytes int64
	sliding := 0
	for li, l := range s.kv {
		want := s.ctxLen
		if m.Sliding(li) {
			want = m.Gemma.SlidingWindow + batch - 1
			sliding++
		}
		if l.rows != want {
			t.Errorf("layer %d keeps %d positions, want %d", li, l.rows, want)
		}
		bytes += 4*int64(len(l.k)+len(l.v)) + 2*int64(len(l.k16)+len(l.v16))
	}
	if sliding == 0 {
		t.Fatal("no sliding layer")
	}
	if want := m.KVBytesBatch(s.ctxLen, batch); bytes != want {
		t.Errorf("State holds %d KV bytes, KVBytesBatch says %d", bytes, want)
	}
}

// firstDiff is the first index where a and b differ, or -1.
func firstDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestSlidingRingTruncate checks Truncate on a wrapped ring: kept when the
// window before the new end is still in the ring (the continuation's logits
// then equal the full cache's), dropped to 0 when it was overwritten.
func TestSlidingRingTruncate(t *testing.T) {
	m := loadArch(t, "gemma3-mini-f16.gguf")
	const ctxLen, batch = 200, 8
	toks := ringTokens(ctxLen, m.Vocab)
	ring, full := m.NewState(ctxLen, batch), fullState(m, ctxLen, batch)
	for _, s := range []*State{ring, full} {
		if _, err := s.Forward(toks[:150]); err != nil {
			t.Fatal(err)
		}
	}
	// rows = 32+8-1 = 39: positions 111..149 remain, and the window of
	// position 140 (109..139) starts before them; that of 145 does not.
	if got := ring.Truncate(140); got != 0 {
		t.Errorf("Truncate(140) on a ring holding 111..149 kept %d, want 0", got)
	}
	if got := full.Truncate(140); got != 140 {
		t.Errorf("Truncate(140) on a full cache kept %d", got)
	}
	// Refill both to 150 and cut back within the ring.
	if _, err := ring.Forward(toks[:150]); err != nil {
		t.Fatal(err)
	}
	if _, err := full.Forward(toks[140:150]); err != nil {
		t.Fatal(err)
	}
	if got := ring.Truncate(145); got != 145 {
		t.Fatalf("Truncate(145) kept %d, want 145", got)
	}
	full.Truncate(145)
	next := ringTokens(40, 97) // a different continuation
	a, b := make([]float32, len(next)*m.Vocab), make([]float32, len(next)*m.Vocab)
	if err := ring.ForwardAll(next, a); err != nil {
		t.Fatal(err)
	}
	if err := full.ForwardAll(next, b); err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(a, b); i >= 0 {
		t.Fatalf("after Truncate(145), position %d: ring logit %g, full cache %g", 145+i/m.Vocab, a[i], b[i])
	}
}

// TestKVBytesSliding checks the KV size of a gemma3 shape: its global
// layers keep the context, its sliding ones window+batch-1 positions.
func TestKVBytesSliding(t *testing.T) {
	c := Config{Layers: 12, KVHeads: 2, HeadDim: 64, Gemma: GemmaConfig{On: true, SlidingWindow: 512, SWAPattern: 6}}
	per := int64(2 * 2 * 64 * 2) // keys and values of one position, halves
	const ctx = 8192
	// two global layers (5 and 11), ten sliding ones
	want := per * (2*ctx + 10*(512+DefaultBatch-1))
	if got := c.KVBytes(ctx); got != want {
		t.Errorf("KVBytes(%d) = %d, want %d", ctx, got, want)
	}
	if got, want := c.KVBytesBatch(ctx, 1), per*(2*ctx+10*512); got != want {
		t.Errorf("KVBytesBatch(%d, 1) = %d, want %d", ctx, got, want)
	}
	// A context shorter than the ring: every layer keeps the context.
	if got, want := c.KVBytes(100), per*12*100; got != want {
		t.Errorf("KVBytes(100) = %d, want %d", got, want)
	}
}

// TestStateKVReleased checks that a State's KV memory, outside the Go heap,
// survives garbage collection while the State is in use: many States are
// made and dropped, and the one kept must still compute what a fresh one
// does.
func TestStateKVReleased(t *testing.T) {
	var buf bytes.Buffer
	shape := Shape{Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 96, Vocab: 300, ContextLength: 64}
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
	toks := ringTokens(48, m.Vocab)
	want := make([]float32, len(toks)*m.Vocab)
	if err := m.NewState(64, 4).ForwardAll(toks, want); err != nil {
		t.Fatal(err)
	}
	kept := m.NewState(64, 4)
	got := make([]float32, len(toks)*m.Vocab)
	for i := 0; i < len(toks); i += 4 {
		for range 20 {
			m.NewState(64, 4) // dropped: its cleanup unmaps its cache
		}
		runtime.GC()
		if err := kept.ForwardAll(toks[i:i+4], got[i*m.Vocab:(i+4)*m.Vocab]); err != nil {
			t.Fatal(err)
		}
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("position %d: logit %g after collections, %g before", i/m.Vocab, got[i], want[i])
	}
}
