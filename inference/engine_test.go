package inference

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cairnhub/cairn/inference/chat"
	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/sample"
	"github.com/cairnhub/cairn/inference/tensor"
	"github.com/cairnhub/cairn/internal/fixture"
)

type oracle struct {
	prompt, gen []int32
	text        string
}

func readOracle(t *testing.T) oracle {
	t.Helper()
	b, err := os.ReadFile(fixture.Path(t, fixture.Expected))
	if err != nil {
		t.Fatal(err)
	}
	ids := func(label string) []int32 {
		mm := regexp.MustCompile(`(?m)^# ` + regexp.QuoteMeta(label) + `.*\n?(?:# )?\[([0-9, ]+)\]`).FindSubmatch(b)
		if mm == nil {
			t.Fatalf("no %q line in the expected file", label)
		}
		var out []int32
		for _, f := range strings.Split(string(mm[1]), ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, int32(v))
		}
		return out
	}
	const marker = "=== OUTPUT ===\n"
	i := bytes.Index(b, []byte(marker))
	if i < 0 {
		t.Fatal("no output marker in the expected file")
	}
	return oracle{ids("Prompt token ids"), ids("Generated token ids"), strings.TrimRight(string(b[i+len(marker):]), "\n")}
}

func openFixture(t *testing.T) *Model {
	t.Helper()
	path := fixture.Path(t, fixture.Model)
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestFixtureMatchesLlamaCpp: greedy generation from stories260K equals
// llama.cpp's, ids and text.
func TestFixtureMatchesLlamaCpp(t *testing.T) {
	want := readOracle(t)
	m := openFixture(t)
	if got := m.PromptTokens(Request{Prompt: "Once upon a time"}); !reflect.DeepEqual(got, want.prompt) {
		t.Fatalf("prompt ids = %v, want %v", got, want.prompt)
	}
	var streamed strings.Builder
	res, err := m.Generate(t.Context(), Request{Prompt: "Once upon a time", MaxTokens: len(want.gen)}, func(p string) error {
		streamed.WriteString(p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Tokens, want.gen) {
		t.Errorf("generated ids = %v\nwant %v", res.Tokens, want.gen)
	}
	if got := m.Tokenizer().Decode(want.prompt) + res.Text; got != want.text {
		t.Errorf("text = %q\nwant %q", got, want.text)
	}
	if streamed.String() != res.Text {
		t.Errorf("streamed %q, result %q", streamed.String(), res.Text)
	}
	if res.PromptTokens != 5 || res.CompletionTokens != 64 || res.FinishReason != FinishLength {
		t.Errorf("result = %d prompt, %d completion, %q; want 5, 64, length", res.PromptTokens, res.CompletionTokens, res.FinishReason)
	}
	if res.PrefillTokensPerS <= 0 || res.DecodeTokensPerS <= 0 {
		t.Errorf("speeds = %v, %v; want positive", res.PrefillTokensPerS, res.DecodeTokensPerS)
	}
	info := m.Info()
	if info.Arch != "llama" || info.VocabSize != 512 || info.ContextLength != 128 || info.FileType != "F32" || info.BOS != "<s>" ||
		info.Layers != 5 || info.EmbeddingLength != 64 || info.Heads != 8 || info.KVHeads != 4 || info.NumParams < 250_000 || info.NumParams > 300_000 {
		t.Errorf("Info = %+v", info)
	}

	// Same request again: the cached prompt prefix is reused, same output.
	res2, err := m.Generate(t.Context(), Request{Prompt: "Once upon a time", MaxTokens: len(want.gen)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res2.CachedTokens != 4 || res2.Text != res.Text {
		t.Errorf("second run: cached %d tokens (want 4), text equal = %v", res2.CachedTokens, res2.Text == res.Text)
	}
}

func TestFixtureStopAndLimits(t *testing.T) {
	want := readOracle(t)
	m := openFixture(t)
	full := strings.TrimPrefix(want.text, m.Tokenizer().Decode(want.prompt))
	tests := []struct {
		name   string
		stop   []string
		text   string
		reason string
	}{
		{"stop word", []string{"Lily"}, full[:strings.Index(full, "Lily")], FinishStop},
		{"earliest of two", []string{"ball", "park"}, full[:strings.Index(full, "park")], FinishStop},
		{"stop across tokens", []string{"e was a l"}, full[:strings.Index(full, "e was a l")], FinishStop},
		{"newline", []string{"\n"}, full[:strings.Index(full, "\n")], FinishStop},
		{"absent", []string{"dragon", "zz"}, full, FinishLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var streamed strings.Builder
			res, err := m.Generate(t.Context(), Request{Prompt: "Once upon a time", MaxTokens: 64, Stop: tc.stop}, func(p string) error {
				streamed.WriteString(p)
				for _, s := range tc.stop {
					if strings.Contains(streamed.String(), s) {
						t.Errorf("emitted text %q contains stop string %q", streamed.String(), s)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != tc.text || res.FinishReason != tc.reason {
				t.Errorf("Generate = %q (%s), want %q (%s)", res.Text, res.FinishReason, tc.text, tc.reason)
			}
			if streamed.String() != res.Text {
				t.Errorf("streamed %q, result %q", streamed.String(), res.Text)
			}
		})
	}

	t.Run("max tokens", func(t *testing.T) {
		res, err := m.Generate(t.Context(), Request{Tokens: want.prompt, MaxTokens: 3}, nil)
		if err != nil || res.CompletionTokens != 3 || !reflect.DeepEqual(res.Tokens, want.gen[:3]) || res.FinishReason != FinishLength {
			t.Errorf("Generate = %+v, %v; want 3 tokens %v", res, err, want.gen[:3])
		}
	})
	t.Run("context full", func(t *testing.T) {
		res, err := m.Generate(t.Context(), Request{Tokens: want.prompt}, nil)
		if err != nil || res.PromptTokens+res.CompletionTokens != 128 || res.FinishReason != FinishLength {
			t.Errorf("Generate = %d+%d tokens (%s), %v; want 128 in all, length", res.PromptTokens, res.CompletionTokens, res.FinishReason, err)
		}
	})
	t.Run("prompt too long", func(t *testing.T) {
		long := make([]int32, 128)
		for i := range long {
			long[i] = 300
		}
		_, err := m.Generate(t.Context(), Request{Tokens: long}, nil)
		if !errors.Is(err, ErrContextLength) {
			t.Errorf("Generate(128-token prompt) error = %v, want ErrContextLength", err)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		if _, err := m.Generate(t.Context(), Request{Tokens: []int32{1, 512}}, nil); err == nil {
			t.Errorf("Generate(out-of-vocabulary id) = nil error")
		}
	})
	t.Run("bad params", func(t *testing.T) {
		if _, err := m.Generate(t.Context(), Request{Prompt: "x", Params: sample.Params{TopP: 2}}, nil); err == nil {
			t.Errorf("Generate(top_p 2) = nil error")
		}
	})
	t.Run("emit error", func(t *testing.T) {
		boom := errors.New("client gone")
		res, err := m.Generate(t.Context(), Request{Prompt: "Once upon a time", MaxTokens: 20}, func(string) error { return boom })
		if !errors.Is(err, boom) || res.CompletionTokens != 1 {
			t.Errorf("Generate with failing emit = %d tokens, %v; want 1, %v", res.CompletionTokens, err, boom)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		res, err := m.Generate(ctx, Request{Prompt: "Once upon a time", MaxTokens: 50}, func(string) error {
			if n++; n == 2 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || res.CompletionTokens >= 50 {
			t.Errorf("cancelled Generate = %d tokens, %v", res.CompletionTokens, err)
		}
	})
	t.Run("after errors still exact", func(t *testing.T) {
		res, err := m.Generate(t.Context(), Request{Tokens: want.prompt, MaxTokens: 64}, nil)
		if err != nil || !reflect.DeepEqual(res.Tokens, want.gen) {
			t.Errorf("Generate = %v, %v; want %v", res.Tokens, err, want.gen)
		}
	})
}

func TestFixtureConcurrentSessions(t *testing.T) {
	want := readOracle(t)
	m := openFixture(t)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := m.Generate(t.Context(), Request{Tokens: want.prompt, MaxTokens: 64}, nil)
			if err != nil || !reflect.DeepEqual(res.Tokens, want.gen) {
				errs <- "concurrent Generate diverged"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestRandomModels loads generated llama and qwen2 models through the
// engine (reader, tokenizer config, sessions) in every weight type.
func TestRandomModels(t *testing.T) {
	for _, arch := range []string{"llama", "qwen2"} {
		for _, typ := range []tensor.Type{tensor.F32, tensor.F16, tensor.Q8_0, tensor.Q4_0} {
			t.Run(arch+"/"+typ.String(), func(t *testing.T) {
				shape := llama.Shape{Arch: arch, Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 128, Vocab: 400, ContextLength: 48}
				path := filepath.Join(t.TempDir(), "m.gguf")
				fd, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := llama.WriteRandomModel(fd, shape, typ, 3); err != nil {
					t.Fatal(err)
				}
				fd.Close()
				m, err := Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				info := m.Info()
				if info.Arch != arch || info.FileType != typ.String() || info.ContextLength != 48 || info.VocabSize != 400 {
					t.Errorf("Info = %+v", info)
				}
				b, _ := os.ReadFile(path)
				m2, err := Load(bytes.NewReader(b), int64(len(b)))
				if err != nil {
					t.Fatal(err)
				}
				req := Request{Prompt: "tea at noon", MaxTokens: 20, Params: sample.Params{Temperature: 0.8, TopK: 40, Seed: 9}, IgnoreEOS: true}
				r1, err := m.Generate(t.Context(), req, nil)
				if err != nil {
					t.Fatal(err)
				}
				r2, err := m2.NewSession().Generate(t.Context(), req, nil)
				if err != nil {
					t.Fatal(err)
				}
				if r1.CompletionTokens != 20 || !reflect.DeepEqual(r1.Tokens, r2.Tokens) {
					t.Errorf("mmap and ReaderAt loads differ: %v vs %v", r1.Tokens, r2.Tokens)
				}
				for _, mode := range []string{WeightsMmap, WeightsResident} {
					mm, err := OpenConfig(path, Config{Weights: mode})
					if err != nil {
						t.Fatalf("OpenConfig(%s): %v", mode, err)
					}
					r, err := mm.Generate(t.Context(), req, nil)
					mm.Close()
					if err != nil || !reflect.DeepEqual(r.Tokens, r1.Tokens) {
						t.Errorf("weights %s: tokens %v, %v; want %v", mode, r.Tokens, err, r1.Tokens)
					}
				}
				m3, err := LoadConfig(bytes.NewReader(b), int64(len(b)), Config{Weights: WeightsMmap})
				if err != nil {
					t.Fatal(err)
				}
				if r, err := m3.Generate(t.Context(), req, nil); err != nil || !reflect.DeepEqual(r.Tokens, r1.Tokens) {
					t.Errorf("LoadConfig(mmap): tokens %v, %v; want %v", r.Tokens, err, r1.Tokens)
				}
				if _, err := OpenConfig(path, Config{Weights: "swap"}); err == nil {
					t.Errorf("OpenConfig(weights swap) = nil error")
				}
				if _, err := OpenConfig(path, Config{ContextLength: 49}); err == nil {
					t.Errorf("OpenConfig(context 49 > trained 48) = nil error")
				}
			})
		}
	}
}

func TestCloseWaitsForGeneration(t *testing.T) {
	path := fixture.Path(t, fixture.Model)
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var once sync.Once
		_, err := m.Generate(t.Context(), Request{Prompt: "Once upon a time", MaxTokens: 100}, func(string) error {
			once.Do(func() { close(started) })
			return nil
		})
		done <- err
	}()
	<-started
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("generation running during Close: %v", err)
	}
	if _, err := m.Generate(t.Context(), Request{Prompt: "x"}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Generate after Close = %v, want ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.gguf")
	os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00garbage"), 0o644)
	for _, path := range []string{filepath.Join(dir, "missing.gguf"), bad} {
		if _, err := Open(path); err == nil {
			t.Errorf("Open(%s) = nil error", path)
		}
	}
}

func TestPromptTokensSingleBOS(t *testing.T) {
	m := openFixture(t)
	got := m.PromptTokens(Request{Prompt: "<s>Once upon a time"})
	if len(got) < 2 || got[0] != 1 || got[1] == 1 {
		t.Errorf("PromptTokens(<s>...) = %v, want one leading BOS", got)
	}
}

// TestChatQwen2BPE runs a generated qwen2 model with a byte-level BPE
// vocabulary and a ChatML template through chat rendering and generation.
func TestChatQwen2BPE(t *testing.T) {
	shape := llama.Shape{Arch: "qwen2", Dim: 64, Layers: 1, Heads: 4, KVHeads: 2, FFNDim: 128, Vocab: 500, ContextLength: 64, Tokenizer: "gpt2"}
	var buf bytes.Buffer
	if err := llama.WriteRandomModel(&buf, shape, tensor.Q8_0, 5); err != nil {
		t.Fatal(err)
	}
	m, err := Load(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if m.ChatTemplate().Fallback() != "" {
		t.Errorf("chat template not used: %s", m.ChatTemplate().Fallback())
	}
	prompt, err := m.ChatTemplate().Render([]chat.Message{{Role: "user", Content: "the cat sat"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := "<|im_start|>user\nthe cat sat<|im_end|>\n<|im_start|>assistant\n"; prompt != want {
		t.Errorf("rendered %q, want %q", prompt, want)
	}
	ids := m.PromptTokens(Request{Prompt: prompt})
	tok := m.Tokenizer()
	start, _ := tok.ID("<|im_start|>")
	if len(ids) == 0 || ids[0] != start {
		t.Errorf("prompt ids %v do not start with <|im_start|> (%d)", ids, start)
	}
	n := 0
	for _, id := range ids {
		if id == start {
			n++
		}
	}
	if n != 2 {
		t.Errorf("prompt ids %v hold <|im_start|> %d times, want 2", ids, n)
	}
	res, err := m.Generate(t.Context(), Request{Prompt: prompt, MaxTokens: 10, IgnoreEOS: true}, nil)
	if err != nil || res.CompletionTokens != 10 {
		t.Errorf("Generate = %d tokens, %v", res.CompletionTokens, err)
	}
	if info := m.Info(); info.EOS != "<|im_end|>" || info.ChatTemplate != llama.ChatMLTemplate {
		t.Errorf("Info EOS = %q, template = %q", info.EOS, info.ChatTemplate)
	}
}

// TestIdleSessionPrefix: with two idle sessions, a request continuing either
// conversation reuses that conversation's cache.
func TestIdleSessionPrefix(t *testing.T) {
	path := fixture.Path(t, fixture.Model)
	m, err := OpenConfig(path, Config{IdleSessions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Two sessions in flight at once, so both end up idle.
	s1, s2 := m.NewSession(), m.NewSession()
	a := Request{Prompt: "Once upon a time", MaxTokens: 8}
	b := Request{Prompt: "The dog ran", MaxTokens: 8}
	ra, err := s1.Generate(t.Context(), a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Generate(t.Context(), b, nil); err != nil {
		t.Fatal(err)
	}
	m.idle = append(m.idle, s1, s2)
	for _, tc := range []struct {
		prompt string
		cached int
	}{
		{"Once upon a time" + ra.Text + " The end", len(m.PromptTokens(a)) + 7},
		{"The dog ran away", 3},
	} {
		res, err := m.Generate(t.Context(), Request{Prompt: tc.prompt, MaxTokens: 2}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.CachedTokens < tc.cached-1 {
			t.Errorf("Generate(%q): %d cached tokens, want about %d", tc.prompt, res.CachedTokens, tc.cached)
		}
	}
}
