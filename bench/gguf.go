package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/tensor"
)

// ggufShapes are the shapes `bench gguf -shape` knows. tiny has widths
// that are not multiples of 256, as most small models (Qwen2.5-0.5B: 896),
// so llama-quantize gives its K-quant files fallback tensors.
var ggufShapes = map[string]llama.Shape{
	"tiny":      {Dim: 320, Layers: 4, Heads: 10, KVHeads: 2, FFNDim: 864, Vocab: 1024, ContextLength: 512, RopeBase: 10000},
	"tinyllama": llama.TinyLlama,
	// mini is small enough to keep in testdata/arch (about 1 MB in F16).
	"mini": {Dim: 128, Layers: 2, Heads: 4, KVHeads: 2, FFNDim: 352, Vocab: 512, ContextLength: 256, RopeBase: 10000},
	// minilm is all-MiniLM-L6-v2's shape, for embedding figures (-arch bert).
	"minilm": {Dim: 384, Layers: 6, Heads: 12, KVHeads: 12, FFNDim: 1536, Vocab: 30522, ContextLength: 512},
}

// runGGUF writes a random-weight GGUF of an architecture the engine runs,
// for checks against llama.cpp (quantise it with llama-quantize, run it
// with llama-perplexity) and for benchmarks.
func runGGUF(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("gguf", flag.ContinueOnError)
	arch := fs.String("arch", "llama", "architecture: llama, qwen2, qwen3, phi3, gemma2, gemma3, or the embedding models bert and nomic-bert")
	pooling := fs.String("pooling", "mean", "bert, nomic-bert: pooling_type written, mean, cls or last")
	vocab := fs.String("vocab", "", "bert, nomic-bert: a Hugging Face tokenizer.json or vocab.txt whose WordPiece vocabulary replaces the synthetic one")
	typ := fs.String("type", "F32", "weight type: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, …")
	shape := fs.String("shape", "tiny", "tiny, mini, tinyllama or minilm")
	seed := fs.Uint64("seed", 1, "weights seed")
	yarn := fs.Float64("yarn", 0, "YaRN RoPE scaling factor (0: none); the original context is a quarter of the shape's")
	out := fs.String("o", "", "output file (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("gguf: -o FILE is required")
	}
	var err error
	sh, ok := ggufShapes[*shape]
	if !ok {
		return fmt.Errorf("gguf: shape %q: want tiny, mini, tinyllama or minilm", *shape)
	}
	sh = archShape(sh, *arch)
	sh.RopeYarnFactor = float32(*yarn)
	if sh.Pooling, err = poolingByName(*pooling); err != nil {
		return err
	}
	if *vocab != "" {
		if sh.WordPiece, err = readWordPiece(*vocab); err != nil {
			return err
		}
		sh.Vocab = len(sh.WordPiece)
	}
	t, err := typeByName(*typ)
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 4<<20)
	if err := llama.WriteRandomModel(w, sh, t, *seed); err != nil {
		f.Close()
		os.Remove(*out)
		return fmt.Errorf("gguf: %w", err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("%s: %s %s, %d layers, dim %d, %s weights\n", *out, sh.Arch, *shape, sh.Layers, sh.Dim, t)
	return nil
}

func typeByName(name string) (tensor.Type, error) {
	for t := tensor.Type(0); t < 64; t++ {
		if strings.EqualFold(t.String(), name) {
			if !t.Supported() {
				return 0, fmt.Errorf("gguf: type %s is not one the engine runs", name)
			}
			return t, nil
		}
	}
	return 0, fmt.Errorf("gguf: unknown type %q", name)
}

// archShape sets arch on sh with the settings that make a small random
// model of it exercise what the architecture adds.
func archShape(sh llama.Shape, arch string) llama.Shape {
	sh.Arch = arch
	switch sh.Arch {
	case "qwen2":
		sh.Tokenizer = "gpt2"
	case "qwen3":
		// Qwen3 heads are wider than Dim/Heads.
		sh.Tokenizer = "gpt2"
		sh.HeadDim = 2 * sh.Dim / sh.Heads
		// Real Qwen3 files tie embeddings; the generated one does not, as
		// greedy output through a tied random model repeats one token.
	case "phi3":
		// Phi-4-mini rotates 3/4 of each head and carries longrope factors.
		sh.RopeDims = sh.Dim / sh.Heads * 3 / 4 &^ 1
		sh.LongRope = true
		sh.OrigContext = sh.ContextLength * 3 / 8
	case "gemma2", "gemma3":
		// Gemma heads are wider than Dim/Heads; the window is small so
		// short sequences already slide. gemma2's caps are lower than
		// the real 50 and 30 so that they bite on random weights.
		sh.HeadDim = 2 * sh.Dim / sh.Heads
		sh.SlidingWindow = 32
		if sh.Arch == "gemma2" {
			sh.AttnSoftCap, sh.FinalSoftCap = 5, 10
		} else {
			// gemma3: global layers use a large base and linear scaling,
			// sliding ones llama.cpp's fixed 10000.
			sh.RopeBase, sh.RopeLinearFactor = 1e6, 8
			// Five of every six layers slide: six give one global layer.
			sh.Layers = max(sh.Layers, 6)
		}
	}
	return sh
}

func poolingByName(name string) (llama.Pooling, error) {
	for _, p := range []llama.Pooling{llama.PoolMean, llama.PoolCLS, llama.PoolLast} {
		if p.String() == name {
			return p, nil
		}
	}
	return 0, fmt.Errorf("gguf: pooling %q: want mean, cls or last", name)
}

// readWordPiece reads a WordPiece vocabulary, in id order, from a Hugging
// Face tokenizer.json (model.vocab) or a vocab.txt (one token a line), and
// converts it as llama.cpp's converter does.
func readWordPiece(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tj struct {
		Model struct {
			Vocab map[string]int `json:"vocab"`
		} `json:"model"`
	}
	var vocab []string
	if json.Unmarshal(b, &tj) == nil && len(tj.Model.Vocab) > 0 {
		vocab = make([]string, len(tj.Model.Vocab))
		for t, id := range tj.Model.Vocab {
			if id < 0 || id >= len(vocab) || vocab[id] != "" {
				return nil, fmt.Errorf("gguf: %s: token id %d out of order", path, id)
			}
			vocab[id] = t
		}
	} else {
		vocab = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	}
	return llama.BertVocab(vocab), nil
}
