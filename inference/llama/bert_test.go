package llama

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/tensor"
)

func loadTestEncoder(t *testing.T, shape Shape) (*Encoder, error) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteRandomModel(&buf, shape, tensor.F32, 3); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return LoadEncoder(f)
}

var encShape = Shape{Dim: 32, Layers: 2, Heads: 2, FFNDim: 48, Vocab: 300, ContextLength: 16}

// TestEncoderPooling: mean, cls and last pooling of the same weights are
// the normalised mean, first and last rows of the final hidden states.
func TestEncoderPooling(t *testing.T) {
	tokens := []int32{101, 120, 130, 140, 102}
	for _, arch := range []string{"bert", "nomic-bert"} {
		var states []float32
		for _, p := range []Pooling{PoolMean, PoolCLS, PoolLast} {
			sh := encShape
			sh.Arch, sh.Pooling = arch, p
			e, err := loadTestEncoder(t, sh)
			if err != nil {
				t.Fatal(err)
			}
			if states == nil {
				r := e.newRun(len(tokens))
				r.embedTokens(tokens)
				for li := range e.layers {
					r.layer(&e.layers[li])
				}
				states = r.x
			}
			d, n := e.Dim, len(tokens)
			want := make([]float32, d)
			switch p {
			case PoolMean:
				for i := range n {
					for j := range d {
						want[j] += states[i*d+j] / float32(n)
					}
				}
			case PoolCLS:
				copy(want, states[:d])
			case PoolLast:
				copy(want, states[(n-1)*d:])
			}
			Normalize(want)
			got, err := e.Embed(tokens)
			if err != nil {
				t.Fatal(err)
			}
			var norm float64
			for j := range got {
				norm += float64(got[j]) * float64(got[j])
				if math.Abs(float64(got[j]-want[j])) > 1e-6 {
					t.Fatalf("%s %v: value %d = %g, want %g", arch, p, j, got[j], want[j])
				}
			}
			if math.Abs(norm-1) > 1e-5 {
				t.Errorf("%s %v: squared norm %g, want 1", arch, p, norm)
			}
		}
	}
}

// TestEncoderRefuses: pooling without a sentence vector, sequences longer
// than the positions and tokens outside the vocabulary are errors.
func TestEncoderRefuses(t *testing.T) {
	sh := encShape
	sh.Arch, sh.Pooling = "bert", 4 // rank
	if _, err := loadTestEncoder(t, sh); err == nil || !strings.Contains(err.Error(), "pooling type 4") {
		t.Errorf("rank pooling: %v", err)
	}
	sh.Pooling = PoolMean
	e, err := loadTestEncoder(t, sh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Embed(make([]int32, 17)); err == nil {
		t.Error("17 tokens embedded with 16 positions")
	}
	if _, err := e.Embed([]int32{101, 300, 102}); err == nil {
		t.Error("token 300 embedded with a vocabulary of 300")
	}
	if _, err := e.Embed(nil); err == nil {
		t.Error("no tokens embedded")
	}
}
