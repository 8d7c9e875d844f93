package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cairnhub/cairn/inference"
)

// embedPrompts are the texts embedcheck embeds by default: words of the
// generated vocabulary, punctuation, upper case, accents, an unknown
// word and a long repeated sentence.
var embedPrompts = []string{
	"Hello world, the quick brown fox jumps over the lazy dog!",
	"A sovereign mirror: peers search text; the model embeds it.",
	"Café naïve CAIRN nodes (edge) 42 ZZQX",
	strings.Repeat("the quick brown fox jumps over the lazy dog. ", 20),
}

// embedResult is one embedding and its comparison with llama.cpp's.
type embedResult struct {
	Prompt    string    `json:"prompt"`
	Tokens    int       `json:"tokens"`
	Embedding []float32 `json:"embedding"`
}

// runEmbedCheck embeds prompts with Cairn and with llama.cpp's
// llama-embedding on the same GGUF and prints, per prompt, the cosine
// similarity and the largest absolute difference. With -golden it writes
// llama.cpp's embeddings as JSON (the testdata golden file).
func runEmbedCheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("embedcheck", flag.ContinueOnError)
	model := fs.String("m", "", "GGUF embedding model (required)")
	bin := fs.String("llama", "/work/oracles/llama.cpp/build/bin", "directory of llama.cpp's llama-embedding")
	golden := fs.String("golden", "", "write llama.cpp's embeddings to this JSON file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" {
		return fmt.Errorf("embedcheck: -m FILE is required")
	}
	prompts := embedPrompts
	if fs.NArg() > 0 {
		prompts = fs.Args()
	}
	m, err := inference.Open(*model)
	if err != nil {
		return err
	}
	defer m.Close()
	ins := make([]inference.EmbedInput, len(prompts))
	for i, p := range prompts {
		ins[i].Text = p
	}
	got, err := m.Embed(ctx, ins, inference.EmbedOptions{})
	if err != nil {
		return err
	}
	var firstTokens []int
	if m.Info().Pooling == "cls" {
		// llama.cpp at the oracle's commit pools the last token for
		// "cls" (fixed upstream in its PR 14927): compare with its
		// unpooled output's first token of each prompt instead.
		for _, e := range got {
			firstTokens = append(firstTokens, e.Tokens)
		}
	}
	ref, err := llamaEmbeddings(ctx, filepath.Join(*bin, "llama-embedding"), *model, prompts, firstTokens)
	if err != nil {
		return err
	}
	worst := 1.0
	for i, p := range prompts {
		cos, diff := compareVectors(got[i].Vector, ref[i])
		worst = min(worst, cos)
		fmt.Printf("%s %q (%d tokens): cosine %.7f, max abs diff %.2e\n", filepath.Base(*model), short(p), got[i].Tokens, cos, diff)
	}
	if *golden != "" {
		out := make([]embedResult, len(prompts))
		for i, p := range prompts {
			out[i] = embedResult{Prompt: p, Tokens: got[i].Tokens, Embedding: ref[i]}
		}
		b, _ := json.MarshalIndent(out, "", " ")
		if err := os.WriteFile(*golden, b, 0o644); err != nil {
			return err
		}
	}
	if worst < 0.9999 {
		return fmt.Errorf("embedcheck: cosine %.7f below 0.9999", worst)
	}
	return nil
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// compareVectors gives the cosine similarity and the largest absolute
// difference of a and b (cosine 0 when the lengths differ).
func compareVectors(a, b []float32) (cos, maxDiff float64) {
	if len(a) != len(b) {
		return 0, math.Inf(1)
	}
	var ab, aa, bb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		ab, aa, bb = ab+x*y, aa+x*x, bb+y*y
		maxDiff = max(maxDiff, math.Abs(x-y))
	}
	return ab / math.Sqrt(aa*bb), maxDiff
}

// llamaEmbeddings runs llama-embedding on prompts (one line each, so
// none may hold a newline) and returns its normalised embeddings. With
// counts (each prompt's tokens) it runs without pooling and returns each
// prompt's first token.
func llamaEmbeddings(ctx context.Context, bin, model string, prompts []string, counts []int) ([][]float32, error) {
	for _, p := range prompts {
		if strings.Contains(p, "\n") {
			return nil, fmt.Errorf("embedcheck: prompt %q holds a newline, llama-embedding's separator", short(p))
		}
	}
	args := []string{"-m", model, "-p", strings.Join(prompts, "\n"), "--embd-output-format", "json",
		"-t", "2", "-c", "0", "-b", "4096", "-ub", "4096"}
	if counts != nil {
		args = append(args, "--pooling", "none")
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("llama-embedding: %w: %s", err, lastLines(stderr.String(), 5))
	}
	var res struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("llama-embedding output: %w", err)
	}
	ref := make([][]float32, len(prompts))
	if counts != nil {
		at := 0
		for i, n := range counts {
			if at >= len(res.Data) {
				return nil, fmt.Errorf("llama-embedding gave %d token embeddings, fewer than the prompts' tokens", len(res.Data))
			}
			ref[i] = res.Data[at].Embedding
			at += n
		}
		return ref, nil
	}
	if len(res.Data) != len(prompts) {
		return nil, fmt.Errorf("llama-embedding gave %d embeddings for %d prompts", len(res.Data), len(prompts))
	}
	for _, d := range res.Data {
		if d.Index < 0 || d.Index >= len(ref) {
			return nil, fmt.Errorf("llama-embedding index %d out of range", d.Index)
		}
		ref[d.Index] = d.Embedding
	}
	return ref, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
