package inference

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/sample"
	"github.com/cairnhub/cairn/inference/tensor"
	"github.com/cairnhub/cairn/internal/fixture"
)

// batchRequests are eight requests of different prompt lengths, limits,
// stop strings and sampling.
func batchRequests() []Request {
	long := strings.Repeat("The little dog ran to the park and played with a ball. ", 3)
	greedy := sample.Params{}
	return []Request{
		{Prompt: "Once upon a time", MaxTokens: 40, Params: greedy},
		{Prompt: long, MaxTokens: 12, Params: greedy},
		{Prompt: "Lily", MaxTokens: 60, Params: greedy, IgnoreEOS: true},
		{Prompt: "The cat sat on the mat and", MaxTokens: 25, Params: greedy, Stop: []string{"."}},
		{Prompt: long + "Then", MaxTokens: 30, Params: greedy},
		{Prompt: "Tom had a big red", MaxTokens: 33, Params: sample.Params{Temperature: 0.9, TopK: 40, Seed: 7}},
		{Prompt: "One day, a girl", MaxTokens: 20, Params: sample.Params{FrequencyPenalty: 1, PresencePenalty: 0.5}},
		{Prompt: "Ben", MaxTokens: 5, Params: greedy},
	}
}

// checkBatchMatchesAlone serves the requests together, each joining once
// the one before has its first piece (or has ended), and wants each greedy
// result equal to the same request served alone in a fresh session. A
// sampled request only has to run to its limit: a batch multiplies its rows
// with other kernels (groups of four vectors) than a lone decode, so logits
// differ in the last bits (about 1e-6 on the fixture), which never moved an
// argmax here but can reorder near-equal candidates before a random draw.
func checkBatchMatchesAlone(t *testing.T, path string, cfg Config, reqs []Request) {
	m, err := OpenConfig(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	alone := make([]Result, len(reqs))
	for i, r := range reqs {
		if alone[i], err = m.NewSession().Generate(t.Context(), r, nil); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]Result, len(reqs))
	streamed := make([]string, len(reqs))
	errs := make([]error, len(reqs))
	joined := make([]chan struct{}, len(reqs)+1)
	for i := range joined {
		joined[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			<-joined[i]
			var once sync.Once
			next := func() { once.Do(func() { close(joined[i+1]) }) }
			defer next()
			var sb strings.Builder
			got[i], errs[i] = m.Generate(t.Context(), r, func(p string) error {
				sb.WriteString(p)
				next()
				return nil
			})
			streamed[i] = sb.String()
		})
	}
	close(joined[0])
	wg.Wait()
	for i := range reqs {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		g, a := got[i], alone[i]
		if reqs[i].Params.Temperature > 0 {
			if g.CompletionTokens != reqs[i].MaxTokens && g.FinishReason != FinishStop {
				t.Errorf("sampled request %d: %d tokens, finish %s", i, g.CompletionTokens, g.FinishReason)
			}
			continue
		}
		if !reflect.DeepEqual(g.Tokens, a.Tokens) || g.Text != a.Text || g.FinishReason != a.FinishReason || streamed[i] != g.Text {
			t.Errorf("request %d batched: %v %q %s (streamed %q)\nalone: %v %q %s", i, g.Tokens, g.Text, g.FinishReason, streamed[i], a.Tokens, a.Text, a.FinishReason)
		}
		if g.CompletionTokens == 0 || g.PromptTokens != a.PromptTokens {
			t.Errorf("request %d: %d completion, %d prompt tokens (alone %d)", i, g.CompletionTokens, g.PromptTokens, a.PromptTokens)
		}
	}
}

// TestBatchMatchesAlone: eight requests served at once, four in the batch
// and the rest waiting, prompts fed in chunks of 8 tokens between decode
// steps, each give what they give alone.
func TestBatchMatchesAlone(t *testing.T) {
	checkBatchMatchesAlone(t, fixture.Path(t, fixture.Model), Config{Parallel: 4, Batch: 8}, batchRequests())
	t.Run("all eight at once", func(t *testing.T) {
		checkBatchMatchesAlone(t, fixture.Path(t, fixture.Model), Config{Parallel: 8}, batchRequests())
	})
}

// TestBatchMatchesAloneQuantized does the same on generated llama and
// qwen2 models (qwen2: attention biases) in Q4_0 and Q8_0.
func TestBatchMatchesAloneQuantized(t *testing.T) {
	for _, arch := range []string{"llama", "qwen2"} {
		for _, typ := range []tensor.Type{tensor.Q4_0, tensor.Q8_0} {
			t.Run(fmt.Sprintf("%s/%v", arch, typ), func(t *testing.T) {
				shape := llama.Shape{Arch: arch, Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 128, Vocab: 400, ContextLength: 256}
				path := filepath.Join(t.TempDir(), "m.gguf")
				fd, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := llama.WriteRandomModel(fd, shape, typ, 5); err != nil {
					t.Fatal(err)
				}
				fd.Close()
				reqs := batchRequests()
				for i := range reqs {
					reqs[i].IgnoreEOS = true
				}
				checkBatchMatchesAlone(t, path, Config{Parallel: 3, Batch: 5}, reqs)
			})
		}
	}
}

// TestBatchEightMatchAlone: eight requests in one batch, decode steps of
// eight sequences through the lane kernels (Q4_0, Q8_0: widths of several
// blocks) and through per-vector MatVec kernels (llama-quantize's files in
// testdata/quant: Q3_K_M of a model with 256 wide rows, so Q3_K to Q6_K
// tensors, and Q4_K_M of the stories model, in the fallback types), each
// greedy result equal to the request served alone.
func TestBatchEightMatchAlone(t *testing.T) {
	reqs := batchRequests()
	for i := range reqs {
		reqs[i].IgnoreEOS = true
	}
	cfg := Config{Parallel: 8, Batch: 64}
	for _, typ := range []tensor.Type{tensor.Q4_0, tensor.Q8_0} {
		t.Run(typ.String(), func(t *testing.T) {
			shape := llama.Shape{Arch: "llama", Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 512, Vocab: 400, ContextLength: 256}
			path := filepath.Join(t.TempDir(), "m.gguf")
			fd, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := llama.WriteRandomModel(fd, shape, typ, 9); err != nil {
				t.Fatal(err)
			}
			if err := fd.Close(); err != nil {
				t.Fatal(err)
			}
			checkBatchMatchesAlone(t, path, cfg, reqs)
		})
	}
	for _, name := range []string{"rand256-Q3_K_M.gguf", "stories260K-Q4_K_M.gguf"} {
		t.Run(name, func(t *testing.T) {
			checkBatchMatchesAlone(t, fixture.Path(t, filepath.Join("quant", name)), cfg, reqs)
		})
	}
}

// TestBatchQueuedCancel: a request whose client is gone before it gets a
// place in the batch ends with the context's error and no tokens, and the
// batch goes on serving the others.
func TestBatchQueuedCancel(t *testing.T) {
	m, err := OpenConfig(fixture.Path(t, fixture.Model), Config{Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var queued Result
	var queuedErr error
	first, err := m.Generate(t.Context(), Request{Prompt: "Once upon a time", MaxTokens: 30, IgnoreEOS: true}, func(string) error {
		once.Do(func() {
			wg.Go(func() { // joins while the first holds the only place
				queued, queuedErr = m.Generate(gone, Request{Prompt: "Lily", MaxTokens: 30}, nil)
			})
		})
		return nil
	})
	wg.Wait()
	if err != nil || first.CompletionTokens != 30 {
		t.Fatalf("first request: %d tokens, %v", first.CompletionTokens, err)
	}
	if !errors.Is(queuedErr, context.Canceled) || queued.CompletionTokens != 0 {
		t.Errorf("queued request of a gone client = %d tokens, %v; want 0, context.Canceled", queued.CompletionTokens, queuedErr)
	}
	after, err := m.Generate(t.Context(), Request{Prompt: "Lily", MaxTokens: 5}, nil)
	if err != nil || after.CompletionTokens == 0 {
		t.Errorf("request after = %d tokens, %v", after.CompletionTokens, err)
	}
}

// TestBatchSessionsBounded: however many requests come at once, the
// sessions (KV caches) stay within Config.Parallel.
func TestBatchSessionsBounded(t *testing.T) {
	m, err := OpenConfig(fixture.Path(t, fixture.Model), Config{Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if _, err := m.Generate(t.Context(), Request{Prompt: fmt.Sprintf("Story %d:", i), MaxTokens: 10}, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.idle) > 2 || len(m.batch.active) != 0 || len(m.batch.queue) != 0 {
		t.Errorf("after six requests with Parallel 2: %d idle sessions, %d active, %d queued", len(m.idle), len(m.batch.active), len(m.batch.queue))
	}
	if m.Info().Parallel != 2 {
		t.Errorf("Info.Parallel = %d", m.Info().Parallel)
	}
}
