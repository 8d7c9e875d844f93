package inference

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/cairnhub/cairn/inference/chat"
	"github.com/cairnhub/cairn/internal/fixture"
)

// TestArchFilesPerplexity scores testdata/story.txt with every generated
// model of testdata/arch and checks the perplexity against
// llama-perplexity's, as the README records it ("perplexity -c 128: final
// F, first chunk P, chunks N").
func TestArchFilesPerplexity(t *testing.T) {
	readme, err := os.ReadFile(fixture.Path(t, filepath.Join("arch", "README.md")))
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(fixture.Path(t, "story.txt"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?m)^### `([^`]+)`\n(?s:.*?)^perplexity -c 128: final ([0-9.]+), first chunk ([0-9.]+), chunks ([0-9]+)")
	found := re.FindAllSubmatch(readme, -1)
	if len(found) == 0 {
		t.Fatal("testdata/arch/README.md gives no perplexity")
	}
	for _, f := range found {
		t.Run(string(f[1]), func(t *testing.T) {
			want, _ := strconv.ParseFloat(string(f[2]), 64)
			wantFirst, _ := strconv.ParseFloat(string(f[3]), 64)
			chunks, _ := strconv.Atoi(string(f[4]))
			m, err := Open(fixture.Path(t, filepath.Join("arch", string(f[1]))))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var first float64
			r, err := m.Perplexity(t.Context(), string(text), PerplexityOptions{Context: 128, Progress: func(done, _ int, ppl float64) {
				if done == 1 {
					first = ppl
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			if r.Chunks != chunks {
				t.Fatalf("%d chunks, llama-perplexity %d (the tokenizers disagree)", r.Chunks, chunks)
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"final", r.PPL, want}, {"first chunk", first, wantFirst}} {
				if d := math.Abs(c.got-c.want) / c.want; d > 0.005 {
					t.Errorf("%s perplexity %.4f, llama-perplexity %.4f (%.2f%% apart)", c.name, c.got, c.want, 100*d)
				}
			}
		})
	}
}

// TestArchFilesChat renders a conversation through each generated model's
// own Jinja template and checks that the model's turn-end token ends
// generation, as it does in llama.cpp's server.
func TestArchFilesChat(t *testing.T) {
	for _, c := range []struct {
		file, stop, prompt string
	}{
		{"qwen3-mini-f16.gguf", "<|im_end|>", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"},
		{"phi3-mini-f16.gguf", "<|end|>", "<|user|>\nhi<|end|>\n<|assistant|>\n"},
		{"gemma2-mini-f16.gguf", "<end_of_turn>", "<s><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n"},
		{"gemma3-mini-f16.gguf", "<end_of_turn>", "<s><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n"},
	} {
		t.Run(c.file, func(t *testing.T) {
			m, err := Open(fixture.Path(t, filepath.Join("arch", c.file)))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			tmpl := m.ChatTemplate()
			if why := tmpl.Fallback(); why != "" {
				t.Fatalf("the file's template is not used: %s", why)
			}
			got, err := tmpl.Render([]chat.Message{{Role: "user", Content: "hi"}}, true)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.prompt {
				t.Errorf("rendered %q, want %q", got, c.prompt)
			}
			tok := m.Tokenizer()
			id, ok := tok.ID(c.stop)
			if !ok || !tok.IsEOG(id) {
				t.Errorf("%s (id %d, found %v) does not end generation", c.stop, id, ok)
			}
			// The rendered prompt's markers are single special tokens.
			ids := m.PromptTokens(Request{Prompt: got})
			n := 0
			for _, v := range ids {
				if v == id {
					n++
				}
			}
			if n != 1 {
				t.Errorf("prompt %v holds %s %d times, want once", ids, c.stop, n)
			}
		})
	}
}
