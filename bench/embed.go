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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

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
	Tokens    []int32   `json:"tokens"`
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
	if _, err := m.Embed(ctx, ins[:1], inference.EmbedOptions{}); err != nil { // warm-up, as llama.cpp's
		return err
	}
	t0 := time.Now()
	got, err := m.Embed(ctx, ins, inference.EmbedOptions{})
	if err != nil {
		return err
	}
	took := time.Since(t0)
	var firstTokens []int
	if m.Info().Pooling == "cls" {
		// llama.cpp at the oracle's commit pools the last token for
		// "cls" (fixed upstream in its PR 14927): compare with its
		// unpooled output's first token of each prompt instead.
		for _, e := range got {
			firstTokens = append(firstTokens, e.Tokens)
		}
	}
	ref, refTokens, refSpeed, err := llamaEmbeddings(ctx, filepath.Join(*bin, "llama-embedding"), *model, prompts, firstTokens)
	if err != nil {
		return err
	}
	worst := 1.0
	for i, p := range prompts {
		cos, diff := compareVectors(got[i].Vector, ref[i])
		worst = min(worst, cos)
		fmt.Printf("%s %q (%d tokens): cosine %.7f, max abs diff %.2e\n", filepath.Base(*model), short(p), got[i].Tokens, cos, diff)
		if ours := m.EmbedTokens(p); !slices.Equal(ours, refTokens[i]) {
			return fmt.Errorf("embedcheck: %q tokenizes to %v, llama.cpp %v", short(p), ours, refTokens[i])
		}
	}
	var n int
	for _, e := range got {
		n += e.Tokens
	}
	fmt.Printf("%s: %d tokens, Cairn %.0f tokens/s (one input after another, GOMAXPROCS %d), llama.cpp %.0f tokens/s (prompt eval, all inputs in one batch, -t 2)\n",
		filepath.Base(*model), n, float64(n)/took.Seconds(), runtime.GOMAXPROCS(0), refSpeed)
	if *golden != "" {
		out := make([]embedResult, len(prompts))
		for i, p := range prompts {
			out[i] = embedResult{Prompt: p, Tokens: refTokens[i], Embedding: ref[i]}
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
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
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

// embedSeparator separates the prompts given to llama-embedding, so that
// prompts may hold newlines.
const embedSeparator = "<#cairn-sep#>"

// llamaEmbeddings runs llama-embedding on prompts and returns its normalised embeddings. With
// counts (each prompt's tokens) it runs without pooling and returns each
// prompt's first token. It also returns the token ids llama.cpp fed and
// its prompt-eval tokens/s.
func llamaEmbeddings(ctx context.Context, bin, model string, prompts []string, counts []int) (ref [][]float32, toks [][]int32, speed float64, err error) {
	for _, p := range prompts {
		if strings.Contains(p, embedSeparator) {
			return nil, nil, 0, fmt.Errorf("embedcheck: prompt %q holds %q, the separator given to llama-embedding", short(p), embedSeparator)
		}
	}
	args := []string{"-m", model, "-p", strings.Join(prompts, embedSeparator), "--embd-separator", embedSeparator, "--embd-output-format", "json",
		"-t", "2", "-c", "0", "-b", "4096", "-ub", "4096", "--verbose-prompt"}
	if counts != nil {
		args = append(args, "--pooling", "none")
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("llama-embedding: %w: %s", err, lastLines(stderr.String(), 5))
	}
	// --verbose-prompt lists the tokens on stdout before the JSON.
	js := bytes.Index(out, []byte("\n{"))
	if js < 0 {
		return nil, nil, 0, fmt.Errorf("llama-embedding printed no JSON")
	}
	toks = promptTokens(string(out[:js]))
	speed = promptEvalSpeed(stderr.String())
	out = out[js:]
	if len(toks) != len(prompts) {
		return nil, nil, 0, fmt.Errorf("llama-embedding listed the tokens of %d prompts, want %d", len(toks), len(prompts))
	}
	var res struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, nil, 0, fmt.Errorf("llama-embedding output: %w", err)
	}
	ref = make([][]float32, len(prompts))
	if counts != nil {
		at := 0
		for i, n := range counts {
			if at >= len(res.Data) {
				return nil, nil, 0, fmt.Errorf("llama-embedding gave %d token embeddings, fewer than the prompts' tokens", len(res.Data))
			}
			ref[i] = res.Data[at].Embedding
			at += n
		}
		return ref, toks, speed, nil
	}
	if len(res.Data) != len(prompts) {
		return nil, nil, 0, fmt.Errorf("llama-embedding gave %d embeddings for %d prompts", len(res.Data), len(prompts))
	}
	for _, d := range res.Data {
		if d.Index < 0 || d.Index >= len(ref) {
			return nil, nil, 0, fmt.Errorf("llama-embedding index %d out of range", d.Index)
		}
		ref[d.Index] = d.Embedding
	}
	return ref, toks, speed, nil
}

// promptEvalSpeed reads llama.cpp's "prompt eval time = … tokens per
// second)" line; 0 when absent.
func promptEvalSpeed(stderr string) float64 {
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.Contains(line, "prompt eval time") {
			continue
		}
		_, rest, ok := strings.Cut(line, "ms per token,")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) > 0 {
			v, _ := strconv.ParseFloat(f[0], 64)
			return v
		}
	}
	return 0
}

// promptTokens reads the token ids --verbose-prompt lists on stdout
// ("   101 -> '[CLS]'"), one block of lines per prompt.
func promptTokens(text string) [][]int32 {
	var out [][]int32
	open := false
	for _, line := range strings.Split(text, "\n") {
		id, _, ok := strings.Cut(strings.TrimSpace(line), " -> '")
		n, err := strconv.Atoi(id)
		if !ok || err != nil {
			open = false
			continue
		}
		if !open {
			out = append(out, nil)
			open = true
		}
		out[len(out)-1] = append(out[len(out)-1], int32(n))
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
