package llama

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/internal/fixture"
)

// TestArchFilesGreedy loads every generated model of testdata/arch (one
// per architecture beyond llama and qwen2) and checks that greedy
// generation gives llama.cpp's tokens, as its README.md records them.
func TestArchFilesGreedy(t *testing.T) {
	oracles := readmeOracles(t, "arch")
	if len(oracles) == 0 {
		t.Fatal("testdata/arch/README.md lists no files")
	}
	for _, o := range oracles {
		t.Run(o.file, func(t *testing.T) {
			f, err := gguf.Open(fixture.Path(t, filepath.Join("arch", o.file)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			m.KVType = KVF16 // llama.cpp's default cache type
			// As long as llama-simple's context: phi3 files then use the
			// short RoPE factors, as llama.cpp does.
			s := m.NewState(len(o.prompt)+len(o.gen), len(o.prompt))
			got, _ := greedy(t, s, o.prompt, len(o.gen))
			n := exactPrefix(got, o.gen)
			if n < o.exact {
				t.Errorf("generated %v\nllama.cpp %v\nfirst difference at token %d, want %d exact", got, o.gen, n, o.exact)
			}
		})
	}
}

// TestArchFilesKVF32 runs the prompt of every generated model with the
// float32 KV cache and checks that its logits stay close to the F16
// cache's: the two attention paths (sliding windows, soft-capping, scaling)
// compute the same thing up to the halves' rounding.
func TestArchFilesKVF32(t *testing.T) {
	for _, o := range readmeOracles(t, "arch") {
		if !strings.HasSuffix(o.file, "-f16.gguf") {
			// Quantised weights quantise the activations too, which
			// turns the caches' small differences into larger ones.
			continue
		}
		t.Run(o.file, func(t *testing.T) {
			f, err := gguf.Open(fixture.Path(t, filepath.Join("arch", o.file)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			// Prompt and generation: long enough that sliding layers slide.
			toks := append(append([]int32{}, o.prompt...), o.gen...)
			logits := map[KVType][]float32{}
			for _, kv := range []KVType{KVF16, KVF32} {
				m.KVType = kv
				s := m.NewState(len(toks), 8)
				all := make([]float32, len(toks)*m.Vocab)
				if err := s.ForwardAll(toks, all); err != nil {
					t.Fatal(err)
				}
				logits[kv] = all
			}
			var worst float64
			for i, a := range logits[KVF16] {
				worst = max(worst, math.Abs(float64(a-logits[KVF32][i])))
			}
			if worst > 0.05 {
				t.Errorf("F16 and F32 KV caches' logits differ by up to %g", worst)
			}
			t.Logf("largest difference %g", worst)
		})
	}
}
