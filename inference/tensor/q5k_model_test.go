package tensor_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/tensor"
)

// modelLogits writes the random model of shape with weights of type typ
// (seed 7: the same weights drawn for every type, then quantized), loads it
// and returns the logits of every position of tokens, decoded one token at a
// time and prefilled in one batch.
func modelLogits(t *testing.T, shape llama.Shape, typ tensor.Type, tokens []int32) (decode, prefill [][]float32) {
	t.Helper()
	var buf bytes.Buffer
	if err := llama.WriteRandomModel(&buf, shape, typ, 7); err != nil {
		t.Fatalf("WriteRandomModel(%v): %v", typ, err)
	}
	f, err := gguf.ReadBytes(buf.Bytes())
	if err != nil {
		t.Fatalf("gguf.ReadBytes(%v model): %v", typ, err)
	}
	for _, ti := range f.Tensors {
		if len(ti.Dims) == 2 && tensor.Type(ti.Type) != typ {
			t.Fatalf("%v model: tensor %s has type %v", typ, ti.Name, tensor.Type(ti.Type))
		}
	}
	m, err := llama.Load(f)
	if err != nil {
		t.Fatalf("llama.Load(%v model): %v", typ, err)
	}
	s := m.NewState(32, 4)
	for _, tok := range tokens {
		logits, err := s.Forward([]int32{tok})
		if err != nil {
			t.Fatalf("%v model: Forward: %v", typ, err)
		}
		decode = append(decode, append([]float32(nil), logits...))
	}
	s.Reset()
	all := make([]float32, len(tokens)*m.Vocab)
	if err := s.ForwardAll(tokens, all); err != nil {
		t.Fatalf("%v model: ForwardAll: %v", typ, err)
	}
	for i := range tokens {
		prefill = append(prefill, all[i*m.Vocab:(i+1)*m.Vocab])
	}
	return decode, prefill
}

// logitErr is the relative RMS difference of the logits over all
// positions, ||got-want|| / ||want||, and the largest difference relative
// to the largest F32 logit.
func logitErr(got, want [][]float32) (rms, maxRel float64) {
	var se, sw, maxDiff, maxRef float64
	for i := range want {
		for j, w := range want[i] {
			d := float64(got[i][j]) - float64(w)
			se += d * d
			sw += float64(w) * float64(w)
			maxDiff = math.Max(maxDiff, math.Abs(d))
			maxRef = math.Max(maxRef, math.Abs(float64(w)))
		}
	}
	return math.Sqrt(se / sw), maxDiff / maxRef
}

// TestQ5KModelAgainstF32 loads small random models whose weight matrices are
// Q5_K and runs them, token by token (MatVec) and as one prompt (MatMul),
// against the same model with F32 weights (WriteRandomModel draws the same
// weights for every type and then quantizes them).
//
// The difference is mostly the quantization of the weights themselves:
// about 5% relative RMS per weight with this package's min/max quantizer
// (TestQ5KRoundTrip), against under 1% for ggml's 8-bit Q8_K activations.
// Each product's output carries that 5% as the sum of many independent
// weight errors, and the embedding, attention, FFN and output matrices in
// series add their shares, so the logits' relative RMS error is a small
// multiple of it: 0.11 to 0.15 measured here (Q4_K 0.21 to 0.30, Q6_K
// 0.045 to 0.083, Q8_0 about 0.02: every bit halves it). The tolerance,
// 0.25, leaves room above that; a decoding or kernel bug (a lost or
// misplaced fifth bit, a wrong scale or min) gives O(1) errors. Q5_K must
// also land between Q6_K and Q4_K and clearly below Q4_K (under 0.7 of
// it; measured 0.50 to 0.60), which a kernel ignoring qh would not.
func TestQ5KModelAgainstF32(t *testing.T) {
	shapes := []struct {
		name  string
		shape llama.Shape
	}{
		{"llama-256", llama.Shape{Arch: "llama", Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 512, Vocab: 300, ContextLength: 64}},
		{"qwen2-256", llama.Shape{Arch: "qwen2", Dim: 256, Layers: 1, Heads: 2, KVHeads: 1, FFNDim: 768, Vocab: 320, ContextLength: 64, RopeBase: 1e6}},
		{"llama-512-tied", llama.Shape{Arch: "llama", Dim: 512, Layers: 2, Heads: 8, KVHeads: 8, FFNDim: 768, Vocab: 300, ContextLength: 64, TiedEmbeddings: true}},
	}
	tokens := []int32{1, 17, 299, 42, 5, 5, 260, 100, 3, 77, 200, 150}
	const tol = 0.25
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			refDec, refPre := modelLogits(t, sh.shape, tensor.F32, tokens)
			errs := map[tensor.Type][2]float64{}
			for _, typ := range []tensor.Type{tensor.Q4_K, tensor.Q5_K, tensor.Q6_K} {
				dec, pre := modelLogits(t, sh.shape, typ, tokens)
				rd, md := logitErr(dec, refDec)
				rp, mp := logitErr(pre, refPre)
				t.Logf("%v vs F32: relative RMS logit error decode %.3g, prefill %.3g (largest difference / largest logit %.3g, %.3g)", typ, rd, rp, md, mp)
				errs[typ] = [2]float64{rd, rp}
			}
			q4, q5, q6 := errs[tensor.Q4_K], errs[tensor.Q5_K], errs[tensor.Q6_K]
			for i, name := range []string{"decode", "prefill"} {
				if q5[i] > tol {
					t.Errorf("Q5_K %s: relative RMS logit error vs F32 = %.3g, want <= %g", name, q5[i], tol)
				}
				if q5[i] > 0.7*q4[i] || q5[i] < q6[i] {
					t.Errorf("Q5_K %s: relative RMS logit error vs F32 = %.3g, want in [Q6_K's %.3g, 0.7 * Q4_K's %.3g]", name, q5[i], q6[i], q4[i])
				}
			}
		})
	}
}
